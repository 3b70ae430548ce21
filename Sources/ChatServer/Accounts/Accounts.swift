import ChatCore
import Crypto
import Foundation
import HummingbirdBcrypt
import NIOCore
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
    /// Failed sign-ins per user id, which past a limit refuse that id's sign-ins for a while.
    let failedSignIns = SignInFailures<UserID>()
    /// Failed sign-ins per client address (see `ClientAddress`), likewise; nil when unlimited.
    let failedSignInsByAddress: SignInFailures<String>?
    /// bcrypt runs, at most one per core at once.
    let passwordChecks = ConcurrencyLimit(System.coreCount)
    /// A valid bcrypt hash of a random string, checked against when the user id is unknown.
    private let decoyHash: String

    init(chat: ChatService, configuration: ServerConfiguration, now: @escaping @Sendable () -> Int64) {
        self.chat = chat
        self.mode = configuration.auth
        self.tokenTTL = Int64(configuration.tokenTTLDays) * 86_400_000
        self.bcryptCost = UInt8(clamping: configuration.bcryptCost)
        self.now = now
        let perAddress = configuration.maxFailedSignInsPerAddress
        self.failedSignInsByAddress = perAddress > 0 ? SignInFailures(limit: perAddress) : nil
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
            guard let password, Self.passwordLengths.contains(password.utf8.count) else {
                throw ChatError(.badRequest, "password must be 8 to 72 bytes long")
            }
            // bcrypt reads a C string: "\0secret" would be the empty password.
            guard !password.utf8.contains(0) else { throw ChatError(.badRequest, "password must not contain U+0000") }
            hash = try await hashPassword(password)
        case .open:
            hash = nil
        }
        let user = try await chat.createUser(id: id, name: name, passwordHash: hash)
        return Session(user: user, token: try await issueToken(for: user.id))
    }

    /// Signs a user in: with a password in password mode, by id alone in open mode. `client`:
    /// the address the attempt comes from (`ClientAddress`), when known.
    func signIn(id rawID: String, password: String?, from client: String? = nil) async throws -> Session {
        switch mode {
        case .open:
            let id = try Self.validUserID(rawID)
            let user = try await chat.ensureUser(id: id)
            return Session(user: user, token: try await issueToken(for: user.id))
        case .password:
            let refused = ChatError(.unauthorized, "wrong user id or password")
            if let client, let wait = failedSignInsByAddress?.retryAfter(client, at: now()) {
                throw ChatError(.rateLimited, "too many failed sign-ins from this address; try again in \((wait + 999) / 1000) s")
            }
            // Counted as failed until it succeeds, as the id's below.
            if let client { failedSignInsByAddress?.recordFailure(client, at: now()) }
            guard let id = UserID(rawID) else { throw refused }
            if let wait = failedSignIns.retryAfter(id, at: now()) {
                throw ChatError(.rateLimited, "too many failed sign-ins for this user id; try again in \((wait + 999) / 1000) s")
            }
            // Counted as failed until it succeeds, so that guesses sent at once count at once;
            // one without a password is a failed sign-in like any other.
            failedSignIns.recordFailure(id, at: now())
            guard let password else { throw refused }
            // Only what registration accepts can match: bcrypt would read up to a NUL, and only
            // the first 72 bytes, so a longer password or one with a NUL is refused as wrong
            // (after the same time as a real check).
            let acceptable = Self.passwordLengths.contains(password.utf8.count) && !password.utf8.contains(0)
            guard acceptable, let hash = try await chat.passwordHash(of: id) else {
                // Spend the same time as a real check so that response times don't reveal which ids exist.
                _ = try await verifyPassword(password, hash: decoyHash)
                throw refused
            }
            guard try await verifyPassword(password, hash: hash) else { throw refused }
            failedSignIns.recordSuccess(id)
            if let client { failedSignInsByAddress?.withdrawFailure(client) }
            guard let user = try await chat.profile(of: id) else { throw refused }
            return Session(user: User(id: user.id, name: user.name), token: try await issueToken(for: id))
        }
    }

    /// The lengths, in UTF-8 bytes, a password may have (bcrypt uses the first 72).
    static let passwordLengths = 8...72

    /// The user a bearer token belongs to and the token's hash (the key of its socket set and
    /// of its revocation), or nil when it is unknown, revoked or expired.
    func user(forToken token: String) async throws -> (user: UserID, tokenHash: String)? {
        guard !token.isEmpty, token.utf8.count <= 256 else { return nil }
        let hash = Self.tokenHash(token)
        return try await chat.user(forTokenHash: hash).map { ($0, hash) }
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
        try UserID.parse(raw, field: "id")
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

    // bcrypt takes a quarter of a second by design: keep it off the event loops, one per core at
    // a time, and refuse (429) rather than queue without bound, so that a flood of sign-ins
    // cannot make every other one wait for seconds.
    private func hashPassword(_ password: String) async throws -> String {
        let cost = bcryptCost
        return try await passwordWork { Bcrypt.hash(password, cost: cost) }
    }

    private func verifyPassword(_ password: String, hash: String) async throws -> Bool {
        try await passwordWork { Bcrypt.verify(password, hash: hash) }
    }

    private func passwordWork<T: Sendable>(_ work: @escaping @Sendable () -> T) async throws -> T {
        let result = try await passwordChecks.run(waitingAtMost: Self.maxWaitingPasswordChecks) {
            try await NIOThreadPool.singleton.runIfActive(work)
        }
        guard let result else { throw ChatError(.rateLimited, "too many sign-ins at once; try again in a moment") }
        return result
    }

    /// Password checks waiting for a core beyond which sign-ins are refused (at cost 12 on two
    /// cores, about 5 s of waiting).
    static let maxWaitingPasswordChecks = 32
}
