import ChatCore
import Testing
import TestSupport

@testable import RedisBroker

/// Envelopes lost on the publishing side: their users get a resync once the publisher's command
/// connection is back, although the subscribers' own connections never went away.
@Suite("Redis lost publishes")
struct RedisLostPublishTests {
    @Test("a failed publish and PUBLISHes unanswered when the command connection dies bring their users a resync")
    func resyncAfterLostPublishes() async throws {
        let redis = try await TestServices.startRedis()
        defer { redis.stop() }
        let configuration = Self.slowReconnecting(port: redis.port)
        let subscribing = try await RedisBroker(configuration: configuration, logger: RedisTest.logger)
        let publishing = try await RedisBroker(configuration: configuration, logger: RedisTest.logger)
        let (alice, bob, carol) = (uid("alice"), uid("bob"), uid("carol"))
        let inboxes = [Inbox(), Inbox(), Inbox()]
        for (user, inbox) in zip([alice, bob, carol], inboxes) { _ = try await subscribing.subscribe(user, inbox.receive) }
        let outside = try await RedisTest.connection(port: redis.port)

        // PUBLISH blocks while writes are paused: alice's is written and unanswered when the connection dies.
        _ = try await outside.send(RedisCommand("CLIENT", "PAUSE", "5000", "WRITE"))
        #expect(publishing.publishNow(event(1), to: [alice]))
        try await Self.killCommandConnection(of: publishing, from: outside)
        _ = try await outside.send(RedisCommand("CLIENT", "UNPAUSE"))
        // Down now: bob's message fails; carol's typing is not stored, so a resync would not bring it back.
        await #expect { try await publishing.publish(event(2), to: [bob]) } throws: { ($0 as? RedisError)?.isConnectionError == true }
        let typing = BrokerEnvelope.ephemeral(event: "typing", payload: Array("{}".utf8))
        await #expect { try await publishing.publish(typing, to: [carol]) } throws: { ($0 as? RedisError)?.isConnectionError == true }

        #expect(await eventually { inboxes[0].all.contains(.resync) })
        #expect(await eventually { inboxes[1].all == [.resync] })
        // Once: nothing more comes for them, and nothing for carol.
        try await publishing.publish(event(3), to: [alice, bob, carol])
        #expect(await eventually { inboxes.allSatisfy { $0.all.last == event(3) } })
        #expect(inboxes[0].all.filter { $0 == .resync }.count == 1 && inboxes[1].all == [.resync, event(3)])
        #expect(inboxes[2].all == [event(3)])
        await outside.close()
        await subscribing.shutdown()
        await publishing.shutdown()
    }

    @Test("beyond the bound, one resync on the cluster channel reaches every subscriber of every node")
    func resyncEveryoneBeyondBound() async throws {
        let redis = try await TestServices.startRedis()
        defer { redis.stop() }
        let configuration = Self.slowReconnecting(port: redis.port)
        let (first, second) = (try await RedisBroker(configuration: configuration, logger: RedisTest.logger),
                               try await RedisBroker(configuration: configuration, logger: RedisTest.logger))
        let publishing = try await RedisBroker(configuration: configuration, logger: RedisTest.logger)
        publishing.lostPublishes.limit = 2
        let users = ["alice", "bob", "carol", "dave"].map(uid)
        let inboxes = users.map { _ in Inbox() }
        for (n, (user, inbox)) in zip(users, inboxes).enumerated() {
            _ = try await (n < 3 ? first : second).subscribe(user, inbox.receive)
        }
        let outside = try await RedisTest.connection(port: redis.port)

        try await Self.killCommandConnection(of: publishing, from: outside)
        await #expect { try await publishing.publish(event(1), to: Array(users[0..<3])) } throws: { ($0 as? RedisError)?.isConnectionError == true }

        // Dave's envelope was not lost, but he is beyond the bound's reach too.
        for inbox in inboxes { #expect(await inbox.wait(for: 1) == [.resync]) }
        try await Task.sleep(for: .milliseconds(100))
        #expect(inboxes.allSatisfy { $0.all == [.resync] })
        // The cluster channel is subscribed again after the subscription connection comes back.
        try await Self.kill(of: first, role: "pubsub", from: outside)
        #expect(await inboxes[0].wait(for: 2) == [.resync, .resync])
        try await Self.killCommandConnection(of: publishing, from: outside)
        await #expect { try await publishing.publish(event(2), to: Array(users[0..<3])) } throws: { ($0 as? RedisError)?.isConnectionError == true }
        #expect(await inboxes[0].wait(for: 3) == [.resync, .resync, .resync])
        #expect(await inboxes[3].wait(for: 2) == [.resync, .resync])
        await outside.close()
        for node in [first, second, publishing] { await node.shutdown() }
    }

    @Test("each connection is named after its node and role")
    func clientNames() async throws {
        let redis = try await TestServices.sharedRedis()
        let node = try await RedisTest.broker()
        let outside = try await RedisTest.connection(port: redis.port)
        let names = try await Self.clients(outside).compactMap { $0["name"] }
        #expect(names.contains("webchat:\(node.nodeID):commands") && names.contains("webchat:\(node.nodeID):pubsub"))
        await outside.close()
        await node.shutdown()
    }

    /// The test configuration, with a reconnect delay long enough to publish while a connection is down.
    private static func slowReconnecting(port: Int) -> RedisBrokerConfiguration {
        var configuration = RedisTest.configuration(port: port)
        configuration.minimumReconnectDelay = .milliseconds(600)
        configuration.maximumReconnectDelay = .milliseconds(600)
        return configuration
    }

    private static func killCommandConnection(of node: RedisBroker, from outside: RedisConnection) async throws {
        try await kill(of: node, role: "commands", from: outside)
        #expect(await eventually { node.commands.epoch == nil })
    }

    /// Ends the node's connection for `role` from Redis's side (`CLIENT KILL`), by its name.
    private static func kill(of node: RedisBroker, role: String, from outside: RedisConnection) async throws {
        let client = try await clients(outside).first { $0["name"] == "webchat:\(node.nodeID):\(role)" }
        let id = try #require(client?["id"])
        #expect(try await outside.send(RedisCommand("CLIENT", "KILL", "ID", id)) == .integer(1))
    }

    /// `CLIENT LIST`, each client's fields by name.
    private static func clients(_ outside: RedisConnection) async throws -> [[String: String]] {
        let list = try await outside.send(RedisCommand("CLIENT", "LIST")).string ?? ""
        return list.split(separator: "\n").map { line in
            Dictionary(line.split(separator: " ").map { field in
                let pair = field.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                return (String(pair[0]), pair.count == 2 ? String(pair[1]) : "")
            }, uniquingKeysWith: { first, _ in first })
        }
    }
}
