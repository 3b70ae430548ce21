@testable import ChatDynamoDB
import ChatCore
import Foundation
import Testing

/// Acks and reads of more messages than one transaction holds are split into several, each
/// marking its messages with the receipts that report them: every message once, nothing lost.
@Suite struct DynamoDBSplitTests {
    @Test func largeAcknowledgementsAndReads() async throws {
        let store = try await Moto.store()
        let users = try await makeUsers(store, ["alice", "bob"])
        let (alice, bob) = (users[0], users[1])
        let chat = service(store)
        let count = 105
        for i in 0..<count { _ = try await chat.send(from: alice, SendRequest(id: "m\(i)", to: bob, body: "\(i)")) }

        let delivered: PayloadEncoder<DeliveredMessages> = { d in
            JSONPayload.receipt(ReceiptEvent(conversation: d.conversation, ids: d.ids, by: d.recipient, status: .delivered, ts: 5))
        }
        let acked = try await store.acknowledge([UserAcks(user: bob, seqs: Array(1...Int64(count)))], at: 5, receipt: delivered)
        #expect(acked.count == 2 && acked.allSatisfy { $0.user == alice })
        let deliveredIDs = try acked.flatMap { try json($0.payload)["ids"] as? [String] ?? [] }
        #expect(deliveredIDs == (0..<count).map { "m\($0)" })
        #expect(try await store.timelineHead(of: bob) == TimelineHead(latest: Int64(count), acked: Int64(count)))
        #expect(try await store.acknowledge([UserAcks(user: bob, seqs: Array(1...Int64(count)))], at: 6, receipt: delivered).isEmpty)

        let ids = (0..<100).map { "m\($0)" }
        try await chat.markRead(by: bob, conversation: .direct(alice, bob), ids: ids)
        let reads = try await store.timeline(of: alice, after: 2, limit: 10).map { try json($0.payload) }
        #expect(reads.count == 2 && reads.allSatisfy { $0["status"] as? String == "read" })
        #expect(reads.flatMap { $0["ids"] as? [String] ?? [] } == ids)
        #expect(try await store.conversations(of: bob).map(\.unread) == [count - 100])

        var page = try await store.history(of: .direct(alice, bob), before: nil, limit: 100)
        #expect(page.messages.allSatisfy { $0.delivered == [bob] })
        #expect(page.messages.map { $0.read.count } == Array(repeating: 1, count: 95) + Array(repeating: 0, count: 5))
        page = try await store.history(of: .direct(alice, bob), before: 6, limit: 100)
        #expect(page.messages.map(\.message.pos) == [1, 2, 3, 4, 5] && !page.hasMore)
        try await store.shutdown()
    }

    @Test func prefixSearchWalksTheIndexPartitionsInOrder() async throws {
        let store = try await Moto.store()
        try await makeUsers(store, ["zz9", "b12", "abb", "0ab", "aaa", "9zz", "a.b"])
        func search(_ prefix: String, _ limit: Int) async throws -> [String] {
            try await store.users(withPrefix: prefix, limit: limit).map(\.user.id.rawValue)
        }
        #expect(try await search("", 4) == ["0ab", "9zz", "a.b", "aaa"])
        #expect(try await search("", 100) == ["0ab", "9zz", "a.b", "aaa", "abb", "b12", "zz9"])
        #expect(try await search("a", 100) == ["a.b", "aaa", "abb"])
        #expect(try await search("ab", 100) == ["abb"])
        #expect(try await search("a.", 1) == ["a.b"])
        #expect(try await search("_", 10).isEmpty)
        #expect(try await search("c", 10).isEmpty)
        try await store.shutdown()
    }
}
