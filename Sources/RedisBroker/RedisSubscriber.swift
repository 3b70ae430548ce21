import ChatCore
import Logging
import NIOCore
import Synchronization

/// The broker's pub/sub side: one connection in subscribe mode carrying every user channel this
/// node has subscribers for, one Redis subscription per channel however many local subscribers.
///
/// Its ``SubscriptionMachine`` decides; this class holds it under a lock, writes what it says to
/// the current connection (still under the lock, so the commands keep the order of the state
/// changes), and does the rest outside the lock. Envelopes are handed to the subscribers on the
/// connection's event loop, one push after the other, hence in the order Redis sent them.
final class RedisSubscriber: RedisPushDelegate {
    typealias Receiver = @Sendable (BrokerEnvelope) -> Void
    private typealias Waiter = CheckedContinuation<UInt64, any Error>

    private struct Locked {
        var machine: SubscriptionMachine<Receiver, Waiter>
        /// The connection the machine is connected through.
        var channel: (any Channel)?
        /// When the PING not answered yet was sent (see ``RedisSubscriber/checkAlive(timeout:)``).
        var pingSent: ContinuousClock.Instant?
    }

    private let state: Mutex<Locked>
    private let channelPrefix: [UInt8]
    private let resyncChannel: [UInt8]
    private let endpoint: String
    private let logger: Logger
    private let observer: RedisBrokerObserver

    /// A subscriber for channels named `channelPrefix` + user id, and for `resyncChannel`, on
    /// which a resync is for every subscriber.
    init(channelPrefix: String, resyncChannel: String, endpoint: String, logger: Logger, observer: RedisBrokerObserver = .none) {
        self.state = Mutex(Locked(machine: SubscriptionMachine(channelPrefix: channelPrefix, resyncChannel: resyncChannel)))
        self.channelPrefix = Array(channelPrefix.utf8)
        self.resyncChannel = Array(resyncChannel.utf8)
        self.endpoint = endpoint
        self.logger = logger
        self.observer = observer
    }

    /// How many channels have local subscribers.
    var channelCount: Int { state.withLock { $0.machine.channelCount } }

    /// Adds a subscriber; returns its id once Redis confirmed the channel's subscription.
    func subscribe(_ user: UserID, _ receive: @escaping Receiver) async throws -> UInt64 {
        try await withCheckedThrowingContinuation { (waiter: Waiter) in
            let (id, action) = state.withLock { state in
                let (id, action) = state.machine.subscribe(user, receive, waiter: waiter)
                if case .send(let command) = action { Self.write(command, to: state.channel) }
                return (id, action)
            }
            switch action {
            case .ready: waiter.resume(returning: id)
            case .send, .wait: break
            case .notConnected: waiter.resume(throwing: RedisError.notConnected(endpoint))
            case .closed: waiter.resume(throwing: RedisError.closed)
            }
        }
    }

    /// Removes subscriber `id`; the channel is unsubscribed when it was the last one.
    func cancel(_ user: UserID, id: UInt64) {
        state.withLock { state in
            if let command = state.machine.cancel(user, id: id) { Self.write(command, to: state.channel) }
        }
    }

    /// Stops every subscription; calls still waiting fail.
    func close() {
        let failed = state.withLock { state in
            state.channel = nil
            return state.machine.close()
        }
        for waiter in failed { waiter.resume(throwing: RedisError.closed) }
    }

    /// Sends a PING on the subscription connection, or, when the previous one has gone
    /// unanswered for longer than `timeout` (Redis hung, or the network silently gone), drops the
    /// connection so that a new one takes over. Call it regularly (the heartbeat does).
    func checkAlive(timeout: Duration) {
        let now = ContinuousClock.now
        let stale = state.withLock { state -> (any Channel)? in
            guard let channel = state.channel else { return nil }
            if let sent = state.pingSent { return now - sent > timeout ? channel : nil }
            state.pingSent = now
            Self.write(RedisCommand("PING"), to: channel)
            return nil
        }
        guard let stale else { return }
        logger.warning("no answer on the Redis subscription connection; replacing it", metadata: ["redis": "\(endpoint)"])
        stale.close(promise: nil)
    }

    func connected(_ channel: any Channel, epoch: UInt64) {
        let count = state.withLock { state -> Int in
            let commands = state.machine.connected(epoch: epoch)
            guard case .connected(epoch) = state.machine.state else { return 0 }
            state.channel = channel
            state.pingSent = nil
            for command in commands { Self.write(command, to: channel) }
            return state.machine.channelCount
        }
        if count > 0 { logger.notice("subscribing again to user channels", metadata: ["redis": "\(endpoint)", "channels": "\(count)"]) }
    }

    func disconnected(epoch: UInt64) {
        let failed = state.withLock { state in
            let failed = state.machine.disconnected(epoch: epoch)
            if case .disconnected = state.machine.state {
                state.channel = nil
                state.pingSent = nil
            }
            return failed
        }
        for waiter in failed { waiter.resume(throwing: RedisError.connectionLost(endpoint)) }
    }

    func received(_ value: RESPValue, epoch: UInt64) {
        self.handle(RedisPush(value, channelPrefix: channelPrefix, resyncChannel: resyncChannel), epoch: epoch)
    }

    func receivedMessage(channel: ByteBuffer, payload: ByteBuffer, epoch: UInt64) {
        self.handle(RedisPush(message: channel, payload: payload, channelPrefix: channelPrefix, resyncChannel: resyncChannel), epoch: epoch)
    }

    private func handle(_ push: RedisPush, epoch: UInt64) {
        let (action, channel) = state.withLock { state in
            if case .pong = push { state.pingSent = nil }
            return (state.machine.received(push, epoch: epoch), state.channel)
        }
        switch action {
        case .none:
            break
        case .deliver(let subscribers, let envelope):
            subscribers.forEach { $0(envelope) }
        case .resyncAll(let channels):
            logger.notice("a node lost more envelopes than it tracks; every subscriber resyncs", metadata: [
                "redis": "\(endpoint)", "channels": "\(channels.count)",
            ])
            for subscribers in channels { subscribers.forEach { $0(.resync) } }
            observer.resyncs(channels.reduce(0) { $0 + $1.count })
        case .confirmed(let waiters, let resync):
            for (id, waiter) in waiters { waiter.resume(returning: id) }
            if let resync {
                resync.forEach { $0(.resync) }
                observer.resyncs(resync.count)
            }
        case .refused(let waiters, let message):
            logger.error("Redis refused a subscription", metadata: ["redis": "\(endpoint)", "error": "\(message)"])
            for waiter in waiters { waiter.resume(throwing: RedisError.server(message)) }
        case .protocolViolation(let message):
            // Out of step with Redis: a new connection starts from a known state.
            logger.error("dropping the Redis subscription connection", metadata: ["redis": "\(endpoint)", "error": "\(message)"])
            channel?.close(promise: nil)
        }
    }

    /// Writes `command` to `channel` from its event loop, never inline: an inline write could
    /// report the connection's end back into this class while its lock is held.
    private static func write(_ command: RedisCommand, to channel: (any Channel)?) {
        guard let channel else { return }
        let bytes = RedisCommand.encode(CollectionOfOne(command), allocator: channel.allocator)
        channel.eventLoop.execute {
            channel.writeAndFlush(RedisRequest(bytes: bytes, replies: .pushes), promise: nil)
        }
    }
}
