import ChatCore
import Synchronization
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

    @Test("many waiters are served in arrival order, each once")
    func manyWaitersInOrder() async throws {
        let limit = ConcurrencyLimit(1)
        let (gate, open) = AsyncStream.makeStream(of: Void.self)
        let order = Order()
        let holder = Task { await limit.run { for await _ in gate { return }; return } }
        while await limit.run(waitingAtMost: 0, { () }) != nil { await Task.yield() }
        var waiters: [Task<Void, Never>] = []
        for i in 0..<300 {
            waiters.append(Task { await limit.run { order.append(i) } })
            while limit.waitingCount < i + 1 { await Task.yield() }
        }
        open.finish()
        await holder.value
        for waiter in waiters { await waiter.value }
        #expect(order.all == Array(0..<300))
        #expect(limit.waitingCount == 0)
    }
}

/// What ran, in the order it ran.
private final class Order: Sendable {
    private let items = Mutex<[Int]>([])
    var all: [Int] { items.withLock { $0 } }
    func append(_ item: Int) { items.withLock { $0.append(item) } }
}
