import ChatCore
import Hummingbird

/// `POST /users`, `POST /sessions`, `DELETE /sessions/current`: getting and giving up a token.
struct SessionController {
    let accounts: Accounts
    /// Proxies whose `X-Forwarded-For` names the client (`ClientAddress`).
    let trustedProxies: [AddressRange]

    struct Registration: Decodable {
        let id: String
        let name: String?
        let password: String?
    }

    struct Credentials: Decodable {
        let id: String
        let password: String?
    }

    /// Routes that need no token.
    func addPublicRoutes(to group: RouterGroup<AppRequestContext>) {
        group.post("users") { request, context -> EditedResponse<Accounts.Session> in
            let body = try await request.decode(as: Registration.self, context: context)
            let session = try await accounts.register(id: body.id, name: body.name ?? body.id, password: body.password)
            return EditedResponse(status: .created, response: session)
        }
        group.post("sessions") { request, context -> Accounts.Session in
            let body = try await request.decode(as: Credentials.self, context: context)
            let client = ClientAddress.resolve(peer: context.remoteAddress, forwardedFor: request.headers[values: .xForwardedFor],
                                               trusted: trustedProxies)
            return try await accounts.signIn(id: body.id, password: body.password, from: client)
        }
    }

    /// Routes behind `TokenAuthenticator`.
    func addAuthenticatedRoutes(to group: RouterGroup<AppRequestContext>) {
        group.delete("sessions/current") { _, context -> HTTPResponse.Status in
            guard let hash = context.tokenHash else { throw APIError.unauthorized() }
            try await accounts.revoke(tokenHash: hash)
            return .noContent
        }
    }
}
