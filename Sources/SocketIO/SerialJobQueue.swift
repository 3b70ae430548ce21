import NIOCore
import Synchronization

/// Runs async jobs one at a time in the order they were enqueued.
///
/// A task exists only while jobs are waiting: an idle queue costs a few words, not a task.
final class SerialJobQueue: Sendable {
    typealias Job = @Sendable () async -> Void

    private struct State {
        var jobs = CircularBuffer<Job>()
        var running = false
    }

    private let state = Mutex(State())

    /// Adds a job; starts a draining task when none is running.
    func enqueue(_ job: @escaping Job) {
        let start = self.state.withLock { state -> Bool in
            state.jobs.append(job)
            if state.running { return false }
            state.running = true
            return true
        }
        if start {
            Task { await self.drain() }
        }
    }

    private func drain() async {
        while let job = self.state.withLock({ state -> Job? in
            if let job = state.jobs.popFirst() { return job }
            state.running = false
            return nil
        }) {
            await job()
        }
    }
}
