extension ChatService {
    /// Creates an account; `conflict` if the id is taken, `bad_request` for a name not 1-64 characters.
    public func createUser(id: UserID, name: String, passwordHash: String?) async throws(ChatError) -> User {
        let user = User(id: id, name: try Validation.displayName(name))
        let inserted = try await storage("insertUser") { try await store.insertUser(user, passwordHash: passwordHash, at: clock()) }
        guard inserted else { throw .conflict("user id taken") }
        return user
    }

    /// Open auth mode: the user, created with `name = id` if missing.
    public func ensureUser(id: UserID) async throws(ChatError) -> User {
        if let existing = try await storage("user", { try await store.user(id) }) { return existing.user }
        let user = User(id: id, name: id.rawValue)
        _ = try await storage("insertUser") { try await store.insertUser(user, passwordHash: nil, at: clock()) }
        // Someone may have won the race; return whatever is stored.
        return try await storage("user") { try await store.user(id) }?.user ?? user
    }

    /// The stored password hash; `nil` if the user is unknown or has none.
    public func passwordHash(of id: UserID) async throws(ChatError) -> String? {
        try await storage("user") { try await store.user(id) }?.passwordHash
    }

    /// The profile with presence from the broker; `nil` if unknown.
    public func profile(of id: UserID) async throws(ChatError) -> UserProfile? {
        guard let stored = try await storage("user", { try await store.user(id) }) else { return nil }
        return await profile(stored)
    }

    /// Users whose id starts with `prefix` (lowercased), ascending, at most `limit` (clamped to 1...100).
    public func searchUsers(prefix: String, limit: Int) async throws(ChatError) -> [UserProfile] {
        let found = try await storage("users") {
            try await store.users(withPrefix: prefix.lowercased(), limit: min(max(limit, 1), 100))
        }
        var profiles: [UserProfile] = []
        for stored in found { profiles.append(await profile(stored)) }
        return profiles
    }

    /// Renames a user; `bad_request` for a bad name, `not_found` if unknown.
    public func rename(_ id: UserID, to name: String) async throws(ChatError) -> User {
        let name = try Validation.displayName(name)
        guard let user = try await storage("renameUser", { try await store.renameUser(id, to: name) }) else {
            throw .notFound("no such user")
        }
        return user
    }

    /// Stores a token hash made by the application.
    public func storeToken(hash: String, user: UserID, expiresAt: Int64) async throws(ChatError) {
        try await storage("insertToken") { try await store.insertToken(hash: hash, user: user, expiresAt: expiresAt) }
    }

    /// The token's user; `nil` if unknown, revoked or expired.
    public func user(forTokenHash hash: String) async throws(ChatError) -> UserID? {
        try await storage("tokenOwner") { try await store.tokenOwner(hash: hash, now: clock()) }
    }

    /// Revokes a token (unknown tokens are ignored).
    public func revokeToken(hash: String) async throws(ChatError) {
        try await storage("revokeToken") { try await store.revokeToken(hash: hash) }
    }

    private func profile(_ stored: StoredUser) async -> UserProfile {
        let online: Bool
        do {
            online = try await broker.isOnline(stored.user.id)
        } catch {
            logger.warning("presence lookup failed", metadata: ["error": "\(error)"])
            online = false
        }
        return UserProfile(id: stored.user.id, name: stored.user.name, online: online, lastSeen: stored.lastSeen)
    }
}
