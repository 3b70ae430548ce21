import ChatCore
import Hummingbird

/// `POST /groups`, `GET /groups/{id}`, `POST /groups/{id}/members`, `DELETE /groups/{id}/members/{user}`.
struct GroupController {
    let chat: ChatService

    struct Creation: Decodable {
        let name: String
        let members: [String]?
    }

    struct Invitation: Decodable {
        let members: [String]
    }

    func addRoutes(to group: RouterGroup<AppRequestContext>) {
        group.post("groups") { request, context -> EditedResponse<Group> in
            let me = try context.requireUser()
            let body = try await request.decode(as: Creation.self, context: context)
            let created = try await chat.createGroup(by: me, name: body.name, members: try Self.userIDs(body.members ?? []))
            return EditedResponse(status: .created, response: created)
        }
        group.get("groups/{id}") { _, context -> Group in
            let me = try context.requireUser()
            return try await chat.group(try Self.groupID(context), viewer: me)
        }
        group.post("groups/{id}/members") { request, context -> Group in
            let me = try context.requireUser()
            let body = try await request.decode(as: Invitation.self, context: context)
            return try await chat.invite(by: me, group: try Self.groupID(context), members: try Self.userIDs(body.members))
        }
        group.delete("groups/{id}/members/{user}") { _, context -> HTTPResponse.Status in
            let me = try context.requireUser()
            let raw = try context.pathParameter("user")
            guard let member = UserID(raw) else { throw APIError.notFound("no member '\(raw)'") }
            try await chat.removeMember(by: me, group: try Self.groupID(context), member: member)
            return .noContent
        }
    }

    private static func groupID(_ context: AppRequestContext) throws -> GroupID {
        let raw = try context.pathParameter("id")
        guard let id = GroupID(raw) else { throw APIError.notFound("no group '\(raw)'") }
        return id
    }

    /// The `members` of a request: user ids, else `bad_request`.
    private static func userIDs(_ raw: [String]) throws(ChatError) -> [UserID] {
        try raw.map { text throws(ChatError) in try UserID.parse(text, field: "members") }
    }
}
