import ChatCore
import Logging
import ServiceLifecycle
import Synchronization

/// A ``Broker`` for several nodes: user channels are Redis pub/sub channels, presence is a
/// Redis set per user, and each node's heartbeat lets the others clean up after it if it dies.
///
/// It holds two connections: one for commands (PUBLISH, presence), one in subscribe mode for the
/// user channels of this node's subscribers (one Redis subscription per user however many local
/// subscribers). Both reconnect on their own; a channel that comes back after an outage hands its
/// subscribers a ``BrokerEnvelope/resync``, since what was published meanwhile is lost, and the
/// users whose envelopes this node failed to publish get one once its command connection is back
/// (``LostPublishes``).
///
/// Run it as a `Service` (``run()`` keeps the heartbeat and reaps dead nodes) and shut it down
/// with the service group, or call ``shutdown()``.
public final class RedisBroker: Broker, Service {
    /// This node's id in the presence records (random, new for every broker).
    public let nodeID: String
    /// What it was created with.
    public let configuration: RedisBrokerConfiguration
    let logger: Logger
    let keys: RedisKeys
    let commands: RedisConnection
    let pubsub: RedisConnection
    let subscriber: RedisSubscriber
    let lostPublishes: LostPublishes
    let publisher: PublishBatcher
    let lifecycle = Mutex(Lifecycle())
    let presence = Mutex(Presence())
    let reports = PresenceReports()

    struct Presence {
        /// The connections this node registered.
        var connections = NodeConnections()
        /// Users whose last connection here closed while Redis was out of reach: nobody was told
        /// they went offline yet.
        var unreported: Set<UserID> = []
        /// The command connection whose Redis has this node's presence records as `connections`
        /// says (see ``RedisBroker/restorePresence(registered:)``); nil before the first check.
        var syncedEpoch: UInt64?
        /// The node removed its presence on shutdown.
        var left = false
        /// The store this node bound the prefix to (``RedisBroker/bind(toStore:)``): recorded
        /// again with every heartbeat, so a Redis that lost its data has it back within one
        /// interval, before a node with another store can take the prefix.
        var store: String?
        /// Another store a heartbeat found recorded (logged once, until it is gone).
        var foreignStore: String?
    }

    struct Lifecycle {
        /// The shutdown under way or done.
        var shutdown: Task<Void, Never>?
    }

    private static let publishName = Array("PUBLISH".utf8)

    /// Connects both connections and registers the node; fails with "cannot reach Redis at
    /// host:port: …" when Redis is down or refuses the connection (a wrong password, say).
    /// `observer` hears of connections, lost publishes and resyncs (metrics).
    public init(configuration: RedisBrokerConfiguration, logger: Logger, observer: RedisBrokerObserver = .none) async throws {
        let nodeID = Self.randomNodeID()
        var logger = logger
        logger[metadataKey: "node"] = "\(nodeID)"
        let keys = RedisKeys(prefix: configuration.prefix)
        let subscriber = RedisSubscriber(
            channelPrefix: keys.channelPrefix, resyncChannel: keys.resyncChannel, endpoint: configuration.endpoint, logger: logger,
            observer: observer
        )
        let lostPublishes = LostPublishes(keys: keys, logger: logger, observer: observer)
        let tls = try RedisTLS(configuration)
        let route = try await ClusterRoute.discover(configuration, tls: tls, logger: logger)
        self.nodeID = nodeID
        self.configuration = configuration
        self.logger = logger
        self.keys = keys
        self.subscriber = subscriber
        self.lostPublishes = lostPublishes
        self.commands = RedisConnection(
            configuration: configuration, role: "commands", clientName: "webchat:\(nodeID):commands", logger: logger, observer: observer,
            tls: tls, route: route, delegate: lostPublishes
        )
        self.publisher = PublishBatcher(connection: self.commands, channelPrefix: keys.channelPrefix, lostPublishes: lostPublishes)
        self.pubsub = RedisConnection(
            configuration: configuration, role: "pubsub", clientName: "webchat:\(nodeID):pubsub", logger: logger, observer: observer,
            tls: tls, route: route, delegate: subscriber
        )
        do {
            try await self.commands.connect()
            try await self.pubsub.connect()
            _ = try await self.heartbeat()
            let epoch = self.commands.epoch
            self.presence.withLock { $0.syncedEpoch = epoch }
            logger.info("connected to Redis", metadata: [
                "redis": "\(configuration.endpoint)", "prefix": "\(configuration.prefix)",
                "cluster": "\(route.map { "yes, slot \($0.slot)" } ?? "no")",
            ])
        } catch {
            self.subscriber.close()
            await self.pubsub.close()
            await self.commands.close()
            throw error
        }
    }

    /// Called with the users who went offline because a node stopped: one that died (found by
    /// another node's ``run()`` once its heartbeat expired) or this one shutting down. The chat
    /// service records their last-seen time and tells their contacts. Set it once, after init.
    ///
    /// Calls come one after the other, with ``presenceRestored``'s, in the order the changes were
    /// found, on a task of their own: the heartbeat does not wait for them. ``shutdown()`` does.
    public var presenceLost: (@Sendable ([UserID]) async -> Void)? {
        get { reports.lost }
        set { reports.lost = newValue }
    }

    /// Called with the users whose presence this node restored after it was lost (Redis lost its
    /// data, or another node took this one for dead and removed its connections) and who thereby
    /// came back online. The chat service tells their contacts again. Set it once, after init;
    /// called like ``presenceLost``.
    public var presenceRestored: (@Sendable ([UserID]) async -> Void)? {
        get { reports.restored }
        set { reports.restored = newValue }
    }

    /// Publishes `envelope` on each user's channel, all PUBLISH commands in one write; returns once
    /// Redis took them (delivery to the subscribing nodes follows). Throws when Redis is out of
    /// reach or refused one; the users of a lost timeline envelope get a resync once the command
    /// connection is back.
    public func publish(_ envelope: BrokerEnvelope, to users: [UserID]) async throws {
        guard !users.isEmpty else { return }
        do {
            let replies = try await commands.send(publishCommands(envelope, users))
            if let message = replies.lazy.compactMap(\.errorMessage).first { throw RedisError.server(message) }
        } catch {
            if Self.resyncRecovers(envelope) {
                lostPublishes.record(users)
                // The connection may be back already, its own publishing of resyncs done.
                lostPublishes.publish(through: commands)
            }
            throw error
        }
    }

    /// Writes the PUBLISH commands without waiting for Redis when the command connection is up
    /// (and not backed up): `true`. They keep their order, since one connection carries them all,
    /// and those made while a write waits for the event loop join it (``PublishBatcher``).
    /// `false` while it is down; ``publish(_:to:)`` then fails fast. If the connection ends before
    /// Redis answered, the users of a timeline envelope get a resync once it is back.
    public func publishNow(_ envelope: BrokerEnvelope, to users: [UserID]) -> Bool {
        guard !users.isEmpty else { return true }
        return publisher.publish(envelope, to: users, resync: Self.resyncRecovers(envelope))
    }

    /// Subscribes to the user's channel and returns once Redis has confirmed it. Throws while
    /// the subscription connection is down.
    public func subscribe(_ user: UserID, _ receive: @escaping @Sendable (BrokerEnvelope) -> Void) async throws -> BrokerSubscription {
        let id = try await subscriber.subscribe(user, receive)
        return BrokerSubscription { [subscriber] in subscriber.cancel(user, id: id) }
    }

    /// Ends the node: removes its presence (reporting the users who thereby went offline through
    /// ``presenceLost``), waits for the reports still due, then closes the connections.
    /// Idempotent; later calls wait for the first.
    public func shutdown() async {
        await self.stop(leaving: true)
    }

    /// Shuts down once: with `leaving`, the node's presence is removed first.
    func stop(leaving: Bool) async {
        let task = lifecycle.withLock { state in
            if let running = state.shutdown { return running }
            let task = Task {
                if leaving { await self.leave() }
                // The handlers publish presence through this broker: report before closing.
                await self.reports.drained()
                self.subscriber.close()
                await self.pubsub.close()
                await self.commands.close()
            }
            state.shutdown = task
            return task
        }
        await task.value
    }

    /// Whether a resync brings `envelope` back: stored entries yes, ephemeral events (typing,
    /// presence) no, so losing those costs the subscribers no store reads.
    private static func resyncRecovers(_ envelope: BrokerEnvelope) -> Bool {
        if case .ephemeral = envelope { return false }
        return true
    }

    private func publishCommands(_ envelope: BrokerEnvelope, _ users: [UserID]) -> [RedisCommand] {
        let payload = envelope.bytes
        return users.map { RedisCommand(parts: [Self.publishName, Array(keys.channel($0).utf8), payload]) }
    }

    private static func randomNodeID() -> String {
        let alphabet = Array("abcdefghijklmnopqrstuvwxyz0123456789".utf8)
        var generator = SystemRandomNumberGenerator()
        return String(decoding: (0..<12).map { _ in alphabet.randomElement(using: &generator)! }, as: UTF8.self)
    }
}
