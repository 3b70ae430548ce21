import CSQLiteTuning
import ChatCore
import Foundation
import GRDB
import Logging
import Synchronization

/// `ChatStore` on SQLite (GRDB `DatabasePool`, WAL), the embedded default.
///
/// Writes go through a group-commit writer: concurrent operations share one transaction, each
/// in its own savepoint, and every caller resumes only after the commit, so an acknowledged
/// send is durable. `synchronous = NORMAL` in WAL mode: a committed transaction is in the WAL
/// file once `COMMIT` returns, so it survives a process crash (kill -9); only an OS crash or
/// power loss may lose the last transactions. Reads run concurrently on WAL snapshots.
/// See `SQLiteSchema` for which index serves which query.
public final class SQLiteChatStore: ImmediateSubmitting {
    let pool: DatabasePool
    let writer: GroupCommitWriter
    /// What the writer keeps beside the database: counters, recent message entries (see there).
    let memory = WriterMemory()
    /// A connection of its own that copies the WAL into the database (PASSIVE checkpoints)
    /// after commits, at most every `checkpointInterval`, and not at all while nothing is
    /// written (an idle server no longer wakes up for them). SQLite's automatic checkpoint runs
    /// inside the committing writer, so its fsyncs held every queued send for tens of ms. The
    /// bigger a checkpoint, the longer the commits around it stall: at 4,500 messages/s the p99
    /// of `direct` was 50–55 ms with a checkpoint every second, 25–27 ms every 300 ms, 14–18 ms
    /// every 100 ms and 11–17 ms every 10 ms; but frequent checkpoints copy a page rewritten
    /// in between more often, and every 10 ms cost ~9% of the peak rate. 50 ms kept the peak.
    ///
    /// Under steady writes these checkpoints never catch up with the last commit (frames come in
    /// while they copy and sync), and SQLite starts the WAL over only once all of it is in the
    /// database. Left to the writer's automatic checkpoint (every 16,384 frames, half a second at
    /// 7,000 messages/s), that happened inside a commit at any time, with up to 50 ms of frames
    /// to copy besides both fsyncs: the longest batches took 11-14 ms. Instead, once the WAL
    /// holds `restartFrames`, this one syncs the database and the WAL (see `checkpoint`) and a
    /// checkpoint right after it runs on the writer between two batches: it copies and syncs
    /// only what came in meanwhile, and the next commit starts the WAL over.
    private let checkpointer: DatabaseQueue
    /// Keeps other processes out of the file while this store has it (see `DatabaseFileLock`).
    private let fileLock: DatabaseFileLock
    private let checkpointTask: Task<Void, Never>
    private let checkpointCount = CheckpointCount()
    /// How many checkpoints ran (tests check that commits cause them and idleness does not).
    var checkpoints: Int { checkpointCount.value.load(ordering: .relaxed) }
    static let checkpointInterval = Duration.milliseconds(50)
    /// SQLite in multi-thread mode without memory statistics (`webchat_sqlite_tune`), set once
    /// per process before the first connection opens: 2-3% of the server's CPU at peak went to
    /// the mutexes of the defaults. How many settings took (0 if SQLite was initialized first).
    static let tuning: Int = Int(webchat_sqlite_tune())
    private let catchUpCount = CheckpointCount()
    /// How many catch-up checkpoints ran on the writer (tests check that a long WAL causes them).
    var catchUpCheckpoints: Int { catchUpCount.value.load(ordering: .relaxed) }

    /// Opens (creating the file and its folder) the database at `path` and migrates it; an
    /// upgrade of an existing database is logged (it can take a while: see docs/OPERATIONS.md).
    /// `restartFrames`: the WAL length (4 KiB frames) from which it is started over (see `checkpointer`);
    /// `observer` hears of every batch and checkpoint (metrics).
    public init(path: String, logger: Logger = Logger(label: "webchat.sqlite"), restartFrames: Int = 8_192,
                observer: SQLiteStoreObserver? = nil) throws {
        let folder = URL(fileURLWithPath: path).deletingLastPathComponent()
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        fileLock = try DatabaseFileLock(databasePath: path)
        if Self.tuning < 2 { logger.debug("SQLite was initialized before the store: its default threading and memory statistics stay") }
        var configuration = Configuration()
        configuration.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = NORMAL")
            // Checkpoints run on `checkpointer` and catch up on the writer (see there); the
            // automatic one is only a backstop.
            try db.execute(sql: "PRAGMA wal_autocheckpoint = \(restartFrames * 4)")
            // SQLite keeps the pages a savepoint (a batch re-run after a failure) or a statement
            // may roll back in a statement journal: a temporary file by default, so every first
            // touch of a page cost a 4 KiB pwrite (~13% of the server's CPU under load, when each
            // operation had its savepoint). In memory it is a copy; durability is the WAL's, unchanged.
            try db.execute(sql: "PRAGMA temp_store = MEMORY")
        }
        configuration.busyMode = .timeout(10)
        pool = try DatabasePool(path: path, configuration: configuration)
        try Self.migrate(pool, logger: logger)
        // Commits ask for a checkpoint; asks made while one runs or waits become one.
        let (commits, committed) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        writer = GroupCommitWriter(pool: pool, onCommit: { committed.yield() }, onRollback: { [memory] in memory.forget() },
                                   onBatch: observer?.batch)
        var checkpointConfiguration = Configuration()
        checkpointConfiguration.busyMode = .timeout(10)
        let checkpointer = try DatabaseQueue(path: path, configuration: checkpointConfiguration)
        self.checkpointer = checkpointer
        checkpointTask = Task { [weak checkpointer, weak writer, checkpointCount, catchUpCount] in
            for await _ in commits {
                guard let checkpointer, let writer, !Task.isCancelled else { return }
                let wal = try? await checkpointer.writeWithoutTransaction { db in
                    try Self.checkpoint(db, onWriter: false, syncingFrom: restartFrames, observer)
                }
                checkpointCount.value.add(1, ordering: .relaxed)
                if let wal, wal.walFrameCount >= restartFrames {
                    writer.betweenBatches { db in
                        _ = try? Self.checkpoint(db, onWriter: true, observer)
                        catchUpCount.value.add(1, ordering: .relaxed)
                    }
                }
                try? await Task.sleep(for: Self.checkpointInterval)
            }
        }
    }

    deinit {
        checkpointTask.cancel()
    }

    /// Finishes the writes queued before it and closes the database, the WAL copied into the
    /// file and removed: the file alone is then the whole database. Operations after it fail.
    public func close() async throws {
        try await writer.write { _ in }
        checkpointTask.cancel()
        try checkpointer.close()
        try pool.close()
        // The pool's read-only readers close last, and such a connection leaves the WAL as it
        // is: one more connection, then the only one, copies it into the file and removes it.
        try DatabaseQueue(path: pool.path).close()
    }

    /// A PASSIVE checkpoint. With `syncingFrom`, one that leaves a WAL at least that long
    /// prepares the catch-up that follows, so that it holds the writer for less: under steady
    /// writes a checkpoint never reaches the WAL's end, and SQLite syncs the database only
    /// after one that does, so the catch-up's own sync had to flush every page the checkpointer
    /// had copied since the last catch-up, and its WAL sync every frame since this pass began.
    /// Here the checkpointer syncs both files itself and copies again what came in meanwhile,
    /// up to `prepareRounds` times or until a round copies fewer than `preparedFrames`; the
    /// catch-up then copies and syncs only the last few milliseconds' frames.
    private static func checkpoint(_ db: Database, onWriter: Bool, syncingFrom restartFrames: Int? = nil,
                                   _ observer: SQLiteStoreObserver?) throws -> (walFrameCount: Int, checkpointedFrameCount: Int) {
        let start = ContinuousClock.now
        defer { observer?.checkpoint(onWriter, .now - start) }
        var wal = try db.checkpoint(.passive)
        guard let restartFrames, wal.walFrameCount >= restartFrames else { return wal }
        for _ in 0..<prepareRounds {
            try syncFiles(db)
            let copied = wal.checkpointedFrameCount
            wal = try db.checkpoint(.passive)
            if wal.checkpointedFrameCount - copied < preparedFrames { break }
        }
        return wal
    }

    static let prepareRounds = 3
    static let preparedFrames = 64

    /// Syncs the database file and the WAL (once open) of `db`'s connection (`webchat_sqlite_sync_files`).
    static func syncFiles(_ db: Database) throws {
        let code = ResultCode(rawValue: webchat_sqlite_sync_files(UnsafeMutableRawPointer(db.sqliteConnection)))
        guard code == .SQLITE_OK else { throw DatabaseError(resultCode: code) }
    }

    /// Brings the schema up to date, saying so when an existing database is upgraded.
    private static func migrate(_ pool: DatabasePool, logger: Logger) throws {
        let migrator = SQLiteSchema.migrator
        let applied = try pool.read { db in try migrator.appliedIdentifiers(db) }
        let pending = migrator.migrations.filter { !applied.contains($0) }
        guard !applied.isEmpty, !pending.isEmpty else {
            try migrator.migrate(pool)
            return
        }
        let rewrite = pending.contains { $0.hasPrefix("v3:") }
            ? "; this rewrites the timeline and messages tables once (about 15 s per million of each on 2 cores)" : ""
        logger.notice("upgrading the database schema\(rewrite)", metadata: ["migrations": "\(pending)"])
        let start = ContinuousClock.now
        try migrator.migrate(pool)
        logger.notice("database schema upgraded", metadata: ["seconds": "\((ContinuousClock.now - start).components.seconds)"])
    }

    // MARK: Users and tokens

    public func insertUser(_ user: User, passwordHash: String?, at ts: Int64) async throws -> Bool {
        try await writer.write { db in
            try db.execute(sql: "INSERT OR IGNORE INTO users (id, name, password_hash, created_at) VALUES (?, ?, ?, ?)",
                           arguments: [user.id.rawValue, user.name, passwordHash, ts])
            return db.changesCount == 1
        }
    }

    public func user(_ id: UserID) async throws -> StoredUser? {
        try await pool.read { db in try Row.fetchOne(db, sql: "SELECT \(Row.userColumns) FROM users WHERE id = ?", arguments: [id.rawValue])?.storedUser() }
    }

    public func existingUsers(_ ids: [UserID]) async throws -> Set<UserID> {
        guard !ids.isEmpty else { return [] }
        return try await pool.read { db in
            let rows = try String.fetchAll(db, sql: "SELECT id FROM users WHERE id IN (\(placeholders(ids.count)))",
                                           arguments: StatementArguments(ids.map(\.rawValue)))
            return Set(rows.compactMap(UserID.init))
        }
    }

    public func users(withPrefix prefix: String, limit: Int) async throws -> [StoredUser] {
        try await pool.read { db in
            // A range on the primary key rather than LIKE, so the index serves it.
            try Row.fetchAll(db, sql: "SELECT \(Row.userColumns) FROM users WHERE id >= ? AND id < ? ORDER BY id LIMIT ?",
                             arguments: [prefix, prefix + "\u{10FFFF}", limit]).map { try $0.storedUser() }
        }
    }

    public func renameUser(_ id: UserID, to name: String) async throws -> User? {
        try await writer.write { db in
            try db.execute(sql: "UPDATE users SET name = ? WHERE id = ?", arguments: [name, id.rawValue])
            return db.changesCount == 1 ? User(id: id, name: name) : nil
        }
    }

    public func setLastSeen(_ id: UserID, at ts: Int64) async throws {
        try await writer.write { db in
            try db.execute(sql: "UPDATE users SET last_seen = ? WHERE id = ?", arguments: [ts, id.rawValue])
        }
    }

    public func insertToken(hash: String, user: UserID, expiresAt: Int64) async throws {
        try await writer.write { db in
            try db.execute(sql: "INSERT OR REPLACE INTO tokens (hash, user, expires_at) VALUES (?, ?, ?)",
                           arguments: [hash, user.rawValue, expiresAt])
        }
    }

    public func tokenOwner(hash: String, now: Int64) async throws -> UserID? {
        try await pool.read { db in
            try String.fetchOne(db, sql: "SELECT user FROM tokens WHERE hash = ? AND revoked = 0 AND expires_at > ?",
                                arguments: [hash, now]).flatMap(UserID.init)
        }
    }

    public func revokeToken(hash: String) async throws {
        try await writer.write { db in try db.execute(sql: "UPDATE tokens SET revoked = 1 WHERE hash = ?", arguments: [hash]) }
    }

    // MARK: Queries

    public func group(_ id: GroupID) async throws -> Group? {
        try await pool.read { db in try Self.group(id, db) }
    }

    public func contacts(of user: UserID) async throws -> [UserID] {
        try await pool.read { db in
            try String.fetchAll(db, sql: """
                SELECT DISTINCT other.user FROM members mine
                JOIN members other ON other.conversation = mine.conversation
                WHERE mine.user = ? AND other.user != ? ORDER BY other.user
                """, arguments: [user.rawValue, user.rawValue]).compactMap(UserID.init)
        }
    }

    public func conversations(of user: UserID) async throws -> [ConversationSummary] {
        try await pool.read { db in
            let rows = try Row.fetchAll(db, sql: """
                SELECT m.conversation AS cid, m.unread, m.updated_at, \(Row.wholeText("name", of: "c", as: "group_name")),
                       \(FastStatement.Columns.messageColumns("msg"))
                FROM members m
                JOIN conversations c ON c.id = m.conversation
                LEFT JOIN messages msg ON msg.conversation = m.conversation
                    AND msg.pos = (SELECT MAX(pos) FROM messages WHERE conversation = m.conversation)
                WHERE m.user = ? ORDER BY m.updated_at DESC, m.conversation DESC
                """, arguments: [user.rawValue])
            let peers = try rows.compactMap { try $0.conversationID("cid").peer(of: user) }
            let names = try Dictionary(
                Row.fetchAll(db, sql: "SELECT id, \(Row.wholeText("name")) FROM users WHERE id IN (\(placeholders(peers.count)))",
                             arguments: StatementArguments(peers.map(\.rawValue))).map { ($0["id"] as String, $0.text("name")) },
                uniquingKeysWith: { a, _ in a })
            return try rows.map { row in
                let id = try row.conversationID("cid")
                let peer = id.peer(of: user)
                let title = row.optionalText("group_name") ?? peer.flatMap { names[$0.rawValue] } ?? ""
                let last = (row["client_id"] as String?) == nil ? nil : try row.message()
                return ConversationSummary(id: id, kind: peer == nil ? .group : .dm, title: title, peer: peer, group: id.groupID,
                                           last: last, unread: row["unread"], updatedAt: row["updated_at"])
            }
        }
    }

    public func history(of conversation: ConversationID, before: Int64?, limit: Int) async throws -> HistoryPage {
        try await pool.read { db in
            let rows = try Row.fetchAll(db, sql: """
                SELECT \(FastStatement.Columns.messageColumns()), delivered_at FROM messages WHERE conversation = ? AND pos < ? ORDER BY pos DESC LIMIT ?
                """,
                                        arguments: [conversation.rawValue, before ?? Int64.max, limit + 1])
            let hasMore = rows.count > limit
            let page = try rows.prefix(limit).reversed().map { (message: try $0.message(), deliveredAt: $0["delivered_at"] as Int64?) }
            guard let low = page.first?.message.pos, let high = page.last?.message.pos else { return HistoryPage(messages: [], hasMore: false) }
            func receipts(_ table: String) throws -> [Int64: [UserID]] {
                let rows = try Row.fetchAll(db, sql: "SELECT pos, user FROM \(table) WHERE conversation = ? AND pos BETWEEN ? AND ? ORDER BY pos, ts, user",
                                            arguments: [conversation.rawValue, low, high])
                return try rows.reduce(into: [:]) { map, row in map[row["pos"] as Int64, default: []].append(try row.userID("user")) }
            }
            // A direct message's delivery is on its row (schema v5), a group message's in `deliveries`.
            let groupDeliveries = conversation.groupID == nil ? [:] : try receipts("deliveries")
            let read = try receipts("reads")
            return HistoryPage(messages: page.map { message, deliveredAt in
                let delivered = message.group == nil ? (deliveredAt == nil ? [] : message.to.map { [$0] } ?? []) : groupDeliveries[message.pos] ?? []
                return HistoryMessage(message: message, delivered: delivered, read: read[message.pos] ?? [])
            }, hasMore: hasMore)
        }
    }

    public func timeline(of user: UserID, after seq: Int64, limit: Int) async throws -> [TimelineEntry] {
        // A group message's entry holds no payload: it is the message's, read here (`length` of a
        // blob reads only its header). Nor does a group event's: it is in `shared_payloads`.
        try await pool.read { db in
            try Row.fetchAll(db, sql: """
                SELECT t.user, t.seq, t.event, COALESCE(s.payload, t.payload) AS payload, t.ts AS entry_ts,
                    \(FastStatement.Columns.messageColumns("m"))
                FROM timeline t
                LEFT JOIN shared_payloads s ON s.id = t.shared
                LEFT JOIN messages m ON t.pos IS NOT NULL AND length(t.payload) = 0 AND m.conversation = t.conversation AND m.pos = t.pos
                WHERE t.user = ? AND t.seq > ? ORDER BY t.seq LIMIT ?
                """, arguments: [user.rawValue, seq, limit]).map { row in
                let stored = [UInt8](row["payload"] as Data)
                let payload = stored.isEmpty && (row["client_id"] as String?) != nil ? JSONPayload.message(try row.message()) : stored
                return TimelineEntry(user: try row.userID("user"), seq: row["seq"], event: row["event"], payload: payload, ts: row["entry_ts"])
            }
        }
    }

    public func timelineHead(of user: UserID) async throws -> TimelineHead {
        try await pool.read { db in
            let row = try Row.fetchOne(db, sql: "SELECT \(SQLiteSchema.latestSeq) AS latest, acked_seq FROM users WHERE id = ?",
                                       arguments: [user.rawValue])
            return TimelineHead(latest: row?["latest"] ?? 0, acked: row?["acked_seq"] ?? 0)
        }
    }

    /// Deletes the entries before the first one at or after `ts`, in rowid (append, so time)
    /// order: each user loses a prefix of their timeline, as replay's `truncated` expects. At
    /// most `pruneChunk` rows per group-committed operation, so pruning a backlog never holds
    /// the writer (and every send queued behind it) for long. A group event's payload goes with
    /// the last entry naming it: the entries left are a suffix in rowid order, and payloads were
    /// stored in that order, so every one below the lowest still named is named by none.
    public func pruneTimeline(before ts: Int64) async throws {
        while try await writer.write({ db in
            guard let first = try Int64.fetchOne(db.cachedStatement(sql: "SELECT MIN(id) FROM timeline")) else { return false }
            // Scans the expired rows (in rowid order) up to the first kept one, at most a chunk.
            let end = try Int64.fetchOne(db.cachedStatement(sql: """
                SELECT id FROM timeline WHERE id >= ? AND (ts >= ? OR id >= ?) ORDER BY id LIMIT 1
                """), arguments: [first, ts, first + Self.pruneChunk]) ?? .max
            // A user's newest entries may go too: their row keeps the highest seq deleted, so that
            // seqs go on from there (`WriterMemory`).
            try db.cachedStatement(sql: """
                UPDATE users SET seq_floor = gone.seq FROM (SELECT user, MAX(seq) AS seq FROM timeline WHERE id < ? GROUP BY user) AS gone
                WHERE users.id = gone.user AND users.seq_floor < gone.seq
                """).execute(arguments: [end])
            try db.cachedStatement(sql: "DELETE FROM timeline WHERE id < ?").execute(arguments: [end])
            let deleted = db.changesCount
            try db.cachedStatement(sql: """
                DELETE FROM shared_payloads WHERE id < COALESCE(
                    (SELECT MIN(shared) FROM timeline WHERE shared IS NOT NULL), (SELECT MAX(id) + 1 FROM shared_payloads))
                """).execute()
            return deleted > 0 && end != .max
        }) {}
    }

    static let pruneChunk: Int64 = 5_000

    static func group(_ id: GroupID, _ db: Database) throws -> Group? {
        let conversation = ConversationID.group(id).rawValue
        guard let row = try Row.fetchOne(db, sql: "SELECT \(Row.wholeText("name")), owner FROM conversations WHERE id = ? AND name IS NOT NULL",
                                         arguments: [conversation]) else { return nil }
        return Group(id: id, name: row.text("name"), owner: try row.userID("owner"), members: try members(of: conversation, db))
    }

    static func members(of conversation: String, _ db: Database) throws -> [UserID] {
        try String.fetchAll(db, sql: "SELECT user FROM members WHERE conversation = ? ORDER BY rowid", arguments: [conversation])
            .compactMap(UserID.init)
    }
}

/// `?, ?, …` for an `IN (…)` list of `count` values.
func placeholders(_ count: Int) -> String {
    count == 0 ? "NULL" : Array(repeating: "?", count: count).joined(separator: ", ")
}

/// What a ``SQLiteChatStore`` reports of its writer and its checkpoints, for metrics. Both run
/// on the writer's or the checkpointer's thread: keep them short.
public struct SQLiteStoreObserver: Sendable {
    /// After every batch of the group-commit writer.
    public var batch: @Sendable (WriterBatch) -> Void
    /// After every checkpoint: `onWriter` for a catch-up between two batches (the writer waits
    /// for it), else one of the checkpointer's (beside the writer); how long it took.
    public var checkpoint: @Sendable (_ onWriter: Bool, _ duration: Duration) -> Void

    public init(batch: @escaping @Sendable (WriterBatch) -> Void,
                checkpoint: @escaping @Sendable (_ onWriter: Bool, _ duration: Duration) -> Void) {
        self.batch = batch
        self.checkpoint = checkpoint
    }
}

/// The checkpoint counter, shared with the checkpoint task.
private final class CheckpointCount: Sendable {
    let value = Atomic<Int>(0)
}
