import ChatCore
@testable import ChatServer
import Testing

@Suite("Failed sign-ins per user id")
struct SignInFailuresTests {
    let alice = UserID("alice")!
    let bob = UserID("bob")!

    @Test("the limit within a window refuses that id until the window has passed")
    func limit() {
        let failures = SignInFailures<UserID>(limit: 3, windowMS: 1_000)
        for t in [0, 10, 20] as [Int64] {
            #expect(failures.retryAfter(alice, at: t) == nil)
            failures.recordFailure(alice, at: t)
        }
        #expect(failures.retryAfter(alice, at: 30) == 970)
        #expect(failures.retryAfter(bob, at: 30) == nil)
        #expect(failures.retryAfter(alice, at: 1_000) == nil)
        failures.recordFailure(alice, at: 1_000)
        #expect(failures.retryAfter(alice, at: 1_001) == nil)
    }

    @Test("a success clears the count")
    func success() {
        let failures = SignInFailures<UserID>(limit: 2, windowMS: 1_000)
        failures.recordFailure(alice, at: 0)
        failures.recordSuccess(alice)
        failures.recordFailure(alice, at: 1)
        #expect(failures.retryAfter(alice, at: 2) == nil)
        failures.recordFailure(alice, at: 2)
        #expect(failures.retryAfter(alice, at: 3) != nil)
    }

    @Test("expired entries are pruned past the bound, so memory stays bounded")
    func pruning() {
        let failures = SignInFailures<UserID>(limit: 1, windowMS: 100, pruneAt: 2)
        failures.recordFailure(alice, at: 0)
        failures.recordFailure(bob, at: 0)
        failures.recordFailure(UserID("carol")!, at: 500)
        // alice's and bob's windows ended at 100: pruned when carol's made three.
        #expect(failures.trackedCount == 1)
        #expect(failures.retryAfter(UserID("carol")!, at: 501) != nil)
    }
}

@Suite("Failed sign-ins per client address")
struct SignInFailuresByAddressTests {
    @Test("a success takes back its own attempt and clears nothing else")
    func withdraw() {
        let failures = SignInFailures<String>(limit: 3, windowMS: 1_000)
        failures.recordFailure("10.0.0.1", at: 0)
        failures.recordFailure("10.0.0.1", at: 1)
        // An attempt in flight counts; its success takes back that one only.
        failures.recordFailure("10.0.0.1", at: 2)
        #expect(failures.retryAfter("10.0.0.1", at: 3) == 997)
        failures.withdrawFailure("10.0.0.1")
        #expect(failures.retryAfter("10.0.0.1", at: 3) == nil)
        failures.recordFailure("10.0.0.1", at: 4)
        #expect(failures.retryAfter("10.0.0.1", at: 5) != nil)
        // Nothing to take back: nothing is tracked.
        failures.withdrawFailure("10.0.0.2")
        #expect(failures.trackedCount == 1)
    }
}
