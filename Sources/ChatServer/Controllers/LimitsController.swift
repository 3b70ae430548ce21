import ChatCore
import Hummingbird

/// `GET /limits`: the input limits of this server, for clients to check input before sending it.
/// No token is needed: the limits are not secret, and a client wants them before signing in.
struct LimitsController {
    let limits: Limits

    /// The limits a client checks; lengths count Unicode code points, as the server does.
    struct Limits: ResponseEncodable {
        let maxMessageChars: Int
        let maxGroupMembers: Int
        let maxGroupNameChars: Int
        let maxNameChars: Int
        let maxReadIds: Int
    }

    init(configuration: ChatConfiguration) {
        limits = Limits(
            maxMessageChars: configuration.maxMessageChars,
            maxGroupMembers: configuration.maxGroupMembers,
            maxGroupNameChars: configuration.maxGroupNameChars,
            maxNameChars: ChatConfiguration.maxNameChars,
            maxReadIds: configuration.maxReadIds
        )
    }

    /// Routes that need no token.
    func addPublicRoutes(to group: RouterGroup<AppRequestContext>) {
        group.get("limits") { _, _ -> Limits in limits }
    }
}
