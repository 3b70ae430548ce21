import ChatCore
import Foundation
import NIOCore
import Testing
import TestSupport

@testable import RedisBroker

/// Redis Cluster: the hash slot arithmetic, and brokers on a real cluster of redis-servers
/// (three primaries with a replica each), reached through nodes that do not serve their slot,
/// and again after the primary that does dies.
@Suite("Redis broker: Redis Cluster", .serialized)
struct RedisClusterTests {
    @Test("hash slots and hash tags as Redis Cluster's specification has them")
    func hashSlots() {
        #expect(HashSlot.crc16(Array("123456789".utf8)) == 0x31C3)
        #expect(HashSlot.of("123456789") == 12_739)
        #expect(HashSlot.of("{user1000}.following") == HashSlot.of("{user1000}.followers"))
        #expect(HashSlot.of("{webchat}:user:alice") == HashSlot.of("webchat"))
        #expect(HashSlot.tag(of: "foo{bar}{zap}") == "bar")
        #expect(HashSlot.tag(of: "foo{{bar}}zap") == "{bar")
        #expect(HashSlot.tag(of: "foo{}{bar}") == nil)
        #expect(HashSlot.tag(of: "webchat:") == nil)
        #expect(HashSlot.tag(of: "{webchat") == nil)
    }

    @Test("CLUSTER SLOTS is read into ranges and their primaries; anything else is refused")
    func slotsReply() throws {
        func bulk(_ text: String) -> RESPValue { .bulkString(ByteBuffer(string: text)) }
        let reply = RESPValue.array([
            .array([.integer(0), .integer(5460), .array([bulk("10.0.0.1"), .integer(7000), bulk("id1")]),
                    .array([bulk("10.0.0.4"), .integer(7003), bulk("id4")])]),
            .array([.integer(5461), .integer(16383), .array([bulk(""), .integer(7001), bulk("id2"), .array([])])]),
        ])
        #expect(try ClusterSlots.parse(reply) == [
            .init(slots: 0...5460, primary: .init(host: "10.0.0.1", port: 7000)),
            .init(slots: 5461...16383, primary: .init(host: nil, port: 7001)),
        ])
        // No endpoint (null): the node asked; unknown ('?'): the ip of the metadata, which is needed then.
        let unknown = RESPValue.array([
            .array([.integer(0), .integer(100), .array([.bulkString(nil), .integer(7000), bulk("id1")])]),
            .array([.integer(101), .integer(200), .array([bulk("?"), .integer(7001), bulk("id2"), .array([bulk("ip"), bulk("10.0.0.2")])])]),
        ])
        #expect(try ClusterSlots.parse(unknown).map(\.primary) == [.init(host: nil, port: 7000), .init(host: "10.0.0.2", port: 7001)])
        #expect(throws: RedisError.self) {
            try ClusterSlots.parse(.array([.array([.integer(0), .integer(1), .array([bulk("?"), .integer(7000), bulk("id1")])])]))
        }
        #expect(throws: RedisError.self) { try ClusterSlots.parse(.array([.array([.integer(1)])])) }
        #expect(throws: RedisError.self) { try ClusterSlots.parse(.simpleString("OK")) }
    }

    @Test("two brokers that reach the cluster through nodes not serving their slot publish, share presence and claims; a prefix without a hash tag is refused")
    func brokersOnACluster() async throws {
        let cluster = try await RedisCluster.start()
        let prefix = "{\(RedisTest.uniquePrefix("cluster"))}:"
        let seeds = try await cluster.primaries(notServing: HashSlot.of(HashSlot.tag(of: prefix)!))
        #expect(seeds.count == 2)

        do {
            _ = try await RedisBroker(configuration: RedisTest.configuration(port: seeds[0], prefix: "webchat:"), logger: RedisTest.logger)
            Issue.record("a broker without a hash tag in its prefix started on a cluster")
        } catch let error as RedisError {
            #expect(error.message.contains("is a cluster") && error.message.contains("?prefix={webchat}:"), "\(error.message)")
        }

        let a = try await RedisBroker(configuration: RedisTest.configuration(port: seeds[0], prefix: prefix), logger: RedisTest.logger)
        let b = try await RedisBroker(configuration: RedisTest.configuration(port: seeds[1], prefix: prefix), logger: RedisTest.logger)
        let (alice, bob) = (uid("alice"), uid("bob"))
        let (atA, atB) = (Inbox(), Inbox())
        let subscriptions = [try await a.subscribe(alice, atA.receive), try await b.subscribe(bob, atB.receive)]
        try await a.publish(event(1), to: [bob])
        try await b.publish(event(2), to: [alice])
        #expect(await atB.wait(for: 1) == [event(1)])
        #expect(await atA.wait(for: 1) == [event(2)])

        // Presence and claims are the cluster's, whichever node a broker came in through.
        #expect(try await a.connectionOpened(user: alice, connection: "c1"))
        #expect(try await b.connectionOpened(user: alice, connection: "c2") == false)
        #expect(try await a.claim("retention", for: .seconds(10)))
        #expect(try await b.claim("retention", for: .seconds(10)) == false)

        for subscription in subscriptions { await subscription.cancel() }
        for broker in [a, b] { await broker.shutdown() }
        cluster.stop()
    }

    @Test("after the primary serving the slot dies, both brokers go on through the replica that took over")
    func failover() async throws {
        let cluster = try await RedisCluster.start()
        let prefix = "{\(RedisTest.uniquePrefix("failover"))}:"
        let slot = HashSlot.of(HashSlot.tag(of: prefix)!)
        let seeds = try await cluster.primaries(notServing: slot)
        let a = try await RedisBroker(configuration: RedisTest.configuration(port: seeds[0], prefix: prefix), logger: RedisTest.logger)
        let b = try await RedisBroker(configuration: RedisTest.configuration(port: seeds[1], prefix: prefix), logger: RedisTest.logger)
        let bob = uid("bob")
        let atB = Inbox()
        let subscription = try await b.subscribe(bob, atB.receive)
        try await a.publish(event(1), to: [bob])
        #expect(await atB.wait(for: 1) == [event(1)])

        let owner = try await cluster.owner(of: slot)
        cluster.kill(port: owner)
        // The replica is promoted once the others hold the primary for dead (node timeout 2 s).
        // Meanwhile publishing fails; then it reaches bob again, after the resync that tells his
        // subscriber what it may have missed.
        let delivered = await eventually(timeout: .seconds(30)) {
            _ = try? await a.publish(event(2), to: [bob])
            return atB.all.contains(event(2))
        }
        #expect(delivered, "received: \(atB.all)")
        #expect(await eventually(timeout: .seconds(10)) { (try? await cluster.owner(of: slot)).map { $0 != owner } ?? false })
        // Each broker's command connection comes back on its own backoff: the claims once it has.
        #expect(await eventually(timeout: .seconds(10)) { (try? await a.claim("after-failover", for: .seconds(10))) == true })
        #expect(await eventually(timeout: .seconds(10)) { (try? await b.claim("after-failover", for: .seconds(10))) == false })

        await subscription.cancel()
        for broker in [a, b] { await broker.shutdown() }
        cluster.stop()
    }
}

extension RedisClusterTests {
    @Test("a manual failover: the old primary answers MOVED, and the broker reconnects to the new one")
    func movedAfterManualFailover() async throws {
        let cluster = try await RedisCluster.start()
        let prefix = "{\(RedisTest.uniquePrefix("moved"))}:"
        let slot = HashSlot.of(HashSlot.tag(of: prefix)!)
        let broker = try await RedisBroker(configuration: RedisTest.configuration(port: cluster.nodes[0].port, prefix: prefix),
                                           logger: RedisTest.logger)
        #expect(try await broker.claim("before", for: .seconds(10)))
        let owner = try await cluster.owner(of: slot)
        // A replica is listed once every node has seen it in sync.
        var replica: Int?
        _ = await eventually(timeout: .seconds(15)) {
            replica = try? await cluster.replica(of: slot)
            return replica != nil
        }
        guard let replica else { Issue.record("slot \(slot)'s primary has no replica"); return }
        // The replica takes over with the old primary's consent; the old one stays up, a replica now.
        // Redis gives a manual failover 5 s to finish its handshake and election, else drops it
        // (rarely, on a busy machine): ask again then, up to three times.
        var tookOver = false
        for _ in 0..<3 where !tookOver {
            let failover = try await ProcessRunner.run(RedisCluster.cli, ["-p", "\(replica)", "CLUSTER", "FAILOVER"], timeout: .seconds(10))
            #expect(failover.output.contains("OK"), "\(failover.output)")
            tookOver = await eventually(timeout: .seconds(10)) { (try? await cluster.owner(of: slot)) == replica }
        }
        #expect(tookOver, "the replica on port \(replica) did not take over slot \(slot) after three manual failovers")
        // The broker's connection to the old primary is still up: its next write there is
        // refused with MOVED, which ends that connection; the one after goes to the new primary.
        #expect(await eventually(timeout: .seconds(10)) { (try? await broker.claim("after", for: .seconds(10))) == true })
        #expect(try await cluster.owner(of: slot) != owner)
        await broker.shutdown()
        cluster.stop()
    }

    @Test("an ACL user refused CLUSTER SLOTS: the broker warns, takes Redis for one server and works")
    func refusedClusterSlots() async throws {
        let redis = try await TestServices.sharedRedis()
        let admin = try await RedisTest.connection(port: redis.port)
        let user = "nocluster\(Int.random(in: 1000...9999))"
        try await admin.send(RedisCommand("ACL", "SETUSER", user, "on", ">secret", "~*", "&*", "+@all", "-cluster"))
        var configuration = RedisTest.configuration(port: redis.port)
        configuration.username = user
        configuration.password = "secret"
        let broker = try await RedisBroker(configuration: configuration, logger: RedisTest.logger)
        #expect(try await broker.claim("job", for: .seconds(10)))
        await broker.shutdown()
        try await admin.send(RedisCommand("ACL", "DELUSER", user))
        await admin.close()
    }
}

/// A Redis Cluster for one test: `primaries` redis-servers with a replica each, on free loopback
/// ports (their cluster bus ports too), set up with `redis-cli --cluster create`.
final class RedisCluster: Sendable {
    let nodes: [ServiceProcess]
    private let directory: TemporaryDirectory

    private init(nodes: [ServiceProcess], directory: TemporaryDirectory) {
        self.nodes = nodes
        self.directory = directory
    }

    /// redis-cli beside the redis-server the tests run (the same version).
    static let cli = URL(fileURLWithPath: RedisTest.executable).deletingLastPathComponent().appending(path: "redis-cli").path

    static func start(primaries: Int = 3) async throws -> RedisCluster {
        let directory = try TemporaryDirectory()
        var nodes: [ServiceProcess] = []
        for _ in 0..<(2 * primaries) {
            let bus = try FreePort.find()
            nodes.append(try await ServiceProcess.start("redis-cluster", executable: RedisTest.executable) { port in
                // Files of its own in the test's folder (a replica writes what it syncs to disk).
                ["--port", "\(port)", "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--protected-mode", "no",
                 "--dir", directory.path, "--dbfilename", "dump-\(port).rdb", "--repl-diskless-sync-delay", "0",
                 "--cluster-enabled", "yes", "--cluster-port", "\(bus)", "--cluster-node-timeout", "2000",
                 "--cluster-config-file", "nodes-\(port).conf"]
            })
        }
        let cluster = RedisCluster(nodes: nodes, directory: directory)
        let create = try await ProcessRunner.run(
            cli, ["--cluster", "create"] + nodes.map { "127.0.0.1:\($0.port)" } + ["--cluster-replicas", "1", "--cluster-yes"],
            timeout: .seconds(60))
        guard create.exitCode == 0 else {
            cluster.stop()
            throw LiveServerError(message: "redis-cli --cluster create failed: \(create.output.suffix(2000))")
        }
        // Every node must know the whole cluster, and every replica hold its primary's data (or it
        // will not take over), before a test relies on any of them.
        for node in nodes {
            let ready = await eventually(timeout: .seconds(30)) {
                let cluster = try? await ProcessRunner.run(cli, ["-p", "\(node.port)", "CLUSTER", "INFO"], timeout: .seconds(10))
                let replication = try? await ProcessRunner.run(cli, ["-p", "\(node.port)", "INFO", "replication"], timeout: .seconds(10))
                return cluster?.output.contains("cluster_state:ok") == true
                    && (replication?.output.contains("role:master") == true || replication?.output.contains("master_link_status:up") == true)
            }
            guard ready else {
                cluster.stop()
                throw LiveServerError(message: "the Redis cluster did not reach cluster_state:ok with its replicas in sync at port \(node.port)")
            }
        }
        return cluster
    }

    /// `CLUSTER SLOTS` as the first live node answers it.
    private func slots() async throws -> RESPValue {
        for node in nodes {
            guard let connection = try? await RedisTest.connection(port: node.port) else { continue }
            let reply = try? await connection.send(RedisCommand("CLUSTER", "SLOTS"))
            await connection.close()
            if let reply { return reply }
        }
        throw LiveServerError(message: "no node of the Redis cluster answered CLUSTER SLOTS")
    }

    /// The slot ranges as the first live node tells them.
    private func topology() async throws -> [ClusterSlots.Range] {
        try ClusterSlots.parse(try await slots())
    }

    /// The port of a replica of the primary that serves `slot`.
    func replica(of slot: Int) async throws -> Int {
        let range = try await slots().array?.first { range in
            guard let parts = range.array, let start = parts[0].integer, let end = parts[1].integer else { return false }
            return (Int(start)...Int(end)).contains(slot)
        }
        guard let parts = range?.array, parts.count > 3, let port = parts[3].array?[1].integer else {
            throw LiveServerError(message: "slot \(slot)'s primary has no replica")
        }
        return Int(port)
    }

    /// The port of the primary that serves `slot`.
    func owner(of slot: Int) async throws -> Int {
        guard let range = try await topology().first(where: { $0.slots.contains(slot) }) else {
            throw LiveServerError(message: "no primary serves slot \(slot)")
        }
        return range.primary.port
    }

    /// The ports of the primaries that do not serve `slot`.
    func primaries(notServing slot: Int) async throws -> [Int] {
        try await topology().filter { !$0.slots.contains(slot) }.map(\.primary.port)
    }

    /// Kills the node on `port`, as a crash would.
    func kill(port: Int) {
        nodes.first { $0.port == port }?.stop()
    }

    func stop() {
        for node in nodes { node.stop() }
    }
}
