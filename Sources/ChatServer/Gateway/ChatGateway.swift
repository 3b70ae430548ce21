import ChatCore
import Logging
import NIOCore
import Metrics
import SocketIO
import Synchronization

/// Connects Socket.IO to the chat domain: authenticates each connection, opens its
/// endpoint (timeline replay, then live events) and turns client events into
/// `ChatService` calls.
final class ChatGateway: Sendable {
    let chat: ChatService
    let accounts: Accounts
    let configuration: ServerConfiguration
    let metrics: ServerMetrics
    let logger: Logger
    /// Bounds the connections being set up or torn down at once (their store work).
    let setupLimit = ConcurrencyLimit(32)
    /// Endpoints opened and not yet closed (a close ends with the presence update).
    private let openEndpoints = Atomic<Int>(0)
    /// Each user's connections on this node, set up or being set up (`maxConnectionsPerUser`).
    private let connectionsPerUser = Mutex<[UserID: Int]>([:])

    // A class, so that each connection holds one reference to it rather than a copy of the
    // configuration, logger and services.
    init(chat: ChatService, accounts: Accounts, configuration: ServerConfiguration, metrics: ServerMetrics, logger: Logger) {
        self.chat = chat
        self.accounts = accounts
        self.configuration = configuration
        self.metrics = metrics
        self.logger = logger
    }

    /// Registers the connection handler on the main namespace.
    func install(on server: SocketIOServer) {
        server.namespace("/").onConnection { socket, request in
            try await self.setupLimit.run { try await self.accept(socket, request: request) }
        }
    }

    private func accept(_ socket: Socket, request: ConnectRequest) async throws {
        let (user, tokenHash) = try await authenticate(request.auth)
        try takeConnectionSlot(of: user)
        var accepted = false
        defer { if !accepted { releaseConnectionSlot(of: user) } }
        var since: Int64?
        if let value = request.auth?["since"], !value.isNull {
            guard let seq = value.intValue, seq >= 0 else {
                throw ConnectError(message: "bad_request", data: .object(["reason": .string("since must be a non-negative integer")]))
            }
            since = Int64(seq)
        }
        let start = ContinuousClock.now
        let connection = ClientConnection(socket: socket, user: user, gateway: self)
        let endpoint: PushEndpoint
        do {
            endpoint = try await chat.openEndpoint(user: user, since: since, receiver: connection)
        } catch {
            logger.error("could not open endpoint", metadata: ["user": "\(user)", "error": "\(error)"])
            throw ConnectError(message: "unavailable")
        }
        if let tokenHash {
            accounts.sockets.add(socket, tokenHash: tokenHash)
            // A sign-out since the token was checked found no socket of it to end: now that this
            // one is listed, a later sign-out ends it, and an earlier one shows in the store.
            if try await !stillValid(tokenHash) {
                accounts.sockets.remove(socket, tokenHash: tokenHash)
                await endpoint.close()
                throw ConnectError(message: "unauthorized")
            }
        }
        metrics.endpointOpenLatency.recordInterval(since: start)
        metrics.connections.increment()
        openEndpoints.add(1, ordering: .relaxed)

        connection.registerHandlers()
        accepted = true
        socket.onDisconnect { [self] reason in
            self.releaseConnectionSlot(of: user)
            if let tokenHash { self.accounts.sockets.remove(socket, tokenHash: tokenHash) }
            await self.setupLimit.run { await endpoint.close() }
            self.openEndpoints.subtract(1, ordering: .relaxed)
            self.metrics.connections.decrement()
            self.logger.debug("disconnected", metadata: ["user": "\(user)", "reason": "\(reason)"])
        }
    }

    /// Waits until every endpoint opened here has closed (their users' presence updated), or
    /// `limit` passed: on shutdown, after the sessions were closed, so that the broker and the
    /// store are still there for it.
    func waitUntilEndpointsClosed(atMost limit: Duration) async {
        let deadline = ContinuousClock.now + limit
        while openEndpoints.load(ordering: .relaxed) > 0, ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(10))
        }
    }

    /// Counts a connection of `user`, or CONNECT_ERROR `rate_limited` when they hold the most
    /// allowed: each costs memory (its endpoint, up to a bounded backlog), and one user's
    /// token should not be able to take the node's.
    private func takeConnectionSlot(of user: UserID) throws {
        let limit = configuration.maxConnectionsPerUser
        let taken = connectionsPerUser.withLock { counts -> Bool in
            let count = counts[user, default: 0]
            guard limit == 0 || count < limit else { return false }
            counts[user] = count + 1
            return true
        }
        guard taken else {
            throw ConnectError(message: "rate_limited", data: .object(["reason": .string("at most \(limit) connections per user")]))
        }
    }

    private func releaseConnectionSlot(of user: UserID) {
        connectionsPerUser.withLock { counts in
            let count = counts[user, default: 1] - 1
            counts[user] = count > 0 ? count : nil
        }
    }

    /// Whether the token with this hash is still accepted; CONNECT_ERROR `unavailable` when the
    /// store cannot say.
    private func stillValid(_ tokenHash: String) async throws -> Bool {
        do {
            return try await chat.user(forTokenHash: tokenHash) != nil
        } catch {
            throw ConnectError(message: "unavailable")
        }
    }

    /// The user of a CONNECT auth payload and the hash of its token (nil for a user named in open
    /// mode), or CONNECT_ERROR `unauthorized`.
    private func authenticate(_ auth: JSONValue?) async throws -> (UserID, tokenHash: String?) {
        let refused = ConnectError(message: "unauthorized")
        if let token = auth?["token"]?.stringValue {
            guard let found = try? await accounts.user(forToken: token) else { throw refused }
            return (found.user, found.tokenHash)
        }
        if configuration.auth == .open, let raw = auth?["user"]?.stringValue, let id = UserID(raw) {
            guard let user = try? await chat.ensureUser(id: id) else { throw refused }
            return (user.id, nil)
        }
        throw refused
    }
}

extension Metrics.Timer {
    /// Records the time since `start`.
    func recordInterval(since start: ContinuousClock.Instant) {
        let elapsed = ContinuousClock.now - start
        recordNanoseconds(elapsed.components.seconds * 1_000_000_000 + elapsed.components.attoseconds / 1_000_000_000)
    }
}
