import ChatCore
import Testing
import TestSupport

@testable import RedisBroker

/// The heartbeat round: it stays on schedule whatever the reports cost, and what it finds is
/// reported even when a later step fails.
@Suite("Redis heartbeat")
struct RedisHeartbeatTests {
    @Test("a slow presenceLost handler does not hold up the heartbeat: the node is not taken for dead")
    func slowReport() async throws {
        let redis = try await TestServices.sharedRedis()
        var configuration = RedisTest.configuration(port: redis.port)
        // Room for a busy test machine: only a heartbeat held up by the report may miss this.
        configuration.heartbeatTimeout = .milliseconds(1500)
        let (alice, bob) = (uid("alice"), uid("bob"))
        var dying: RedisBroker? = try await RedisBroker(configuration: configuration, logger: RedisTest.logger)
        #expect(try await dying!.connectionOpened(user: bob, connection: "c1"))
        let outside = try await RedisTest.connection(port: redis.port)
        // Dead at once: dropped, its heartbeat gone.
        try await outside.send(RedisCommand("DEL", dying!.keys.alive(dying!.nodeID)))
        dying = nil
        let node = try await RedisBroker(configuration: configuration, logger: RedisTest.logger)
        #expect(try await node.connectionOpened(user: alice, connection: "c2"))
        let (lost, released, timeout) = (LostUsers(), LostUsers(), configuration.heartbeatTimeout)
        // Reporting that outlasts the heartbeat timeout, as ChatService's store calls for many users can.
        node.presenceLost = { users in
            lost.record(users)
            await eventually(timeout: timeout * 3) { released.callCount > 0 }
        }
        let running = Task { try await node.run() }
        #expect(await eventually { lost.all == [bob] })

        // Another node, which would reap this one once its heartbeat expired.
        let other = try await RedisBroker(configuration: configuration, logger: RedisTest.logger)
        let lostByOther = LostUsers()
        other.presenceLost = { lostByOther.record($0) }
        let otherRunning = Task { try await other.run() }
        try await Task.sleep(for: configuration.heartbeatTimeout * 2)
        #expect(lostByOther.all.isEmpty)
        #expect(try await other.isOnline(alice))
        released.record([])
        await outside.close()
        otherRunning.cancel()
        try await otherRunning.value
        running.cancel()
        try await running.value
    }

    @Test("a store binding Redis lost is recorded again by the next heartbeat; another one found is noticed")
    func storeBindingSurvivesDataLoss() async throws {
        let redis = try await TestServices.sharedRedis()
        let node = try await RedisTest.broker()
        try await node.bind(toStore: "dynamodb://eu-west-1?prefix=chat_")
        let outside = try await RedisTest.connection(port: redis.port)
        let running = Task { try await node.run() }
        // Redis restarted empty: a node with other tables starting now would be let in.
        try await outside.send(RedisCommand("DEL", node.keys.store))
        #expect(try await eventually { try await outside.send(RedisCommand("GET", node.keys.store)).string == "dynamodb://eu-west-1?prefix=chat_" })
        let late = try await RedisTest.broker(prefix: node.configuration.prefix)
        await #expect(throws: RedisError.self) { try await late.bind(toStore: "dynamodb://eu-west-1?prefix=other_") }
        // One got there first all the same: the node cannot stop it, but says so.
        try await outside.send(RedisCommand("SET", node.keys.store, "dynamodb://eu-west-1?prefix=other_"))
        #expect(await eventually { node.presence.withLock { $0.foreignStore } == "dynamodb://eu-west-1?prefix=other_" })
        running.cancel()
        try await running.value
        await outside.close()
        await late.shutdown()
    }

    @Test("a node taken for dead while alive restores its users and reports them back online")
    func reapedWhileAlive() async throws {
        let redis = try await TestServices.sharedRedis()
        let node = try await RedisTest.broker()
        let other = try await RedisTest.broker(prefix: node.configuration.prefix)
        let restored = LostUsers()
        node.presenceRestored = { restored.record($0) }
        let (alice, bob) = (uid("alice"), uid("bob"))
        #expect(try await node.connectionOpened(user: alice, connection: "c1"))
        #expect(try await node.connectionOpened(user: bob, connection: "c2"))
        #expect(try await !other.connectionOpened(user: bob, connection: "c3"))
        // What another node's reaper does once this node's heartbeat is late.
        let outside = try await RedisTest.connection(port: redis.port)
        let reaped = try await outside.send([
            RedisCommand("DEL", node.keys.alive(node.nodeID)),
            node.removePresenceCommand(of: node.nodeID, leaving: false),
        ])
        #expect(reaped.last?.array?.compactMap(\.string) == ["alice"])
        #expect(try await !node.isOnline(alice))

        let running = Task { try await node.run() }
        #expect(await eventually { restored.all == [alice] })
        #expect(try await node.isOnline(alice))
        // Bob never went offline: his other connection stayed.
        try await Task.sleep(for: node.configuration.heartbeatInterval * 3)
        #expect(restored.all == [alice] && restored.callCount == 1)
        running.cancel()
        try await running.value
        await outside.close()
        await other.shutdown()
    }

    @Test("a round that fails part way still reports what it found: the restore's users and each dead node's")
    func partialFailure() async throws {
        let redis = try await TestServices.sharedRedis()
        let configuration = RedisTest.configuration(port: redis.port)
        let (alice, bob, carol) = (uid("alice"), uid("bob"), uid("carol"))
        let node = try await RedisBroker(configuration: configuration, logger: RedisTest.logger)
        let lost = LostUsers()
        node.presenceLost = { lost.record($0) }
        #expect(try await node.connectionOpened(user: alice, connection: "c1"))
        var dying: RedisBroker? = try await RedisBroker(configuration: configuration, logger: RedisTest.logger)
        #expect(try await dying!.connectionOpened(user: bob, connection: "c2"))
        dying = nil
        let outside = try await RedisTest.connection(port: redis.port)
        _ = try await outside.send([
            // A dead node whose removal fails: its member set is not a set.
            RedisCommand("SADD", node.keys.nodes, "broken"),
            RedisCommand("SET", node.keys.members(of: "broken"), "not a set"),
            // A connection Redis has and the node has not, and the node missing from the registry:
            // the next round's restore removes carol's connection and reports her.
            RedisCommand("SADD", node.keys.members(of: node.nodeID), "carol/c3"),
            RedisCommand("SADD", node.keys.presence(carol), "\(node.nodeID)/c3"),
            RedisCommand("SREM", node.keys.nodes, node.nodeID),
        ])
        // Bob's node is dead once its heartbeat expired.
        try await Task.sleep(for: configuration.heartbeatTimeout + .milliseconds(100))

        let running = Task { try await node.run() }
        #expect(await eventually { Set(lost.all) == [bob, carol] })
        #expect(try await !node.isOnline(bob))
        #expect(try await !node.isOnline(carol))
        #expect(try await node.isOnline(alice))
        running.cancel()
        try await running.value
        await outside.close()
    }
}
