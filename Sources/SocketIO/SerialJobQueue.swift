import Synchronization

/// Runs async jobs one at a time in the order they were enqueued.
///
/// A task exists only while jobs are waiting, and an empty queue holds no buffer: an idle queue
/// costs a few words, not a task.
package final class SerialJobQueue: Sendable {
    /// A job.
    package typealias Job = @Sendable () async -> Void

    private struct State {
        var jobs: [Job] = []
        var running = false
    }

    private let state = Mutex(State())

    /// Creates an empty queue.
    package init() {}

    /// No job is waiting or running.
    package var isIdle: Bool {
        self.state.withLock { !$0.running }
    }

    /// Adds a job; starts a draining task when none is running.
    package func enqueue(_ job: @escaping Job) {
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
        // Takes the waiting jobs in batches, so that an empty queue keeps no array storage.
        while let batch = self.state.withLock({ state -> [Job]? in
            if state.jobs.isEmpty {
                state.running = false
                return nil
            }
            defer { state.jobs = [] }
            return state.jobs
        }) {
            for job in batch { await job() }
        }
    }
}
