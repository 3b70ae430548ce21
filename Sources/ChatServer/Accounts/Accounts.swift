import ChatCore
import Crypto
import Foundation
import HummingbirdBcrypt
import NIOPosix

/// Sign-up, sign-in and bearer tokens on top of `ChatService`.
///
/// Passwords are kept only as bcrypt hashes; tokens are 256 random bits handed to the
/// client once and kept only as their SHA-256, so a copy of the database lets nobody in.
/// Neither is ever logged.
struct Accounts: Sendable {
    let chat: ChatService
    let mode: ServerConfiguration.AuthMode
    let tokenTTL: Int64
    let bcryptCost: UInt8
    let now: @Sendable () -> Int64
    /// The live sockets of each token: revoking a token ends them.
    let sockets = TokenSockets()
    /// A valid bcrypt hash of a random string, checked against when the user id is unknown.
    private let decoyHash: String

    init(chat: ChatService, configuration: ServerConfiguration, now: @escaping @Sendable () -> Int64) {
        self.chat = chat
        self.mode = configuration.auth
        self.tokenTTL = Int64(configuration.tokenTTLDays) * 86_400_000
        self.bcryptCost = UInt8(clamping: configuration.bcryptCost)
        self.now = now
        self.decoyHash = configuration.auth == .password ? Bcrypt.hash(UUID().uuidString, cost: bcryptCost) : ""
    }

    /// A signed-in user and the token that proves it.
    struct Session: Encodable, Sendable {
        let user: User
        let token: String
    }

    /// Registers a new user (password mode) and signs them in.
    func register(id rawID: String, name: String, password: String?) async throws -> Session {
        let id = try Self.validUserID(rawID)
        let hash: String?
        switch mode {
        case .password:
            guard let password, password.count >= 8, password.utf8.count <= 72 else {
                throw ChatError(.badRequest, "password must be 8 to 72 bytes long")
            }
            hash = try await hashPassword(password)
        case .open:
            hash = nil
        }
        let user = try await chat.createUser(id: id, name: name, passwordHash: hash)
        return Session(user: user, token: try await issueToken(for: user.id))
    }

    /// Signs a user in: with a password in password mode, by id alone in open mode.
    func signIn(id rawID: String, password: String?) async throws -> Session {
        switch mode {
        case .open:
            let id = try Self.validUserID(rawID)
            let user = try await chat.ensureUser(id: id)
            return Session(user: user, token: try await issueToken(for: user.id))
        case .password:
            let refused = ChatError(.unauthorized, "wrong user id or password")
            guard let id = UserID(rawID), let password else { throw refused }
            guard let hash = try await chat.passwordHash(of: id) else {
                // Spend the same time as a real check so that response times don't reveal which ids exist.
                _ = try await verifyPassword(password, hash: decoyHash)
                throw refused
            }
            guard try await verifyPassword(password, hash: hash) else { throw refused }
            guard let user = try await chat.profile(of: id) else { throw refused }
            return Session(user: User(id: user.id, name: user.name), token: try await issueToken(for: id))
        }
    }

    /// The user a bearer token belongs to, or nil when it is unknown, revoked or expired.
    func user(forToken token: String) async throws -> UserID? {
        guard !token.isEmpty, token.utf8.count <= 256 else { return nil }
        return try await chat.user(forTokenHash: Self.tokenHash(token))
    }

    /// Revokes the token with this hash, and disconnects the sockets opened with it.
    func revoke(tokenHash: String) async throws {
        try await chat.revokeToken(hash: tokenHash)
        await sockets.disconnectAll(tokenHash: tokenHash)
    }

    /// The SHA-256 hex digest under which a token is stored.
    static func tokenHash(_ token: String) -> String {
        SHA256.hash(data: Array(token.utf8)).map { String(format: "%02x", $0) }.joined()
    }

    static func validUserID(_ raw: String) throws(ChatError) -> UserID {
        guard let id = UserID(raw) else {
            throw ChatError(.badRequest, "user id must match ^[a-z0-9][a-z0-9_.-]{1,31}$")
        }
        return id
    }

    private func issueToken(for user: UserID) async throws -> String {
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<32).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
        let token = Data(bytes).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
        try await chat.storeToken(hash: Self.tokenHash(token), user: user, expiresAt: now() + tokenTTL)
        return token
    }

    // bcrypt takes a quarter of a second by design: keep it off the event loops.
    private func hashPassword(_ password: String) async throws -> String {
        let cost = bcryptCost
        return try await NIOThreadPool.singleton.runIfActive { Bcrypt.hash(password, cost: cost) }
    }

    private func verifyPassword(_ password: String, hash: String) async throws -> Bool {
        try await NIOThreadPool.singleton.runIfActive { Bcrypt.verify(password, hash: hash) }
    }
}
