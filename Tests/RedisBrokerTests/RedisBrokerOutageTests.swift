import ChatCore
import Logging
import ServiceLifecycle
import Synchronization
import Testing
import TestSupport

@testable import RedisBroker

/// Redis going away and coming back, and nodes going away.
@Suite("Redis broker outages")
struct RedisBrokerOutageTests {
    @Test("after Redis restarts the subscriber gets resync then live envelopes; meanwhile publishing fails fast")
    func redisRestart() async throws {
        let redis = try await TestServices.startRedis()
        defer { redis.stop() }
        let configuration = RedisTest.configuration(port: redis.port)
        let (a, b) = (try await RedisBroker(configuration: configuration, logger: RedisTest.logger),
                      try await RedisBroker(configuration: configuration, logger: RedisTest.logger))
        let (alice, inbox) = (uid("alice"), Inbox())
        _ = try await a.subscribe(alice, inbox.receive)
        try await b.publish(event(1), to: [alice])
        #expect(await inbox.wait(for: 1) == [event(1)])

        redis.stop()
        let started = ContinuousClock.now
        await #expect { try await b.publish(event(2), to: [alice]) } throws: { ($0 as? RedisError)?.isConnectionError == true }
        #expect(await eventually { !b.publishNow(event(2), to: [alice]) })
        await #expect { try await a.subscribe(uid("bob")) { _ in } } throws: { ($0 as? RedisError)?.isConnectionError == true }
        #expect(ContinuousClock.now - started < .seconds(1))

        let restarted = try await TestServices.startRedis(port: redis.port)
        defer { restarted.stop() }
        #expect(await inbox.wait(for: 2).prefix(2) == [event(1), .resync])
        #expect(await eventually { (try? await b.publish(event(3), to: [alice])) != nil })
        // Event 2 was lost on the publishing side: alice may get a second resync for it, never the event.
        #expect(await eventually { inbox.all.last == event(3) })
        #expect([[event(1), .resync, event(3)], [event(1), .resync, .resync, event(3)]].contains(inbox.all))
        // Subscriptions and presence work again.
        let bob = Inbox()
        _ = try await a.subscribe(uid("bob"), bob.receive)
        #expect(b.publishNow(event(4), to: [uid("bob")]))
        #expect(await bob.wait(for: 1) == [event(4)])
        #expect(try await b.connectionOpened(user: alice, connection: "c1"))
        await a.shutdown()
        await b.shutdown()
    }

    @Test("a Redis that stops answering is noticed on both connections, which are replaced once it answers again")
    func hungRedis() async throws {
        let redis = try await TestServices.startRedis()
        defer { redis.stop() }
        var configuration = RedisTest.configuration(port: redis.port)
        configuration.replyTimeout = .milliseconds(300)
        configuration.connectTimeout = .milliseconds(300)
        let node = try await RedisBroker(configuration: configuration, logger: RedisTest.logger)
        let running = Task { try await node.run() }
        let (alice, inbox) = (uid("alice"), Inbox())
        _ = try await node.subscribe(alice, inbox.receive)

        let outside = try await RedisTest.connection(port: redis.port)
        // Taken before Redis starts the pause, so the pause ends 2 s after this at the earliest.
        let pausing = ContinuousClock.now
        try await outside.send(RedisCommand("CLIENT", "PAUSE", "2000", "ALL"))
        let started = ContinuousClock.now
        await #expect { try await node.publish(event(1), to: [alice]) } throws: { error in
            "\(error)".hasPrefix("no reply from Redis at 127.0.0.1:\(redis.port) within")
        }
        #expect(ContinuousClock.now - started < .seconds(1))

        // Once Redis answers again: a new subscription connection, hence a resync, and live traffic.
        #expect(await inbox.wait(for: 1, timeout: .seconds(8)).allSatisfy { $0 == .resync })
        #expect(ContinuousClock.now - pausing >= .seconds(2))
        #expect(await eventually { (node.pubsub.epoch ?? 0) > 1 })
        #expect(await eventually { (try? await node.publish(event(2), to: [alice])) != nil })
        // Event 1 was lost on the publishing side: alice may get a second resync for it, never the event.
        #expect(await eventually { inbox.all.last == event(2) })
        #expect(inbox.all.dropLast().allSatisfy { $0 == .resync } && inbox.all.count <= 3)
        running.cancel()
        try await running.value
        await outside.close()
    }

    @Test("a node that dies without shutting down has its users reaped and reported by a surviving node")
    func deadNode() async throws {
        let redis = try await TestServices.sharedRedis()
        let configuration = RedisTest.configuration(port: redis.port)
        var dying: RedisBroker? = try await RedisBroker(configuration: configuration, logger: RedisTest.logger)
        let survivor = try await RedisBroker(configuration: configuration, logger: RedisTest.logger)
        let (alice, bob, carol) = (uid("alice"), uid("bob"), uid("carol"))
        #expect(try await dying!.connectionOpened(user: alice, connection: "c1"))
        #expect(try await dying!.connectionOpened(user: bob, connection: "c2"))
        #expect(try await !dying!.connectionOpened(user: bob, connection: "c3"))
        #expect(try await survivor.connectionOpened(user: carol, connection: "c4"))
        #expect(try await !dying!.connectionOpened(user: carol, connection: "c5"))
        // Dropped without shutdown and its heartbeat never refreshed: as if the process died.
        dying = nil

        let lost = LostUsers()
        survivor.presenceLost = { lost.record($0) }
        let running = Task { try await survivor.run() }
        #expect(await eventually { lost.all.count >= 2 })
        #expect(Set(lost.all) == [alice, bob])
        #expect(try await !survivor.isOnline(alice))
        #expect(try await !survivor.isOnline(bob))
        #expect(try await survivor.isOnline(carol))
        // Reported once: later rounds find nothing more.
        try await Task.sleep(for: configuration.heartbeatInterval * 3)
        #expect(lost.all.count == 2 && lost.callCount == 1)
        running.cancel()
        try await running.value
        await #expect(throws: RedisError.closed) { try await survivor.isOnline(carol) }
    }

    @Test("a node shut down gracefully removes its presence and reports who went offline")
    func gracefulShutdown() async throws {
        let redis = try await TestServices.sharedRedis()
        var configuration = RedisTest.configuration(port: redis.port)
        // Nobody's heartbeat may expire here: only the graceful leave removes presence.
        configuration.heartbeatTimeout = .seconds(30)
        let leaving = try await RedisBroker(configuration: configuration, logger: RedisTest.logger)
        let staying = try await RedisBroker(configuration: configuration, logger: RedisTest.logger)
        let (alice, dave) = (uid("alice"), uid("dave"))
        #expect(try await leaving.connectionOpened(user: alice, connection: "c1"))
        #expect(try await !staying.connectionOpened(user: alice, connection: "c2"))
        #expect(try await leaving.connectionOpened(user: dave, connection: "c3"))
        let lost = LostUsers()
        leaving.presenceLost = { lost.record($0) }

        let group = ServiceGroup(configuration: .init(services: [leaving], gracefulShutdownSignals: [], logger: RedisTest.logger))
        let running = Task { try await group.run() }
        try await Task.sleep(for: configuration.heartbeatInterval * 2)
        await group.triggerGracefulShutdown()
        try await running.value

        #expect(lost.all == [dave] && lost.callCount == 1)
        #expect(try await staying.isOnline(alice))
        #expect(try await !staying.isOnline(dave))
        let registry = try await staying.commands.send(RedisCommand("SMEMBERS", staying.keys.nodes)).array?.compactMap(\.string)
        #expect(registry == [staying.nodeID])
        await #expect(throws: RedisError.closed) { try await leaving.isOnline(alice) }
        await staying.shutdown()
    }
}
