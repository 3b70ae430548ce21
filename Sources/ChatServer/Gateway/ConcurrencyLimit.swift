import NIOCore
import Synchronization

/// Runs at most `limit` bodies at once; the others wait, in arrival order, as continuations.
///
/// The gateway sets connections up and tears them down through one, so that a storm of
/// connections queues as a few words each instead of thousands of tasks in flight at once,
/// each with its async frames and its store work (whose transient memory the allocator keeps).
final class ConcurrencyLimit: Sendable {
    private struct State {
        var available: Int
        var waiters = CircularBuffer<CheckedContinuation<Void, Never>>(initialCapacity: 4)
    }

    private let state: Mutex<State>
    private let finished = Atomic<Int>(0)

    /// How many bodies have finished so far (a measure of activity).
    var finishedCount: Int { self.finished.load(ordering: .relaxed) }

    init(_ limit: Int) {
        precondition(limit > 0)
        self.state = Mutex(State(available: limit))
    }

    /// Runs `body` once fewer than `limit` others run.
    func run<T>(_ body: () async throws -> T) async rethrows -> T {
        await self.acquire()
        defer {
            self.finished.add(1, ordering: .relaxed)
            self.release()
        }
        return try await body()
    }

    private func acquire() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let granted = self.state.withLock { state -> Bool in
                if state.available > 0 {
                    state.available -= 1
                    return true
                }
                state.waiters.append(continuation)
                return false
            }
            if granted { continuation.resume() }
        }
    }

    private func release() {
        // The slot passes straight to the first waiter, if any.
        let next = self.state.withLock { state -> CheckedContinuation<Void, Never>? in
            if let next = state.waiters.popFirst() { return next }
            state.available += 1
            return nil
        }
        next?.resume()
    }
}
