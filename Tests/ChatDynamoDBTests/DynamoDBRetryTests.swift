@testable import ChatDynamoDB
import ChatCore
import Foundation
import Testing

/// Single conditional writes the client retried after their answer was lost (a read timeout
/// once the service had applied them): the retry's failed condition is their own write.
@Suite struct DynamoDBRetryTests {
    @Test func aSignUpWhoseAnswerWasLostSucceeds() async throws {
        let store = try await Moto.store()
        let alice = UserID("alice")!
        store.client.hooks.answersToLose.withLock { $0["PutItem"] = 1 }
        #expect(try await store.insertUser(User(id: alice, name: "Alice"), passwordHash: "h1", at: 1))
        #expect(try await store.user(alice)?.passwordHash == "h1")

        // Another sign-up for the taken id, its answer lost too: still taken.
        store.client.hooks.answersToLose.withLock { $0["PutItem"] = 1 }
        #expect(try await !store.insertUser(User(id: alice, name: "Alice"), passwordHash: "h2", at: 1))
        // The very same sign-up again, nothing lost: taken (only a retry can be its own write).
        #expect(try await !store.insertUser(User(id: alice, name: "Alice"), passwordHash: "h1", at: 1))
        #expect(try await store.user(alice)?.passwordHash == "h1")
        try await store.shutdown()
    }

    /// Claiming a stalled fan-out whose answer was lost: the claim is this node's, and it
    /// finishes the fan-out there and then.
    @Test func aClaimWhoseAnswerWasLostHolds() async throws {
        let (crashing, survivor, users) = try await nodesWithACrashingFanOut(users: 60, tag: "l", chunks: 0)
        _ = try? await crashing.createGroup(Group(id: .random(), name: "g", owner: users[0], members: users), at: 1, event: Array("{}".utf8))
        var served = 0
        for user in users where !(try await survivor.timeline(of: user, after: 0, limit: 10).isEmpty) { served += 1 }
        #expect(served > 0 && served < users.count)

        survivor.client.hooks.answersToLose.withLock { $0["UpdateItem"] = 1 }
        let resumed = try await survivor.resumePendingFanOuts(olderThan: .zero)
        #expect(resumed.count == users.count - served)
        #expect(try await survivor.client.scan(QueryInput(TableName: survivor.tables.outbox)).Items?.isEmpty == true)
        for store in [crashing, survivor] { try await store.shutdown() }
    }
}
