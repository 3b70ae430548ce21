import GRDB
import Synchronization

/// Batches concurrent write operations into one transaction (group commit).
///
/// Callers enqueue an operation and await its own result. One drain task at a time takes
/// everything queued (up to `maxBatch`), runs each operation inside its own savepoint of one
/// `write` transaction, commits, and only then resumes the callers. A failing operation rolls
/// back its savepoint and fails alone; a failing commit fails the whole batch.
final class GroupCommitWriter: Sendable {
    private struct Pending: Sendable {
        /// Runs the operation in a savepoint; returns what to do once the transaction committed.
        let run: @Sendable (Database) -> @Sendable () -> Void
        /// Reports a failure of the whole transaction.
        let fail: @Sendable (any Error) -> Void
    }

    private struct State {
        var queue: [Pending] = []
        var draining = false
    }

    private let pool: DatabasePool
    private let maxBatch: Int
    private let state = Mutex(State())
    private let transactionCount = Atomic<Int>(0)

    /// How many transactions were committed or attempted (tests check that batching happens).
    var transactions: Int { transactionCount.load(ordering: .relaxed) }

    init(pool: DatabasePool, maxBatch: Int = 512) {
        self.pool = pool
        self.maxBatch = maxBatch
    }

    /// Runs `operation` in the next group-committed transaction; returns after the commit.
    func write<T: Sendable>(_ operation: @escaping @Sendable (Database) throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            submit(operation) { continuation.resume(with: $0) }
        }
    }

    /// Queues `operation` behind everything submitted before (operations run in submission order)
    /// and returns at once; `completion` runs with its result after the transaction committed
    /// (or failed), in submission order, on the writer's drain task: keep it short.
    func submit<T: Sendable>(_ operation: @escaping @Sendable (Database) throws -> T,
                             completion: @escaping @Sendable (Result<T, any Error>) -> Void) {
        let pending = Pending(
            run: { db in
                do {
                    var result: T?
                    try db.inSavepoint {
                        result = try operation(db)
                        return .commit
                    }
                    let value = result!
                    return { completion(.success(value)) }
                } catch {
                    return { completion(.failure(error)) }
                }
            },
            fail: { completion(.failure($0)) }
        )
        let startDrain = state.withLock { state in
            state.queue.append(pending)
            guard !state.draining else { return false }
            state.draining = true
            return true
        }
        if startDrain { Task { await self.drain() } }
    }

    private func drain() async {
        while true {
            let batch = state.withLock { state in
                let batch = Array(state.queue.prefix(maxBatch))
                state.queue.removeFirst(batch.count)
                if batch.isEmpty { state.draining = false }
                return batch
            }
            if batch.isEmpty { return }
            transactionCount.add(1, ordering: .relaxed)
            do {
                let completions = try await pool.write { db in batch.map { $0.run(db) } }
                for complete in completions { complete() }
            } catch {
                for pending in batch { pending.fail(error) }
            }
        }
    }
}
