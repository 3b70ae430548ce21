/// The OpenAPI 3 description of the REST API, served at `GET /openapi.yaml`.
///
/// A test checks that every route the router registers appears here and the reverse,
/// and validates the document with openapi-spec-validator.
enum OpenAPIDocument {
    static let yaml = #"""
    openapi: 3.0.3
    info:
      title: webchat REST API
      version: "1.0"
      description: >
        Accounts, profiles, the call log, message history and groups. Real-time events
        (messages, receipts, typing, presence) travel over Socket.IO; see docs/PROTOCOL.md.
        Errors are {"error":{"code","message"}} with the matching status.
    servers:
      - url: /api/v1
    security:
      - bearer: []
    paths:
      /limits:
        get:
          summary: This server's input limits, for clients to check input before sending it (lengths in code points)
          security: []
          responses:
            "200": {description: Limits, content: {application/json: {schema: {$ref: '#/components/schemas/Limits'}}}}
      /users:
        post:
          summary: Register a user and sign in
          security: []
          requestBody:
            required: true
            content:
              application/json:
                schema: {$ref: '#/components/schemas/Registration'}
          responses:
            "201": {description: Registered, content: {application/json: {schema: {$ref: '#/components/schemas/Session'}}}}
            "400": {$ref: '#/components/responses/Error'}
            "413": {$ref: '#/components/responses/Error'}
            "403": {$ref: '#/components/responses/Error'}
            "409": {$ref: '#/components/responses/Error'}
            "429": {$ref: '#/components/responses/Error'}
            "503": {$ref: '#/components/responses/Error'}
        get:
          summary: Search users by id prefix
          parameters:
            - {name: prefix, in: query, schema: {type: string, maxLength: 32}}
            - {name: limit, in: query, schema: {type: integer, minimum: 1, maximum: 100, default: 20}}
          responses:
            "200":
              description: Matching users
              content:
                application/json:
                  schema:
                    type: object
                    required: [users]
                    properties:
                      users: {type: array, items: {$ref: '#/components/schemas/Profile'}}
            "400": {$ref: '#/components/responses/Error'}
            "413": {$ref: '#/components/responses/Error'}
            "401": {$ref: '#/components/responses/Error'}
            "503": {$ref: '#/components/responses/Error'}
      /users/{id}:
        get:
          summary: A user's profile and presence
          parameters:
            - {name: id, in: path, required: true, schema: {type: string}}
          responses:
            "200": {description: Profile, content: {application/json: {schema: {$ref: '#/components/schemas/Profile'}}}}
            "401": {$ref: '#/components/responses/Error'}
            "404": {$ref: '#/components/responses/Error'}
            "503": {$ref: '#/components/responses/Error'}
      /sessions:
        post:
          summary: Sign in (in open auth mode the password is not needed and the user is created)
          security: []
          requestBody:
            required: true
            content:
              application/json:
                schema:
                  type: object
                  required: [id]
                  properties:
                    id: {type: string}
                    password: {type: string}
          responses:
            "200": {description: Signed in, content: {application/json: {schema: {$ref: '#/components/schemas/Session'}}}}
            "400": {$ref: '#/components/responses/Error'}
            "413": {$ref: '#/components/responses/Error'}
            "401": {$ref: '#/components/responses/Error'}
            "403": {$ref: '#/components/responses/Error'}
            "429": {$ref: '#/components/responses/Error'}
            "503": {$ref: '#/components/responses/Error'}
      /sessions/current:
        delete:
          summary: Sign out (revokes the token used)
          responses:
            "204": {description: Revoked}
            "401": {$ref: '#/components/responses/Error'}
            "503": {$ref: '#/components/responses/Error'}
      /me:
        get:
          summary: Own profile
          responses:
            "200": {description: Profile, content: {application/json: {schema: {$ref: '#/components/schemas/Profile'}}}}
            "401": {$ref: '#/components/responses/Error'}
            "503": {$ref: '#/components/responses/Error'}
        patch:
          summary: Change own display name
          requestBody:
            required: true
            content:
              application/json:
                schema:
                  type: object
                  required: [name]
                  properties:
                    name: {type: string, minLength: 1, maxLength: 64}
          responses:
            "200": {description: Profile, content: {application/json: {schema: {$ref: '#/components/schemas/Profile'}}}}
            "400": {$ref: '#/components/responses/Error'}
            "413": {$ref: '#/components/responses/Error'}
            "401": {$ref: '#/components/responses/Error'}
            "503": {$ref: '#/components/responses/Error'}
      /conversations:
        get:
          summary: The call log, newest first
          responses:
            "200":
              description: Conversations
              content:
                application/json:
                  schema:
                    type: object
                    required: [conversations]
                    properties:
                      conversations: {type: array, items: {$ref: '#/components/schemas/Conversation'}}
            "401": {$ref: '#/components/responses/Error'}
            "503": {$ref: '#/components/responses/Error'}
      /conversations/{id}/messages:
        get:
          summary: Message history, ascending by position; 404 unless a participant
          parameters:
            - {name: id, in: path, required: true, schema: {type: string}}
            - {name: before, in: query, schema: {type: integer, minimum: 1}}
            - {name: limit, in: query, schema: {type: integer, minimum: 1, maximum: 100, default: 50}}
          responses:
            "200":
              description: A page of history
              content:
                application/json:
                  schema:
                    type: object
                    required: [messages, hasMore]
                    properties:
                      messages: {type: array, items: {$ref: '#/components/schemas/HistoryMessage'}}
                      hasMore: {type: boolean}
            "400": {$ref: '#/components/responses/Error'}
            "413": {$ref: '#/components/responses/Error'}
            "401": {$ref: '#/components/responses/Error'}
            "404": {$ref: '#/components/responses/Error'}
            "503": {$ref: '#/components/responses/Error'}
      /groups:
        post:
          summary: Create a group (the caller is its owner and first member)
          requestBody:
            required: true
            content:
              application/json:
                schema:
                  type: object
                  required: [name]
                  properties:
                    name: {type: string, minLength: 1, maxLength: 64}
                    members: {type: array, items: {type: string}}
          responses:
            "201": {description: Created, content: {application/json: {schema: {$ref: '#/components/schemas/Group'}}}}
            "400": {$ref: '#/components/responses/Error'}
            "413": {$ref: '#/components/responses/Error'}
            "401": {$ref: '#/components/responses/Error'}
            "404": {$ref: '#/components/responses/Error'}
            "503": {$ref: '#/components/responses/Error'}
      /groups/{id}:
        get:
          summary: A group; 404 unless a member
          parameters:
            - {name: id, in: path, required: true, schema: {type: string}}
          responses:
            "200": {description: Group, content: {application/json: {schema: {$ref: '#/components/schemas/Group'}}}}
            "401": {$ref: '#/components/responses/Error'}
            "404": {$ref: '#/components/responses/Error'}
            "503": {$ref: '#/components/responses/Error'}
      /groups/{id}/members:
        post:
          summary: Invite users (members only)
          parameters:
            - {name: id, in: path, required: true, schema: {type: string}}
          requestBody:
            required: true
            content:
              application/json:
                schema:
                  type: object
                  required: [members]
                  properties:
                    members: {type: array, items: {type: string}}
          responses:
            "200": {description: Group, content: {application/json: {schema: {$ref: '#/components/schemas/Group'}}}}
            "400": {$ref: '#/components/responses/Error'}
            "413": {$ref: '#/components/responses/Error'}
            "401": {$ref: '#/components/responses/Error'}
            "403": {$ref: '#/components/responses/Error'}
            "404": {$ref: '#/components/responses/Error'}
            "503": {$ref: '#/components/responses/Error'}
      /groups/{id}/members/{user}:
        delete:
          summary: Leave (user is the caller) or remove a member (owner only)
          parameters:
            - {name: id, in: path, required: true, schema: {type: string}}
            - {name: user, in: path, required: true, schema: {type: string}}
          responses:
            "204": {description: Removed}
            "401": {$ref: '#/components/responses/Error'}
            "403": {$ref: '#/components/responses/Error'}
            "404": {$ref: '#/components/responses/Error'}
            "503": {$ref: '#/components/responses/Error'}
    components:
      securitySchemes:
        bearer: {type: http, scheme: bearer}
      responses:
        Error:
          description: An error
          content:
            application/json:
              schema:
                type: object
                required: [error]
                properties:
                  error:
                    type: object
                    required: [code, message]
                    properties:
                      code: {type: string, enum: [bad_request, unauthorized, forbidden, not_found, conflict, too_large, rate_limited, unavailable, internal]}
                      message: {type: string}
      schemas:
        Limits:
          type: object
          required: [maxMessageChars, maxGroupMembers, maxGroupNameChars, maxNameChars, maxReadIds]
          properties:
            maxMessageChars: {type: integer, minimum: 1, description: longest message body (--max-message-chars)}
            maxGroupMembers: {type: integer, minimum: 2, description: 'most members of a group, its owner included (--max-group-members)'}
            maxGroupNameChars: {type: integer, minimum: 1, description: longest group name}
            maxNameChars: {type: integer, minimum: 1, description: longest display name}
            maxReadIds: {type: integer, minimum: 1, description: most message ids in one read}
        Registration:
          type: object
          required: [id]
          properties:
            id: {type: string, pattern: '^[a-z0-9][a-z0-9_.-]{1,31}$'}
            name: {type: string, minLength: 1, maxLength: 64, description: the display name; the id when absent}
            password: {type: string, minLength: 8, description: required unless the server runs with --auth open}
        User:
          type: object
          required: [id, name]
          properties:
            id: {type: string}
            name: {type: string}
        Session:
          type: object
          required: [user, token]
          properties:
            user: {$ref: '#/components/schemas/User'}
            token: {type: string}
        Profile:
          type: object
          required: [id, name, online]
          properties:
            id: {type: string}
            name: {type: string}
            online: {type: boolean}
            lastSeen: {type: integer, description: ms since the epoch}
        Message:
          type: object
          required: [id, conversation, from, body, ts, pos]
          properties:
            id: {type: string}
            conversation: {type: string}
            from: {type: string}
            to: {type: string}
            group: {type: string}
            body: {type: string}
            ts: {type: integer}
            pos: {type: integer}
        HistoryMessage:
          allOf:
            - {$ref: '#/components/schemas/Message'}
            - type: object
              required: [delivered, read]
              properties:
                delivered: {type: array, items: {type: string}}
                read: {type: array, items: {type: string}}
        Conversation:
          type: object
          required: [id, kind, title, unread, updatedAt]
          properties:
            id: {type: string}
            kind: {type: string, enum: [dm, group]}
            title: {type: string}
            peer: {type: string}
            group: {type: string}
            last: {$ref: '#/components/schemas/Message'}
            unread: {type: integer}
            updatedAt: {type: integer}
        Group:
          type: object
          required: [id, name, owner, members]
          properties:
            id: {type: string}
            name: {type: string}
            owner: {type: string}
            members: {type: array, items: {type: string}}
    """#
}
