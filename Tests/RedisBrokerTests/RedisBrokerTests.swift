import ChatCore
import Synchronization
import Testing
import TestSupport

@testable import RedisBroker

/// Two brokers ("nodes") on one Redis, as two webchat processes would be.
@Suite("Redis broker")
struct RedisBrokerTests {
    @Test("a subscriber on one node gets what another node publishes, in order")
    func acrossNodes() async throws {
        let prefix = RedisTest.uniquePrefix("nodes")
        let (a, b) = (try await RedisTest.broker(prefix: prefix), try await RedisTest.broker(prefix: prefix))
        #expect(a.nodeID != b.nodeID)
        let (inbox, other) = (Inbox(), Inbox())
        _ = try await a.subscribe(uid("alice"), inbox.receive)
        _ = try await a.subscribe(uid("bob"), other.receive)
        for n in 1...300 {
            // Awaited and fire-and-forget publishes from one publisher keep their order.
            if n % 3 == 0 {
                try await b.publish(event(Int64(n)), to: [uid("alice")])
            } else {
                #expect(b.publishNow(event(Int64(n)), to: [uid("alice")]))
            }
        }
        try await b.publish(.ephemeral(event: "typing", payload: Array("{}".utf8)), to: [uid("alice"), uid("bob")])
        #expect(await inbox.wait(for: 301) == (1...300).map { event(Int64($0)) } + [.ephemeral(event: "typing", payload: Array("{}".utf8))])
        #expect(await other.wait(for: 1) == [.ephemeral(event: "typing", payload: Array("{}".utf8))])
        await a.shutdown()
        await b.shutdown()
    }

    @Test("nodes on one prefix share one store: the first records it, a node with another is refused")
    func storeBinding() async throws {
        let prefix = RedisTest.uniquePrefix("store")
        let (a, b, c) = (try await RedisTest.broker(prefix: prefix), try await RedisTest.broker(prefix: prefix),
                         try await RedisTest.broker(prefix: RedisTest.uniquePrefix("other")))
        try await a.bind(toStore: "dynamodb://eu-west-1?prefix=chat_")
        try await b.bind(toStore: "dynamodb://eu-west-1?prefix=chat_")
        let refused = await #expect(throws: RedisError.self) { try await b.bind(toStore: "dynamodb://eu-west-1?prefix=other_") }
        #expect(refused?.message.contains("share the store dynamodb://eu-west-1?prefix=chat_, and this node's is dynamodb://eu-west-1?prefix=other_") == true,
                "\(String(describing: refused))")
        try await c.bind(toStore: "dynamodb://eu-west-1?prefix=other_")  // another prefix is another cluster
        for broker in [a, b, c] { await broker.shutdown() }
    }

    @Test("presence is cluster-wide: first connection on one node, last one closing on another")
    func clusterPresence() async throws {
        let prefix = RedisTest.uniquePrefix("presence")
        let (a, b) = (try await RedisTest.broker(prefix: prefix), try await RedisTest.broker(prefix: prefix))
        let alice = uid("alice")
        #expect(try await a.connectionOpened(user: alice, connection: "c1") == true)
        #expect(try await b.connectionOpened(user: alice, connection: "c1") == false)
        #expect(try await b.isOnline(alice))
        #expect(try await a.isOnline(alice))
        #expect(try await a.connectionClosed(user: alice, connection: "c1") == false)
        #expect(try await a.isOnline(alice))
        #expect(try await b.connectionClosed(user: alice, connection: "c1") == true)
        #expect(try await a.isOnline(alice) == false)
        await a.shutdown()
        await b.shutdown()
    }

    @Test("one Redis subscription per user per node, however many local subscribers")
    func oneSubscriptionPerUser() async throws {
        let broker = try await RedisTest.broker()
        let alice = uid("alice")
        let inboxes = [Inbox(), Inbox(), Inbox()]
        var subscriptions: [BrokerSubscription] = []
        for inbox in inboxes { subscriptions.append(try await broker.subscribe(alice, inbox.receive)) }
        #expect(try await numsub(broker, alice) == 1)
        await subscriptions[0].cancel()
        await subscriptions[1].cancel()
        #expect(try await numsub(broker, alice) == 1)
        try await broker.publish(event(1), to: [alice])
        #expect(await inboxes[2].wait(for: 1) == [event(1)])
        await subscriptions[2].cancel()
        #expect(try await numsub(broker, alice) == 0)
        #expect(inboxes[0].all.isEmpty && inboxes[1].all.isEmpty)
        await broker.shutdown()
    }

    @Test("2,000 users' channels on one node work, and unsubscribing frees them")
    func manyUsers() async throws {
        let prefix = RedisTest.uniquePrefix("many")
        let (a, b) = (try await RedisTest.broker(prefix: prefix), try await RedisTest.broker(prefix: prefix))
        let users = (0..<2000).map { uid("user\($0)") }
        let inboxes = users.map { _ in Inbox() }
        let subscriptions = try await withThrowingTaskGroup(of: BrokerSubscription.self) { group in
            for (user, inbox) in zip(users, inboxes) { group.addTask { try await a.subscribe(user, inbox.receive) } }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(try await channels(a, prefix).count == 2000)
        try await b.publish(event(1), to: users)
        #expect(await eventually { inboxes.allSatisfy { $0.all == [event(1)] } })
        for subscription in subscriptions { await subscription.cancel() }
        #expect(a.subscriber.channelCount == 0)
        #expect(try await channels(a, prefix).isEmpty)
        await a.shutdown()
        await b.shutdown()
    }

    @Test("a subscribe racing the unsubscribe of the same channel is still subscribed when it returns")
    func subscribeRacingUnsubscribe() async throws {
        let broker = try await RedisTest.broker()
        let alice = uid("alice")
        for round in 0..<100 {
            let old = try await broker.subscribe(alice) { _ in }
            let inbox = Inbox()
            async let cancelled: Void = old.cancel()
            let new = try await broker.subscribe(alice, inbox.receive)
            await cancelled
            try await broker.publish(event(Int64(round)), to: [alice])
            #expect(await inbox.wait(for: 1) == [event(Int64(round))], "round \(round)")
            await new.cancel()
        }
        #expect(try await numsub(broker, alice) == 0)
        await broker.shutdown()
    }

    @Test("a running node keeps its connections, with subscriptions or without")
    func steadyConnections() async throws {
        let broker = try await RedisTest.broker()
        let running = Task { try await broker.run() }
        // Heartbeats PING the subscription connection, in subscribe mode or not.
        try await Task.sleep(for: broker.configuration.heartbeatInterval * 4)
        let subscription = try await broker.subscribe(uid("alice")) { _ in }
        try await Task.sleep(for: broker.configuration.heartbeatInterval * 4)
        #expect(broker.pubsub.epoch == 1)
        #expect(broker.commands.epoch == 1)
        await subscription.cancel()
        running.cancel()
        try await running.value
    }

    @Test("shutdown is idempotent and later calls fail clearly")
    func shutdownTwice() async throws {
        let broker = try await RedisTest.broker()
        await broker.shutdown()
        await broker.shutdown()
        await #expect(throws: RedisError.closed) { try await broker.publish(event(1), to: [uid("alice")]) }
        await #expect(throws: RedisError.closed) { try await broker.subscribe(uid("alice")) { _ in } }
        #expect(broker.publishNow(event(1), to: [uid("alice")]) == false)
    }

    /// Redis's count of subscribers to the user's channel, once every earlier (UN)SUBSCRIBE of
    /// `broker` is applied.
    private func numsub(_ broker: RedisBroker, _ user: UserID) async throws -> Int64? {
        try await afterBarrier(broker) {
            try await broker.commands.send(RedisCommand("PUBSUB", "NUMSUB", broker.keys.channel(user))).array?.last?.integer
        }
    }

    /// The user channels with a subscriber under `prefix` (but the barrier's), likewise.
    private func channels(_ broker: RedisBroker, _ prefix: String) async throws -> [String] {
        try await afterBarrier(broker) {
            let reply = try await broker.commands.send(RedisCommand("PUBSUB", "CHANNELS", prefix + "user:*"))
            return reply.array?.compactMap(\.string).filter { $0 != broker.keys.channel(Self.barrier) } ?? []
        }
    }

    private static let barrier = uid("zz-barrier")

    /// Runs `body` once Redis applied every earlier (UN)SUBSCRIBE of `broker`: they went out on one
    /// connection before the barrier's SUBSCRIBE, which Redis confirmed.
    private func afterBarrier<T>(_ broker: RedisBroker, _ body: () async throws -> T) async throws -> T {
        let subscription = try await broker.subscribe(Self.barrier) { _ in }
        let result = try await body()
        await subscription.cancel()
        return result
    }
}
