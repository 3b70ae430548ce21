import Synchronization

/// Runs async jobs one at a time in the order they were enqueued; a task exists only while
/// jobs wait. Used to publish committed timeline entries in commit order without making the
/// store's writer await the broker.
final class SerialJobs: Sendable {
    typealias Job = @Sendable () async -> Void
    private struct State {
        var jobs: [Job] = []
        var running = false
    }
    private let state = Mutex(State())

    func enqueue(_ job: @escaping Job) {
        let start = state.withLock { state -> Bool in
            state.jobs.append(job)
            guard !state.running else { return false }
            state.running = true
            return true
        }
        if start { Task { await self.drain() } }
    }

    private func drain() async {
        while true {
            let jobs = state.withLock { state -> [Job] in
                let jobs = state.jobs
                state.jobs = []
                if jobs.isEmpty { state.running = false }
                return jobs
            }
            if jobs.isEmpty { return }
            for job in jobs { await job() }
        }
    }
}

/// A result that arrives later, awaited by any number of tasks.
final class Promise<Value: Sendable, Failure: Error>: Sendable {
    typealias Callback = @Sendable (Result<Value, Failure>) -> Void
    private enum State {
        case pending([Callback])
        case done(Result<Value, Failure>)
    }
    private let state = Mutex(State.pending([]))

    /// Sets the result (the first one wins) and calls back whoever waits, on this thread.
    func complete(_ result: Result<Value, Failure>) {
        let waiters = state.withLock { state -> [Callback] in
            guard case .pending(let waiters) = state else { return [] }
            state = .done(result)
            return waiters
        }
        for waiter in waiters { waiter(result) }
    }

    /// Calls `callback` with the result: at once if it is known, else where `complete` runs.
    func whenComplete(_ callback: @escaping Callback) {
        let done = state.withLock { state -> Result<Value, Failure>? in
            switch state {
            case .pending(var waiters):
                waiters.append(callback)
                state = .pending(waiters)
                return nil
            case .done(let result):
                return result
            }
        }
        if let done { callback(done) }
    }

    var result: Result<Value, Failure> {
        get async {
            await withCheckedContinuation { continuation in whenComplete { continuation.resume(returning: $0) } }
        }
    }
}

/// Collects acks of timeline entries while the previous batch is being written, so that
/// many acks (of many users) become one store operation: each user's acked mark is raised
/// once per batch, each acked message's delivery is recorded.
final class AckCoalescer: Sendable {
    private struct State {
        var order: [UserID] = []
        var acks: [UserID: UserAcks] = [:]
        var waiters: [CheckedContinuation<Void, Never>] = []
        var flushing = false
    }
    private let state = Mutex(State())

    /// Adds an ack (of an entry that may be a message unless `mayBeMessage` is false: then it
    /// only raises the acked mark); returns `true` if the caller must start a flush task.
    func add(user: UserID, seq: Int64, mayBeMessage: Bool = true, waiter: CheckedContinuation<Void, Never>?) -> Bool {
        state.withLock { state in
            if state.acks[user] == nil { state.order.append(user) }
            state.acks[user, default: UserAcks(user: user, seqs: [])].add(seq, mayBeMessage: mayBeMessage)
            if let waiter { state.waiters.append(waiter) }
            guard !state.flushing else { return false }
            state.flushing = true
            return true
        }
    }

    /// Takes what is queued; an empty batch ends the flush.
    func take() -> (acks: [UserAcks], waiters: [CheckedContinuation<Void, Never>]) {
        state.withLock { state in
            let acks = state.order.map { state.acks[$0]! }
            let waiters = state.waiters
            // The next batch is usually about as large: its users go into the same storage
            // rather than into a table grown from nothing again (unless a burst made it large).
            let keep = acks.count <= 256
            state.order.removeAll(keepingCapacity: keep)
            state.acks.removeAll(keepingCapacity: keep)
            state.waiters = []
            if acks.isEmpty { state.flushing = false }
            return (acks, waiters)
        }
    }
}

extension UserAcks {
    mutating func add(_ seq: Int64, mayBeMessage: Bool) {
        if mayBeMessage { seqs.append(seq) }
        highest = max(highest, seq)
    }
}
