@testable import ChatDynamoDB
import ChatCore
import Foundation
import Testing

/// Acks on moto: deliveries are recorded before the acked mark moves, and one user's failure
/// neither loses nor hides what the others' acks did.
@Suite struct DynamoDBAcknowledgeTests {
    /// Several undelivered messages acked at once: every item of the transaction that marks them
    /// supplies only the placeholders it uses (debug builds check each request before sending it,
    /// as DynamoDB does; moto does not check values in transactions).
    @Test func ackingSeveralUndeliveredMessagesInOneBatch() async throws {
        let store = try await Moto.store()
        let users = try await makeUsers(store, ["alice", "bob", "carol"])
        let (alice, bob, carol) = (users[0], users[1], users[2])
        let chat = service(store)
        for i in 0..<3 {
            _ = try await chat.send(from: alice, SendRequest(id: "a\(i)", to: bob, body: "a\(i)"))
            _ = try await chat.send(from: carol, SendRequest(id: "c\(i)", to: bob, body: "c\(i)"))
        }
        let entries = try await store.acknowledge([UserAcks(user: bob, seqs: Array(1...6))], at: 5, receipt: deliveredReceipt)
        #expect(entries.map(\.user) == [alice, carol])
        #expect(try entries.map(receiptIDs) == [["a0", "a1", "a2"], ["c0", "c1", "c2"]])
        #expect(try await store.timelineHead(of: bob) == TimelineHead(latest: 6, acked: 6))
        for sender in [alice, carol] {
            #expect(try await store.history(of: .direct(sender, bob), before: nil, limit: 10).messages.map(\.delivered) == [[bob], [bob], [bob]])
        }
        try await store.shutdown()
    }

    /// The acked mark moves only once the deliveries are recorded: entries below it are never
    /// replayed, so a delivery not recorded by then would never be.
    @Test func aFailureWhileRecordingDeliveriesLeavesTheAckedMark() async throws {
        let store = try await Moto.store()
        let users = try await makeUsers(store, ["alice", "bob"])
        let (alice, bob) = (users[0], users[1])
        let chat = service(store)
        for i in 0..<3 { _ = try await chat.send(from: alice, SendRequest(id: "m\(i)", to: bob, body: "\(i)")) }
        store.hooks.deliveryCommitsBeforeFailure.withLock { $0[bob] = 0 }
        let acks = [UserAcks(user: bob, seqs: Array(1...3))]
        await #expect { try await store.acknowledge(acks, at: 5, receipt: deliveredReceipt) } throws: {
            ($0 as? DynamoDBError)?.message == StoreHooks.simulatedFailure.message
        }
        #expect(try await store.timelineHead(of: bob) == TimelineHead(latest: 3, acked: 0))
        #expect(try await store.timeline(of: alice, after: 0, limit: 10).isEmpty)

        // Replayed and acked again: delivered now, once.
        store.hooks.deliveryCommitsBeforeFailure.withLock { $0 = [:] }
        let entries = try await store.acknowledge(acks, at: 6, receipt: deliveredReceipt)
        #expect(try entries.map(receiptIDs) == [["m0", "m1", "m2"]])
        #expect(try await store.timelineHead(of: bob) == TimelineHead(latest: 3, acked: 3))
        try await store.shutdown()
    }

    /// One user's acks failing (after part of them committed, for carol) does not cancel the
    /// others', and what was committed is returned, to be published.
    @Test func oneUsersFailureKeepsTheOthersResults() async throws {
        let store = try await Moto.store()
        let users = try await makeUsers(store, ["alice", "bob", "carol", "dave"])
        let (alice, bob, carol, dave) = (users[0], users[1], users[2], users[3])
        let chat = service(store)
        _ = try await chat.send(from: alice, SendRequest(id: "b0", to: bob, body: "b0"))
        _ = try await chat.send(from: alice, SendRequest(id: "d0", to: dave, body: "d0"))
        // More than one transaction holds: carol's deliveries take two.
        let count = 105
        for i in 0..<count { _ = try await chat.send(from: alice, SendRequest(id: "c\(i)", to: carol, body: "\(i)")) }
        store.hooks.deliveryCommitsBeforeFailure.withLock { $0 = [carol: 1, dave: 0] }

        let acks = [UserAcks(user: bob, seqs: [1]), UserAcks(user: carol, seqs: Array(1...Int64(count))), UserAcks(user: dave, seqs: [1])]
        let entries = try await store.acknowledge(acks, at: 5, receipt: deliveredReceipt)
        #expect(entries.allSatisfy { $0.user == alice })
        let reported = try entries.map(receiptIDs)
        #expect(reported.count == 2 && reported.contains(["b0"]))
        let carolsFirst = try #require(reported.first { $0 != ["b0"] })
        #expect(!carolsFirst.isEmpty && carolsFirst == (0..<carolsFirst.count).map { "c\($0)" })
        // What was returned is what was stored.
        #expect(try await store.timeline(of: alice, after: 0, limit: 10).map(\.seq).sorted() == entries.map(\.seq).sorted())
        #expect(try await store.timelineHead(of: bob).acked == 1)
        #expect(try await store.timelineHead(of: carol).acked == 0)
        #expect(try await store.timelineHead(of: dave).acked == 0)
        #expect(store.locks.heldCount == 0)
        try await store.shutdown()
    }
}
