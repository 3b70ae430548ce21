import ChatCore
import Hummingbird

/// `GET/PATCH /me`, `GET /users/{id}`, `GET /users?prefix=`: profiles and user search.
struct UserController {
    let chat: ChatService

    struct Rename: Decodable {
        let name: String
    }

    struct SearchResult: Encodable {
        let users: [UserProfile]
    }

    func addRoutes(to group: RouterGroup<AppRequestContext>) {
        group.get("me") { _, context -> UserProfile in
            try await profile(of: try context.requireUser())
        }
        group.patch("me") { request, context -> UserProfile in
            let me = try context.requireUser()
            let body = try await request.decode(as: Rename.self, context: context)
            _ = try await chat.rename(me, to: body.name)
            return try await profile(of: me)
        }
        group.get("users/{id}") { _, context -> UserProfile in
            _ = try context.requireUser()
            let raw = try context.pathParameter("id")
            guard let id = UserID(raw) else { throw APIError.notFound("no user '\(raw)'") }
            return try await profile(of: id)
        }
        group.get("users") { request, context -> SearchResult in
            _ = try context.requireUser()
            let prefix = request.uri.queryParameters.get("prefix") ?? ""
            let limit = try QueryLimit.parse(request.uri.queryParameters.get("limit"), default: 20, max: 100)
            // Code points, as every length in the API; bytes first, a cheap bound for the usual ASCII.
            guard prefix.utf8.count <= 32 || prefix.unicodeScalars.count <= 32 else {
                throw APIError.badRequest("prefix is at most 32 characters")
            }
            return SearchResult(users: try await chat.searchUsers(prefix: prefix.lowercased(), limit: limit))
        }
    }
}

extension UserController {
    // Kept out of the route closures: in release builds, Swift 6.3's optimizer crashed
    // (coroutine splitting) on a `guard let … = try await` of a typed-throws call there.
    private func profile(of id: UserID) async throws -> UserProfile {
        let profile: UserProfile?
        do {
            profile = try await chat.profile(of: id)
        } catch {
            throw APIError(error)
        }
        guard let profile else { throw APIError.notFound("no user '\(id)'") }
        return profile
    }
}

/// Parses a `limit` query parameter with a clear error for bad values.
enum QueryLimit {
    static func parse(_ text: String?, default value: Int, max: Int) throws -> Int {
        guard let text else { return value }
        guard let limit = Int(text), (1...max).contains(limit) else {
            throw APIError.badRequest("limit must be a whole number from 1 to \(max)")
        }
        return limit
    }
}
