@testable import ChatServer
import Testing

@Suite("Concurrency limit")
struct ConcurrencyLimitTests {
    @Test("beyond the slots, bodies wait in order; beyond maxWaiting, they are refused at once")
    func waitingAtMost() async throws {
        let limit = ConcurrencyLimit(1)
        let (gate, open) = AsyncStream.makeStream(of: Void.self)
        let holder = Task { await limit.run { for await _ in gate { return "holder" }; return "holder" } }
        // Once the holder has the slot, a body that may not wait is refused.
        while await limit.run(waitingAtMost: 0, { () }) != nil { await Task.yield() }
        let waiter = Task { await limit.run(waitingAtMost: 1) { "waiter" } }
        while limit.waitingCount < 1 { await Task.yield() }
        let refused = await limit.run(waitingAtMost: 1) { "refused" }
        #expect(refused == nil)
        open.yield()
        open.finish()
        #expect(await holder.value == "holder")
        #expect(await waiter.value == "waiter")
        #expect(await limit.run(waitingAtMost: 0) { "free again" } == "free again")
    }
}
