import ChatCore
import GRDB

/// `ChatStore` on SQLite (GRDB, WAL) — implementation follows.
public final class SQLiteChatStore: Sendable {
    /// Opens (creating file and folder) the database at `path` and migrates it.
    public init(path: String) throws { fatalError() }
}
