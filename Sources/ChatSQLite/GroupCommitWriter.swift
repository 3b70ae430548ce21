import GRDB
import Synchronization

/// Batches concurrent write operations into one transaction (group commit).
///
/// Callers enqueue an operation and await its own result (or get it in a completion). The
/// drain runs on GRDB's writer queue while anything is queued: it takes everything queued (up
/// to `maxBatch`), runs the operations in one transaction, commits, reports the results, and
/// goes on with the next batch there, without a task or a thread hop between batches. A
/// failing operation fails alone: the batch first runs without savepoints (the common case:
/// nothing fails, and SQLite journals no page per operation); if anything throws, that
/// transaction is rolled back and the batch runs again with each operation in its own
/// savepoint, so the failing one rolls back alone. A failing commit fails the whole batch.
/// Operations must therefore be safe to run twice (they only read and write the database;
/// their results are reported once).
final class GroupCommitWriter: Sendable {
    private struct Pending: Sendable {
        /// Runs the operation; returns what to do once the transaction committed. `isolated`:
        /// in its own savepoint, a failure becoming its result; else a failure is thrown.
        let run: @Sendable (Database, _ isolated: Bool) throws -> @Sendable () -> Void
        /// Reports a failure of the whole transaction.
        let fail: @Sendable (any Error) -> Void
        /// When it was queued (for `onBatch`).
        let queued: ContinuousClock.Instant
    }

    private struct State {
        var queue: [Pending] = []
        /// Jobs for the writer's connection outside a transaction, run before the next batch.
        var betweenBatches: [@Sendable (Database) -> Void] = []
        var draining = false
    }

    private let pool: DatabasePool
    private let maxBatch: Int
    private let state = Mutex(State())
    private let transactionCount = Atomic<Int>(0)

    /// How many transactions were committed or attempted (tests check that batching happens).
    var transactions: Int { transactionCount.load(ordering: .relaxed) }

    private let onCommit: @Sendable () -> Void
    private let onRollback: @Sendable () -> Void
    private let onBatch: (@Sendable (WriterBatch) -> Void)?

    /// `onCommit` runs after every committed transaction (keep it short: it delays the next);
    /// `onRollback` after every rollback, of a transaction or of an operation's savepoint, before
    /// any other operation runs (state kept beside the database forgets what was undone);
    /// `onBatch` after every batch, committed or failed, before its completions (keep it short).
    init(pool: DatabasePool, maxBatch: Int = 512, onCommit: @escaping @Sendable () -> Void = {},
         onRollback: @escaping @Sendable () -> Void = {}, onBatch: (@Sendable (WriterBatch) -> Void)? = nil) {
        self.pool = pool
        self.maxBatch = maxBatch
        self.onCommit = onCommit
        self.onRollback = onRollback
        self.onBatch = onBatch
    }

    /// Runs `operation` in the next group-committed transaction; returns after the commit.
    func write<T: Sendable>(_ operation: @escaping @Sendable (Database) throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            submit(operation) { continuation.resume(with: $0) }
        }
    }

    /// Queues `operation` behind everything submitted before (operations run in submission order)
    /// and returns at once; `completion` runs with its result after the transaction committed
    /// (or failed), in submission order, on the writer's queue: keep it short (the next batch waits).
    func submit<T: Sendable>(_ operation: @escaping @Sendable (Database) throws -> T,
                             completion: @escaping @Sendable (Result<T, any Error>) -> Void) {
        let pending = Pending(
            run: { db, isolated in
                guard isolated else {
                    let value = try operation(db)
                    return { completion(.success(value)) }
                }
                do {
                    var result: T?
                    try db.inSavepoint {
                        result = try operation(db)
                        return .commit
                    }
                    let value = result!
                    return { completion(.success(value)) }
                } catch {
                    self.onRollback()
                    return { completion(.failure(error)) }
                }
            },
            fail: { completion(.failure($0)) },
            queued: .now
        )
        enqueue { $0.queue.append(pending) }
    }

    /// Runs `job` on the writer's connection outside any transaction, once the batch under way
    /// (if any) has committed and before the next: nothing is written while it runs.
    func betweenBatches(_ job: @escaping @Sendable (Database) -> Void) {
        enqueue { $0.betweenBatches.append(job) }
    }

    private func enqueue(_ add: (inout State) -> Void) {
        let startDrain = state.withLock { state in
            add(&state)
            guard !state.draining else { return false }
            state.draining = true
            return true
        }
        if startDrain { pool.asyncWriteWithoutTransaction { db in self.drain(db) } }
    }

    /// Runs batch after batch on the writer's queue until nothing is queued.
    private func drain(_ db: Database) {
        while true {
            let (jobs, batch) = state.withLock { state in
                let jobs = state.betweenBatches
                state.betweenBatches.removeAll()
                let batch = Array(state.queue.prefix(maxBatch))
                if batch.count == state.queue.count {
                    // The batch now shares the queue's buffer: the queue gets one of the same size
                    // at once, rather than one that the next batch's submissions grow from nothing.
                    state.queue.removeAll(keepingCapacity: true)
                } else {
                    state.queue.removeFirst(batch.count)
                }
                if jobs.isEmpty, batch.isEmpty { state.draining = false }
                return (jobs, batch)
            }
            for job in jobs { job(db) }
            if batch.isEmpty {
                if jobs.isEmpty { return }
                continue
            }
            transactionCount.add(1, ordering: .relaxed)
            let started = ContinuousClock.now
            // Whether an operation threw (rather than BEGIN, COMMIT or the database under them).
            var operationThrew = false
            func commit(isolated: Bool) throws -> [@Sendable () -> Void] {
                do {
                    // Cached statements: GRDB's `inTransaction` compiles BEGIN and COMMIT afresh
                    // each time (~2% of the server's CPU at 3,500 messages/s).
                    try FastStatement(db, "BEGIN IMMEDIATE").execute()
                    let completions = try batch.map { pending in
                        do { return try pending.run(db, isolated) } catch { operationThrew = true; throw error }
                    }
                    try FastStatement(db, "COMMIT").execute()
                    return completions
                } catch {
                    // Unless SQLite already rolled back on its own (after some I/O errors).
                    if db.isInsideTransaction { try? FastStatement(db, "ROLLBACK").execute() }
                    onRollback()
                    throw error
                }
            }
            do {
                let completions: [@Sendable () -> Void]
                do {
                    completions = try commit(isolated: false)
                } catch where batch.count > 1 {
                    // An operation (or the commit) failed: nothing of the batch is kept; again,
                    // each operation in its own savepoint. (Alone, the rollback was its savepoint.)
                    transactionCount.add(1, ordering: .relaxed)
                    completions = try commit(isolated: true)
                }
                onCommit()
                report(batch, started: started, failed: false)
                for complete in completions { complete() }
            } catch {
                // Alone in its batch, an operation that threw failed by itself, as it would have
                // in its savepoint among others; anything else failed the batch as a whole.
                report(batch, started: started, failed: !(batch.count == 1 && operationThrew))
                for pending in batch { pending.fail(error) }
            }
        }
    }

    private func report(_ batch: [Pending], started: ContinuousClock.Instant, failed: Bool) {
        guard let onBatch, let oldest = batch.first else { return }
        onBatch(WriterBatch(operations: batch.count, oldestWait: started - oldest.queued, duration: .now - started, failed: failed))
    }
}

/// One batch of the group-commit writer, as reported to metrics.
public struct WriterBatch: Sendable {
    /// How many operations it held.
    public let operations: Int
    /// How long its oldest operation waited in the queue (operations run in submission order:
    /// the others waited less).
    public let oldestWait: Duration
    /// From BEGIN to the end of COMMIT (or of the failure), including a re-run with savepoints.
    public let duration: Duration
    /// The batch failed as a whole (BEGIN, COMMIT or the database under them: a storage error),
    /// not one of its operations (which fails alone, in a batch that commits the others).
    public let failed: Bool
}
