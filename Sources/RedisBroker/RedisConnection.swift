import Logging
import NIOCore
import NIOPosix
import Synchronization

/// Hears about a connection's life: the pub/sub subscriber does, to subscribe again after an
/// outage, and so does the command connection's ``LostPublishes``, to publish what it owes.
protocol RedisConnectionDelegate: Sendable {
    /// The connection is up as `channel` (after `AUTH`/`SELECT`); `epoch` numbers the connections, increasing.
    func connected(_ channel: any Channel, epoch: UInt64)
    /// Connection `epoch`, announced by ``connected(_:epoch:)``, is gone (this may arrive before
    /// that announcement); the connection reconnects on its own.
    func disconnected(epoch: UInt64)
}

/// A delegate that also takes the values no command waited for: the connection is in subscribe
/// mode. On any other connection such a value is a protocol error.
protocol RedisPushDelegate: RedisConnectionDelegate {
    /// A value no command waited for (a pub/sub push) on connection `epoch`, on its event loop.
    func received(_ push: RESPValue, epoch: UInt64)
    /// A `message` push (channel and payload as read) on connection `epoch`, on its event loop.
    func receivedMessage(channel: ByteBuffer, payload: ByteBuffer, epoch: UInt64)
}

extension RedisPushDelegate {
    func receivedMessage(channel: ByteBuffer, payload: ByteBuffer, epoch: UInt64) {
        self.received(RESPFrame.message(channel: channel, payload: payload).value, epoch: epoch)
    }
}

/// One TCP connection to Redis that comes back on its own after an outage.
///
/// Commands are pipelined: each write is answered in order. While the connection is down every
/// command fails at once with ``RedisError/isConnectionError``, and a lost connection fails every
/// command still waiting for its reply; meanwhile it reconnects with a doubling, capped delay.
final class RedisConnection: Sendable {
    /// `host:port`, for messages.
    let endpoint: String
    let configuration: RedisBrokerConfiguration
    /// What this connection is for (`commands`, `pubsub`), for logs.
    let role: String
    /// The name Redis lists it under (`CLIENT SETNAME`), if any.
    let clientName: String?
    let logger: Logger
    let group: any EventLoopGroup
    let delegate: (any RedisConnectionDelegate)?
    /// Hears when the connection comes up and goes down (metrics).
    let observer: RedisBrokerObserver
    /// TLS to Redis, nil for plain TCP.
    let tls: RedisTLS?
    /// In a cluster: asked at every (re)connection which node to connect to.
    let route: ClusterRoute?
    private let state = Mutex(State())

    private struct State {
        var phase = Phase.idle
        var epoch: UInt64 = 0
        var reconnecting: Task<Void, Never>?
    }

    private enum Phase {
        case idle
        case connected(any Channel)
        case reconnecting
        case closed

        var isClosed: Bool {
            if case .closed = self { return true }
            return false
        }
    }

    /// A connection that does nothing until ``connect()``.
    init(configuration: RedisBrokerConfiguration, role: String, clientName: String? = nil, logger: Logger,
         observer: RedisBrokerObserver = .none, tls: RedisTLS? = nil, route: ClusterRoute? = nil,
         group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton, delegate: (any RedisConnectionDelegate)? = nil) {
        self.endpoint = configuration.endpoint
        self.configuration = configuration
        self.role = role
        self.clientName = clientName
        self.logger = logger
        self.group = group
        self.delegate = delegate
        self.observer = observer
        self.tls = tls
        self.route = route
    }

    deinit {
        // Dropped without close(): end the connection rather than leave it to the event loop.
        self.state.withLock { state in
            state.reconnecting?.cancel()
            if case .connected(let channel) = state.phase { channel.close(promise: nil) }
        }
    }

    /// Connects the first time; throws "cannot reach Redis at host:port: …" when that fails, or
    /// Redis's own message when it refuses the setup (`AUTH`, `SELECT`).
    func connect() async throws {
        let epoch = self.state.withLock { state in
            state.epoch += 1
            return state.epoch
        }
        do {
            try self.install(try await self.open(epoch: epoch), epoch: epoch, from: .idle)
        } catch let error as RedisError where error.isServerError {
            throw RedisError.server("Redis at \(self.endpoint) refused the connection: \(error.message)")
        } catch {
            throw RedisError.unreachable("cannot reach Redis at \(self.endpoint): \(Self.describe(error))")
        }
    }

    /// Sends `commands` in one write and returns their replies in order (error replies as values).
    func send(_ commands: [RedisCommand]) async throws -> [RESPValue] {
        try await self.enqueue(commands).get()
    }

    /// Writes `commands` now, in one write, and returns the future of their replies: for callers
    /// that must order their writes with state of their own (they call it under their lock).
    func enqueue(_ commands: [RedisCommand]) throws -> EventLoopFuture<[RESPValue]> {
        let channel = try self.channel()
        let replies = channel.eventLoop.makePromise(of: [RESPValue].self)
        Self.write(commands, on: channel, replies: replies, endpoint: self.endpoint)
        return replies.futureResult
    }

    /// The live channel, nil while down.
    var liveChannel: (any Channel)? { try? self.channel() }

    /// The number of the live connection (it grows with each reconnection), nil while down.
    var epoch: UInt64? {
        self.state.withLock { state in
            if case .connected = state.phase { return state.epoch }
            return nil
        }
    }

    /// Sends one command and returns its reply; an error reply is thrown.
    @discardableResult
    func send(_ command: RedisCommand) async throws -> RESPValue {
        let reply = try await self.send([command])[0]
        if case .error(let message) = reply { throw RedisError.server(message) }
        return reply
    }

    /// Writes `commands` without waiting for their replies (error replies are logged): `false`,
    /// and nothing written, when the connection is down or its send buffer is full. `lost` is
    /// called, on the event loop, if the connection ends before Redis answered them all: they
    /// may not have run.
    func sendNow(_ commands: [RedisCommand], ifLost lost: (@Sendable () -> Void)? = nil) -> Bool {
        guard let channel = try? self.channel() else { return false }
        return Self.sendNow(commands, on: channel, ifLost: lost)
    }

    /// ``sendNow(_:ifLost:)`` on `channel`, a connection's channel.
    static func sendNow(_ commands: [RedisCommand], on channel: any Channel, ifLost lost: (@Sendable () -> Void)?) -> Bool {
        guard channel.isWritable else { return false }
        let bytes = RedisCommand.encode(commands, allocator: channel.allocator)
        let request = RedisRequest(bytes: bytes, replies: .check(count: commands.count))
        guard let lost else {
            channel.writeAndFlush(request, promise: nil)
            return true
        }
        // Completed by the handler once Redis answered, or failed (by the pipeline too, if the
        // channel closed before the handler saw the write).
        let answered = channel.eventLoop.makePromise(of: Void.self)
        answered.futureResult.whenFailure { _ in lost() }
        channel.writeAndFlush(request, promise: answered)
        return true
    }

    /// Ends the connection for good: waiting commands fail, no reconnection follows. Idempotent.
    func close() async {
        let (channel, reconnecting) = self.state.withLock { state -> ((any Channel)?, Task<Void, Never>?) in
            defer {
                state.phase = .closed
                state.reconnecting = nil
            }
            if case .connected(let channel) = state.phase { return (channel, state.reconnecting) }
            return (nil, state.reconnecting)
        }
        reconnecting?.cancel()
        try? await channel?.close()
    }

    /// The live channel, or why there is none.
    private func channel() throws -> any Channel {
        try self.state.withLock { state in
            switch state.phase {
            case .connected(let channel): return channel
            case .closed: throw RedisError.closed
            case .idle, .reconnecting: throw RedisError.notConnected(self.endpoint)
            }
        }
    }

    /// Makes `channel` the connection, unless it died meanwhile or the connection was closed.
    private func install(_ channel: any Channel, epoch: UInt64, from expected: Phase) throws {
        let installed = self.state.withLock { state -> Bool in
            switch (state.phase, expected) {
            case (.idle, .idle), (.reconnecting, .reconnecting):
                // An inactive channel's handler already reported its end, before it was installed.
                guard channel.isActive else { return false }
                state.phase = .connected(channel)
                state.reconnecting = nil
                return true
            default:
                return false
            }
        }
        guard installed else {
            channel.close(promise: nil)
            throw self.state.withLock { $0.phase.isClosed } ? RedisError.closed : RedisError.connectionLost(self.endpoint)
        }
        self.observer.connection(self.role, true)
        self.delegate?.connected(channel, epoch: epoch)
    }

    /// Connection `epoch` ended: if it was the live one, start reconnecting.
    func ended(epoch: UInt64) {
        let lost = self.state.withLock { state -> Bool in
            guard case .connected = state.phase, state.epoch == epoch else { return false }
            state.phase = .reconnecting
            state.reconnecting = Task { [weak self] in await self?.reconnect() }
            return true
        }
        guard lost else { return }
        self.logger.warning("Redis connection lost; reconnecting", metadata: ["redis": "\(self.endpoint)", "connection": "\(self.role)"])
        self.observer.connection(self.role, false)
        self.delegate?.disconnected(epoch: epoch)
    }

    /// Tries again and again, waiting longer each time up to the maximum, until connected or closed.
    private func reconnect() async {
        var delay = self.configuration.minimumReconnectDelay
        var attempts = 0
        while !Task.isCancelled {
            do {
                try await Task.sleep(for: delay)
            } catch {
                return
            }
            delay = min(delay * 2, self.configuration.maximumReconnectDelay)
            attempts += 1
            guard let epoch = self.state.withLock({ state -> UInt64? in
                guard case .reconnecting = state.phase else { return nil }
                state.epoch += 1
                return state.epoch
            }) else { return }
            do {
                let channel = try await self.open(epoch: epoch)
                try self.install(channel, epoch: epoch, from: .reconnecting)
                self.logger.notice("Redis connection restored", metadata: [
                    "redis": "\(self.endpoint)", "connection": "\(self.role)", "attempts": "\(attempts)",
                ])
                return
            } catch {
                self.logger.debug("Redis reconnection failed", metadata: [
                    "redis": "\(self.endpoint)", "connection": "\(self.role)", "error": "\(Self.describe(error))",
                ])
            }
        }
    }
}
