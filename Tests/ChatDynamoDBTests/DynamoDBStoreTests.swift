@testable import ChatDynamoDB
import ChatCore
import Foundation
import Logging
import ServiceLifecycle
import Synchronization
import Testing

/// The store on moto: what the contract suites (Tests/ChatCoreTests) cannot show with one store.
@Suite struct DynamoDBStoreTests {
    @Test func tablesAreCreatedOnceAndFoundAgain() async throws {
        let prefix = Moto.prefix()
        let first = try await Moto.store(prefix: prefix)
        try await makeUsers(first, ["alice"])
        // A second node on existing tables, creating nothing and seeing the first one's data.
        let configuration = try await Moto.configuration(prefix: prefix, createTables: false)
        let second = try await DynamoDBChatStore(configuration: configuration, logger: Moto.logger)
        #expect(try await second.user(UserID("alice")!)?.user.name == "alice")
        let third = try await Moto.store(prefix: prefix)
        #expect(try await third.existingUsers([UserID("alice")!, UserID("bob")!]) == [UserID("alice")!])

        let missing = try await Moto.configuration(prefix: Moto.prefix(), createTables: false)
        await #expect { try await DynamoDBChatStore(configuration: missing, logger: Moto.logger) } throws: { error in
            guard let error = error as? DynamoDBError else { return false }
            return error.code == .resourceNotFound && error.message.contains(missing.tablePrefix + "users")
        }
        for store in [first, second, third] { try await store.shutdown() }
    }

    /// The tables record the broker their first Redis node used; a node with another, or with
    /// the in-process broker once one is recorded, is refused with both named.
    @Test func tablesRecordTheirBroker() async throws {
        let prefix = Moto.prefix()
        let first = try await Moto.store(prefix: prefix)
        let second = try await Moto.store(prefix: prefix)
        // Before any Redis node: an in-process node records nothing and is let in.
        try await first.bind(toBroker: nil)
        try await first.bind(toBroker: "Redis key prefix 'webchat:' in database 0")
        try await second.bind(toBroker: "Redis key prefix 'webchat:' in database 0")
        for other in ["Redis key prefix 'other:' in database 0", nil] {
            await #expect { try await second.bind(toBroker: other) } throws: { error in
                guard let error = error as? DynamoDBError, error.code == .invalidConfiguration else { return false }
                return error.message.contains("share the broker Redis key prefix 'webchat:' in database 0")
                    && error.message.contains(other ?? "in-process broker") && error.message.contains(prefix + "message_ids")
            }
        }
        // Other tables record their own.
        let elsewhere = try await Moto.store()
        try await elsewhere.bind(toBroker: "Redis key prefix 'other:' in database 0")
        for store in [first, second, elsewhere] { try await store.shutdown() }
    }

    /// Two nodes on the same tables send to the same recipient, in the same direct conversations
    /// and the same group at once: they conflict, retry, and every seq and position is given once.
    @Test func twoNodesKeepSeqsAndPositionsGapFree() async throws {
        let prefix = Moto.prefix()
        let nodes = [try await Moto.store(prefix: prefix), try await Moto.store(prefix: prefix)]
        let users = try await makeUsers(nodes[0], ["bob", "s1", "s2", "s3"])
        let services = nodes.map { service($0) }
        let group = try await services[0].createGroup(by: users[1], name: "g", members: users)
        let count = 48
        let sent = try await withThrowingTaskGroup(of: Message.self) { tasks in
            for i in 0..<count {
                let sender = users[1 + i % 3]
                for (n, request) in [SendRequest(id: "d\(i)", to: users[0], body: "d\(i)"), SendRequest(id: "g\(i)", group: group.id, body: "g\(i)")].enumerated() {
                    tasks.addTask { try await services[(i + n) % 2].send(from: sender, request) }
                    // The same send again on the other node: answered with the original.
                    if i < 6 { tasks.addTask { try await services[(i + n + 1) % 2].send(from: sender, request) } }
                }
            }
            return try await tasks.reduce(into: [Message]()) { $0.append($1) }
        }
        #expect(Set(sent.map { "\($0.from)/\($0.id)" }).count == 2 * count)
        let bob = try await nodes[1].timeline(of: users[0], after: 0, limit: 1000)
        #expect(bob.map(\.seq) == Array(1...Int64(1 + 2 * count)))
        #expect(try await nodes[1].timelineHead(of: users[0]).latest == Int64(1 + 2 * count))
        for sender in users.dropFirst() {
            let history = try await nodes[0].history(of: .direct(sender, users[0]), before: nil, limit: 100)
            #expect(history.messages.map(\.message.pos) == Array(1...Int64(count / 3)))
            // The group's event, then the other two senders' group messages.
            #expect(try await nodes[0].timeline(of: sender, after: 0, limit: 1000).map(\.seq) == Array(1...Int64(1 + 2 * count / 3)))
        }
        let groupHistory = try await nodes[0].history(of: .group(group.id), before: nil, limit: 100)
        #expect(groupHistory.messages.map(\.message.pos) == Array(1...Int64(count)))
        // They did get in each other's way (each node alone would not: its sends take turns).
        #expect(nodes.map { $0.conflicts.load(ordering: .relaxed) }.reduce(0, +) > 0)
        #expect(nodes.allSatisfy { $0.locks.heldCount == 0 })
        for node in nodes { try await node.shutdown() }
    }

    /// A group larger than one transaction: creation, a message, an invitation and a departure
    /// each reach every member, through the outbox, which is gone afterwards.
    @Test func largeGroupReachesEveryMember() async throws {
        let store = try await Moto.store()
        let users = try await makeUsers(store, (0..<125).map { "u\($0 + 100)" })
        let chat = service(store)
        let group = try await chat.createGroup(by: users[0], name: "big", members: Array(users[1..<120]))
        #expect(group.members == Array(users[..<120]))
        let draft = MessageDraft(id: "hello", conversation: .group(group.id), from: users[5], to: nil, group: group.id, body: "hi all", ts: 2)
        guard case .created(let message, let entries) = try await store.appendMessage(draft, encode: { JSONPayload.message($0) }) else {
            Issue.record("not created")
            return
        }
        #expect(message.pos == 1)
        #expect(Set(entries.map(\.user)) == Set(users[..<120]).subtracting([users[5]]) && entries.count == 119)
        let grown = try await chat.invite(by: users[0], group: group.id, members: Array(users[120...]))
        #expect(grown.members == users)
        try await chat.removeMember(by: users[7], group: group.id, member: users[7])

        for (index, user) in users.enumerated() {
            let events = try await store.timeline(of: user, after: 0, limit: 100)
            var expected = index < 120 ? ["created", "message", "joined", "left"] : ["joined", "left"]
            if index == 5 { expected.remove(at: 1) }
            #expect(events.map(\.seq) == Array(1...Int64(expected.count)), "\(user)")
            let changes = try events.map { entry in entry.event == "message" ? "message" : try json(entry.payload)["change"] as? String ?? "?" }
            #expect(changes == expected, "\(user)")
        }
        #expect(try await store.client.scan(QueryInput(TableName: store.tables.outbox)).Items?.isEmpty == true)
        let record = try #require(try await store.client.getItem(store.tables.conversations, key: store.tables.conversation(.group(group.id))))
        #expect(record["pending"] == nil)
        #expect(try await store.group(group.id)?.members.count == 124)
        // Newcomers start with nothing unread; a member who was there has the message unread.
        #expect(try await store.conversations(of: users[122]).map(\.unread) == [0])
        #expect(try await store.conversations(of: users[1]).map(\.unread) == [1])
        #expect(try await store.conversations(of: users[7]).isEmpty)
        try await store.shutdown()
    }

    /// A process that dies part-way through a fan-out leaves its outbox; another node finishes
    /// it, and every member gets the event exactly once.
    @Test func aFanOutLeftPartWayIsFinishedByAnotherNode() async throws {
        let (crashing, survivor, users) = try await nodesWithACrashingFanOut(users: 120, tag: "m", chunks: 1)
        let group = Group(id: .random(), name: "big", owner: users[0], members: users)
        await #expect { try await crashing.createGroup(group, at: 1, event: Array(#"{"change":"created"}"#.utf8)) } throws: {
            ($0 as? DynamoDBError)?.message == StoreHooks.simulatedCrash.message
        }
        var served = Set<UserID>()
        for user in users where !(try await survivor.timeline(of: user, after: 0, limit: 10).isEmpty) { served.insert(user) }
        #expect(served.count > 0 && served.count < users.count)
        // The group exists for everyone at once; only the entries are on their way.
        #expect(try await survivor.group(group.id)?.members == users)

        let resumed = try await survivor.resumePendingFanOuts(olderThan: .zero)
        #expect(resumed.count == users.count - served.count)
        #expect(Set(resumed.map(\.user)).isDisjoint(with: served))
        for user in users {
            #expect(try await survivor.timeline(of: user, after: 0, limit: 10).map(\.seq) == [1], "\(user)")
        }
        #expect(try await survivor.resumePendingFanOuts(olderThan: .zero).isEmpty)
        #expect(try await survivor.client.scan(QueryInput(TableName: survivor.tables.outbox)).Items?.isEmpty == true)
        for store in [crashing, survivor] { try await store.shutdown() }
    }

    /// A send to a group whose previous message is still fanning out (its node died) finishes
    /// that fan-out first, so every member gets the group's messages in order.
    @Test func aSendFinishesTheConversationsStalledFanOutFirst() async throws {
        let prefix = Moto.prefix()
        let crashing = try await Moto.store(prefix: prefix)
        let survivor = try await Moto.store(prefix: prefix, fanOutLease: .zero)
        let users = try await makeUsers(crashing, (0..<60).map { "o\($0 + 100)" })
        let group = try await service(crashing).createGroup(by: users[0], name: "g", members: users)
        crashing.hooks.fanOutChunksBeforeCrash.store(0, ordering: .relaxed)
        await #expect(throws: ChatError.self) { try await service(crashing).send(from: users[1], SendRequest(id: "first", group: group.id, body: "1")) }
        let second = try await service(survivor).send(from: users[2], SendRequest(id: "second", group: group.id, body: "2"))
        #expect(second.pos == 2)
        for user in users.dropFirst(3) {
            let positions = try await survivor.timeline(of: user, after: 1, limit: 10).map { try json($0.payload)["pos"] as? Int }
            #expect(positions == [1, 2], "\(user)")
        }
        // What the survivor appended for the stalled fan-out goes to the recovery service.
        let handedOver = try await survivor.resumePendingFanOuts(olderThan: .seconds(3600))
        #expect(!handedOver.isEmpty && handedOver.allSatisfy { $0.event == "message" })
        for store in [crashing, survivor] { try await store.shutdown() }
    }

    /// One lease: the recovery service takes a fan-out over when an operation would.
    @Test func recoveryServiceUsesTheStoresLease() async throws {
        let configuration = try await Moto.configuration(prefix: Moto.prefix())
        let store = try await DynamoDBChatStore(configuration: configuration, logger: Moto.logger)
        #expect(store.fanOutLease == DynamoDBChatStore.defaultFanOutLease)
        #expect(DynamoDBFanOutRecoveryService(store: store, logger: Moto.logger) { _ in }.staleAfter == store.fanOutLease)
        #expect(DynamoDBFanOutRecoveryService(store: store, staleAfter: .zero, logger: Moto.logger) { _ in }.staleAfter == .zero)
        let quick = try await Moto.store(fanOutLease: .milliseconds(1))
        #expect(DynamoDBFanOutRecoveryService(store: quick, logger: Moto.logger) { _ in }.staleAfter == .milliseconds(1))
        for store in [store, quick] { try await store.shutdown() }
    }

    @Test func recoveryServicePublishesWhatItFinished() async throws {
        let (crashing, survivor, users) = try await nodesWithACrashingFanOut(users: 60, tag: "r", chunks: 0)
        let group = Group(id: .random(), name: "g", owner: users[0], members: users)
        _ = try? await crashing.createGroup(group, at: 1, event: Array("{}".utf8))
        var served = Set<UserID>()
        for user in users where !(try await survivor.timeline(of: user, after: 0, limit: 10).isEmpty) { served.insert(user) }
        let published = Published()
        let recovery = DynamoDBFanOutRecoveryService(store: survivor, interval: .milliseconds(20), staleAfter: .zero, logger: Moto.logger) {
            published.add($0)
        }
        let services = ServiceGroup(configuration: .init(services: [recovery], gracefulShutdownSignals: [], logger: Moto.logger))
        let running = Task { try await services.run() }
        let deadline = ContinuousClock.now + .seconds(20)
        while published.users.count < users.count - served.count, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
        await services.triggerGracefulShutdown()
        try await running.value
        #expect(!served.isEmpty && published.users == Set(users).subtracting(served))
        #expect(published.count == published.users.count)
        for store in [crashing, survivor] { try await store.shutdown() }
    }
}

/// What a recovery service published.
final class Published: Sendable {
    private let entries = Mutex<[TimelineEntry]>([])
    func add(_ new: [TimelineEntry]) { entries.withLock { $0 += new } }
    var users: Set<UserID> { Set(entries.withLock { $0.map(\.user) }) }
    var count: Int { entries.withLock { $0.count } }
}

func json(_ bytes: [UInt8]) throws -> [String: Any] {
    try #require(JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any])
}
