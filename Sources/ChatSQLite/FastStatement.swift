import ChatCore
import GRDB
import GRDBSQLite

/// A statement of GRDB's per-connection cache run through SQLite's C API: bind, step, reset.
///
/// For the statements of the message path (a handful per message and per ack), where GRDB's
/// boxed `StatementArguments`, its row objects and its per-execution bookkeeping cost about as
/// much as SQLite's own work. Only for plain inserts, updates and queries inside the writer's
/// transaction: nothing here observes transactions, and GRDB keeps owning the statement (it
/// resets and rebinds it before any use of its own).
struct FastStatement {
    private let handle: OpaquePointer
    private var index: Int32 = 0

    init(_ db: Database, _ sql: String) throws {
        self.handle = try db.cachedStatement(sql: sql).sqliteStatement
        sqlite3_reset(self.handle)
    }

    mutating func bind(_ value: Int64) {
        self.index += 1
        sqlite3_bind_int64(self.handle, self.index, value)
    }

    mutating func bind(_ value: Int64?) {
        guard let value else { return self.bindNull() }
        self.bind(value)
    }

    mutating func bind(_ value: String) {
        self.index += 1
        let index = self.index
        var value = value
        // With its length: a NUL inside the text must not end it.
        value.withUTF8 { bytes in
            bytes.withMemoryRebound(to: CChar.self) { chars in
                // A non-nil pointer even when empty: a NULL one would store NULL, not "".
                // (A failed bind leaves NULL, which the NOT NULL columns then refuse at the step.)
                _ = sqlite3_bind_text(self.handle, index, chars.baseAddress ?? emptyText, Int32(chars.count), transient)
            }
        }
    }

    mutating func bind(_ value: String?) {
        guard let value else { return self.bindNull() }
        self.bind(value)
    }

    private mutating func bindNull() {
        self.index += 1
        sqlite3_bind_null(self.handle, self.index)
    }

    mutating func bind(blob value: [UInt8]) {
        self.index += 1
        let index = self.index
        value.withUnsafeBytes { bytes in
            // A non-nil pointer even when empty: a NULL one would store NULL, not an empty blob.
            _ = sqlite3_bind_blob(self.handle, index, bytes.baseAddress ?? UnsafeRawPointer(emptyText), Int32(bytes.count), transient)
        }
    }

    /// Runs the statement to completion.
    func execute() throws {
        defer { sqlite3_reset(self.handle) }
        var code = sqlite3_step(self.handle)
        while code == SQLITE_ROW { code = sqlite3_step(self.handle) }
        guard code == SQLITE_DONE else { throw self.error(code) }
    }

    /// Runs the statement to completion; the first row decoded by `row`, nil without rows.
    func fetchOne<T>(_ row: (Columns) throws -> T) throws -> T? {
        defer { sqlite3_reset(self.handle) }
        var code = sqlite3_step(self.handle)
        var result: T?
        if code == SQLITE_ROW {
            result = try row(Columns(handle: self.handle))
            code = sqlite3_step(self.handle)
            while code == SQLITE_ROW { code = sqlite3_step(self.handle) }
        }
        guard code == SQLITE_DONE else { throw self.error(code) }
        return result
    }

    /// The first column of the first row as an integer, nil without rows.
    func fetchInt64() throws -> Int64? {
        try self.fetchOne { $0.int64(0) }
    }

    private func error(_ code: Int32) -> DatabaseError {
        let message = sqlite3_errmsg(sqlite3_db_handle(self.handle)).map { String(cString: $0) }
        let sql = sqlite3_sql(self.handle).map { String(cString: $0) }
        return DatabaseError(resultCode: ResultCode(rawValue: code), message: message, sql: sql)
    }

    /// The columns of the current row.
    struct Columns {
        fileprivate let handle: OpaquePointer

        func int64(_ column: Int32) -> Int64 {
            sqlite3_column_int64(self.handle, column)
        }

        func string(_ column: Int32) -> String? {
            guard let text = sqlite3_column_text(self.handle, column) else { return nil }
            let count = Int(sqlite3_column_bytes(self.handle, column))
            return String(decoding: UnsafeBufferPointer(start: text, count: count), as: UTF8.self)
        }

        /// The `messages` columns ``message()`` (and `Row.message()`) reads, in its order, each
        /// prefixed with `table` and a dot when given (`SELECT \(messageColumns("m")) FROM messages m …`);
        /// the body whole (`Row.wholeText(_:of:as:)`).
        static func messageColumns(_ table: String? = nil) -> String {
            let prefix = table.map { $0 + "." } ?? ""
            return messageColumnNames.map { $0 == "body" ? Row.wholeText($0, of: table) : prefix + $0 }.joined(separator: ", ")
        }

        private static let messageColumnNames = ["conversation", "pos", "client_id", "sender", "recipient", "group_id", "body", "ts"]

        /// A `messages` row selected as ``messageColumns(_:)``.
        func message() throws -> Message {
            guard let conversation = self.string(0).flatMap(ConversationID.init) else { throw CorruptRow(column: "conversation") }
            guard let sender = self.string(3).flatMap(UserID.init) else { throw CorruptRow(column: "sender") }
            let recipient = try self.string(4).map { raw in
                guard let id = UserID(raw) else { throw CorruptRow(column: "recipient") }
                return id
            }
            return Message(id: self.string(2) ?? "", conversation: conversation, from: sender, to: recipient,
                           group: self.string(5).flatMap(GroupID.init), body: self.string(6) ?? "", ts: self.int64(7), pos: self.int64(1))
        }
    }
}

/// SQLite copies the bound value (the Swift buffer does not outlive the call).
private let transient = unsafeBitCast(OpaquePointer(bitPattern: -1), to: sqlite3_destructor_type.self)

/// A valid pointer for empty text or blobs (the length says they are empty); never written, so
/// sharing it across threads is safe.
nonisolated(unsafe) private let emptyText: UnsafePointer<CChar> = {
    let pointer = UnsafeMutablePointer<CChar>.allocate(capacity: 1)
    pointer.initialize(to: 0)
    return UnsafePointer(pointer)
}()
