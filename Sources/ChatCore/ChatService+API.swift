// First commit: signatures only, so the application can code against them.
extension ChatService {
    /// Creates an account; `conflict` if the id is taken, `bad_request` for a name not 1-64 characters.
    public func createUser(id: UserID, name: String, passwordHash: String?) async throws(ChatError) -> User { fatalError() }
    /// Open auth mode: the user, created with `name = id` if missing.
    public func ensureUser(id: UserID) async throws(ChatError) -> User { fatalError() }
    /// The stored password hash, `nil` if the user is unknown or has none.
    public func passwordHash(of id: UserID) async throws(ChatError) -> String? { fatalError() }
    /// The profile with presence; `nil` if unknown.
    public func profile(of id: UserID) async throws(ChatError) -> UserProfile? { fatalError() }
    /// Users whose id starts with `prefix` (lowercased), at most `limit` (1...100).
    public func searchUsers(prefix: String, limit: Int) async throws(ChatError) -> [UserProfile] { fatalError() }
    /// Renames a user; `bad_request` for a bad name, `not_found` if unknown.
    public func rename(_ id: UserID, to name: String) async throws(ChatError) -> User { fatalError() }
    /// Stores a token hash made by the application.
    public func storeToken(hash: String, user: UserID, expiresAt: Int64) async throws(ChatError) { fatalError() }
    /// The token's user; `nil` if unknown, revoked or expired.
    public func user(forTokenHash hash: String) async throws(ChatError) -> UserID? { fatalError() }
    /// Revokes a token.
    public func revokeToken(hash: String) async throws(ChatError) { fatalError() }

    /// Sends a message (idempotent on `(from, request.id)`).
    public func send(from: UserID, _ request: SendRequest) async throws(ChatError) -> Message { fatalError() }
    /// Marks messages read and sends one `read` receipt per sender.
    public func markRead(by reader: UserID, conversation: ConversationID, ids: [String]) async throws(ChatError) { fatalError() }
    /// Relays a typing indicator; never stored.
    public func typing(from: UserID, to: UserID?, group: GroupID?, typing: Bool) async throws(ChatError) { fatalError() }
    /// A connection acknowledged timeline event `seq`.
    public func acknowledge(user: UserID, seq: Int64) async { fatalError() }

    /// Creates a group owned by `by` with `members` (plus `by`).
    public func createGroup(by: UserID, name: String, members: [UserID]) async throws(ChatError) -> Group { fatalError() }
    /// Adds members to a group `by` belongs to.
    public func invite(by: UserID, group: GroupID, members: [UserID]) async throws(ChatError) -> Group { fatalError() }
    /// Removes `member`; `by == member` means leaving, otherwise only the owner may.
    public func removeMember(by: UserID, group: GroupID, member: UserID) async throws(ChatError) { fatalError() }
    /// A group; `not_found` unless `viewer` is a member.
    public func group(_ id: GroupID, viewer: UserID) async throws(ChatError) -> Group { fatalError() }

    /// The call log, newest first.
    public func conversations(of user: UserID) async throws(ChatError) -> [ConversationSummary] { fatalError() }
    /// A page of history; `not_found` unless `viewer` participates.
    public func history(of conversation: ConversationID, viewer: UserID, before: Int64?, limit: Int) async throws(ChatError) -> HistoryPage { fatalError() }

    /// Opens the delivery stream of one connection.
    public func openEndpoint(user: UserID, since: Int64?) async throws(ChatError) -> Endpoint { fatalError() }
    /// Deletes timeline entries older than the retention period.
    public func pruneExpired() async throws(ChatError) { fatalError() }
}
