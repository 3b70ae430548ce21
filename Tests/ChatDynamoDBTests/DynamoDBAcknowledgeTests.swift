@testable import ChatDynamoDB
import ChatCore
import Foundation
import Testing

/// Acks on moto: deliveries are recorded before the acked mark moves.
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
}
