import ChatCore
import Testing
import TestSupport

@testable import RedisBroker

/// A node's presence records in Redis follow its own list of connections after Redis lost them
/// or missed changes.
@Suite("Redis presence restore")
struct RedisPresenceRestoreTests {
    @Test("after Redis restarts empty, a running node restores its presence and reports who left meanwhile")
    func restart() async throws {
        let redis = try await TestServices.startRedis()
        defer { redis.stop() }
        let node = try await RedisBroker(configuration: RedisTest.configuration(port: redis.port), logger: RedisTest.logger)
        let lost = LostUsers()
        node.presenceLost = { lost.record($0) }
        let running = Task { try await node.run() }
        let (alice, bob) = (uid("alice"), uid("bob"))
        #expect(try await node.connectionOpened(user: alice, connection: "c1"))
        #expect(try await node.connectionOpened(user: bob, connection: "c2"))

        redis.stop()
        await #expect { try await node.connectionClosed(user: bob, connection: "c2") } throws: {
            ($0 as? RedisError)?.isConnectionError == true
        }
        let restarted = try await TestServices.startRedis(port: redis.port)
        defer { restarted.stop() }
        #expect(await eventually { lost.all == [bob] })
        #expect(try await node.isOnline(alice))
        #expect(try await !node.isOnline(bob))
        #expect(try await node.connectionClosed(user: alice, connection: "c1"))
        running.cancel()
        try await running.value
    }

    @Test("a restore removes what Redis has but the node has not, and adds what it lacks")
    func staleAndMissing() async throws {
        let redis = try await TestServices.sharedRedis()
        let node = try await RedisTest.broker()
        let (alice, carol, dave, erin) = (uid("alice"), uid("carol"), uid("dave"), uid("erin"))
        #expect(try await node.connectionOpened(user: alice, connection: "c1"))
        #expect(try await node.connectionOpened(user: dave, connection: "c4"))
        #expect(try await node.connectionOpened(user: erin, connection: "c6"))
        // Changes Redis missed: carol's close, dave's open, and erin's c5 closing after c6 opened.
        let outside = try await RedisTest.connection(port: redis.port)
        _ = try await outside.send([
            RedisCommand("SADD", node.keys.members(of: node.nodeID), "carol/c3"),
            RedisCommand("SADD", node.keys.presence(carol), "\(node.nodeID)/c3"),
            RedisCommand("DEL", node.keys.presence(dave)),
            RedisCommand("SREM", node.keys.members(of: node.nodeID), "erin/c6"),
            RedisCommand("SADD", node.keys.members(of: node.nodeID), "erin/c5"),
            RedisCommand("DEL", node.keys.presence(erin)),
            RedisCommand("SADD", node.keys.presence(erin), "\(node.nodeID)/c5"),
        ])
        #expect(try await node.isOnline(carol))
        #expect(try await !node.isOnline(dave))

        // Erin was online throughout: neither offline nor back.
        #expect(try await node.restorePresence(registered: false) == .init(offline: [carol], restored: [dave]))
        #expect(try await node.isOnline(erin))
        #expect(try await !node.isOnline(carol))
        #expect(try await node.isOnline(dave))
        #expect(try await node.isOnline(alice))
        let members = try await outside.send(RedisCommand("SMEMBERS", node.keys.members(of: node.nodeID))).array?.compactMap(\.string)
        #expect(Set(members ?? []) == ["alice/c1", "dave/c4", "erin/c6"])
        // In line now: nothing to do until the connection changes or the node goes missing.
        #expect(try await node.restorePresence(registered: true) == .init())
        await outside.close()
        await node.shutdown()
    }

    @Test("once a node left, it records no more presence that nobody would ever remove")
    func noPresenceAfterLeaving() async throws {
        let node = try await RedisTest.broker()
        let lost = LostUsers()
        node.presenceLost = { lost.record($0) }
        #expect(try await node.connectionOpened(user: uid("alice"), connection: "c1"))
        await node.leave()
        #expect(lost.all == [uid("alice")])
        await #expect(throws: RedisError.closed) { try await node.connectionOpened(user: uid("bob"), connection: "c2") }
        #expect(try await !node.isOnline(uid("bob")))
        #expect(try await node.restorePresence(registered: false) == .init())
        #expect(try await !node.isOnline(uid("alice")))
        await node.shutdown()
    }
}
