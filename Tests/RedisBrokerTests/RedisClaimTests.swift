import ChatCore
import Logging
import Synchronization
import Testing

@testable import RedisBroker

/// Cluster-wide jobs (`Broker.claim`): one node runs them, not every node.
@Suite("Redis broker: cluster-wide jobs")
struct RedisClaimTests {
    @Test("a job is claimed by one node at a time, until its claim expires")
    func oneNodeAtATime() async throws {
        let prefix = RedisTest.uniquePrefix("claims")
        let (a, b) = (try await RedisTest.broker(prefix: prefix), try await RedisTest.broker(prefix: prefix))
        #expect(try await a.claim("retention", for: .seconds(10)))
        #expect(try await b.claim("retention", for: .seconds(10)) == false)
        #expect(try await a.claim("retention", for: .seconds(10)) == false)
        // Another job is claimed on its own; so is the job of another cluster on the same Redis.
        #expect(try await b.claim("other", for: .seconds(10)))
        let other = try await RedisTest.broker(prefix: RedisTest.uniquePrefix("claims"))
        #expect(try await other.claim("retention", for: .seconds(10)))
        // Once a claim expired, the next one takes the job (a slow machine only makes that surer).
        #expect(try await a.claim("short", for: .milliseconds(300)))
        try await Task.sleep(for: .milliseconds(500))
        #expect(try await b.claim("short", for: .seconds(10)))
        #expect(try await a.claim("short", for: .seconds(10)) == false)
        for broker in [a, b, other] { await broker.shutdown() }
    }

    @Test("retention prunes on the node that claims the hour; the other node skips it, the next hour is free")
    func retentionOncePerCluster() async throws {
        let prefix = RedisTest.uniquePrefix("retention")
        let brokers = [try await RedisTest.broker(prefix: prefix), try await RedisTest.broker(prefix: prefix)]
        let store = InMemoryChatStore()
        let now = Atomic<Int64>(1_700_000_000_000)
        let nodes = brokers.map {
            ChatService(store: store, broker: $0, logger: Logger(label: "test"), clock: { now.load(ordering: .relaxed) })
        }
        let (alice, bob) = (uid("alice"), uid("bob"))
        for user in [alice, bob] { _ = try await nodes[0].createUser(id: user, name: user.rawValue, passwordHash: nil) }
        _ = try await nodes[1].send(from: alice, SendRequest(id: "m1", to: bob, body: "old"))
        #expect(try await store.timeline(of: bob, after: 0, limit: 10).count == 1)
        now.add(31 * 86_400_000, ordering: .relaxed)

        #expect(try await nodes[0].pruneExpired(oncePer: .seconds(3600)))
        #expect(try await store.timeline(of: bob, after: 0, limit: 10).isEmpty)
        #expect(try await nodes[1].pruneExpired(oncePer: .seconds(3600)) == false)
        #expect(try await nodes[0].pruneExpired(oncePer: .seconds(3600)) == false)
        now.add(3_600_000, ordering: .relaxed)
        #expect(try await nodes[1].pruneExpired(oncePer: .seconds(3600)))
        #expect(try await nodes[0].pruneExpired(oncePer: .seconds(3600)) == false)
        for broker in brokers { await broker.shutdown() }
    }
}
