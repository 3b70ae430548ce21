import Synchronization

/// Runs at most `limit` bodies at once; the others wait, in arrival order, as continuations.
///
/// The gateway sets connections up and tears them down through one, so that a storm of
/// connections queues as a few words each instead of thousands of tasks in flight at once,
/// each with its async frames and its store work (whose transient memory the allocator keeps);
/// endpoints catching up after a broker outage go through another (``ChatService``).
public final class ConcurrencyLimit: Sendable {
    private struct State {
        var available: Int
        var waiters = Waiters()
    }

    /// A FIFO of continuations: an array read from `head`, compacted once half of it is read.
    private struct Waiters {
        private var items: [CheckedContinuation<Bool, Never>] = []
        private var head = 0

        var count: Int { items.count - head }

        mutating func append(_ waiter: CheckedContinuation<Bool, Never>) { items.append(waiter) }

        mutating func popFirst() -> CheckedContinuation<Bool, Never>? {
            guard head < items.count else { return nil }
            let first = items[head]
            head += 1
            if head == items.count {
                items.removeAll(keepingCapacity: true)
                head = 0
            } else if head >= 64, head * 2 >= items.count {
                items.removeFirst(head)
                head = 0
            }
            return first
        }
    }

    private let state: Mutex<State>
    private let finished = Atomic<Int>(0)

    /// How many bodies have finished so far (a measure of activity).
    public var finishedCount: Int { self.finished.load(ordering: .relaxed) }

    /// How many bodies wait for a slot.
    public var waitingCount: Int { self.state.withLock { $0.waiters.count } }

    /// A limit of `limit` bodies at once (at least one).
    public init(_ limit: Int) {
        precondition(limit > 0)
        self.state = Mutex(State(available: limit))
    }

    /// Runs `body` once fewer than `limit` others run.
    public func run<T>(_ body: () async throws -> T) async rethrows -> T {
        // Never refused with no bound on the waiters.
        try await self.run(waitingAtMost: .max, body)!
    }

    /// As `run`, but nil at once, without running `body`, when `maxWaiting` others wait already.
    public func run<T>(waitingAtMost maxWaiting: Int, _ body: () async throws -> T) async rethrows -> T? {
        guard await self.acquire(waitingAtMost: maxWaiting) else { return nil }
        defer {
            self.finished.add(1, ordering: .relaxed)
            self.release()
        }
        return try await body()
    }

    private func acquire(waitingAtMost maxWaiting: Int) async -> Bool {
        await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
            enum Outcome { case granted, refused, queued }
            let outcome = self.state.withLock { state -> Outcome in
                if state.available > 0 {
                    state.available -= 1
                    return .granted
                }
                guard state.waiters.count < maxWaiting else { return .refused }
                state.waiters.append(continuation)
                return .queued
            }
            switch outcome {
            case .granted: continuation.resume(returning: true)
            case .refused: continuation.resume(returning: false)
            case .queued: break
            }
        }
    }

    private func release() {
        // The slot passes straight to the first waiter, if any.
        let next = self.state.withLock { state -> CheckedContinuation<Bool, Never>? in
            if let next = state.waiters.popFirst() { return next }
            state.available += 1
            return nil
        }
        next?.resume(returning: true)
    }
}
