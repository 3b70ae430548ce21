import ChatCore
import Foundation
import GRDB

/// Decoding of stored ids; a malformed one means a corrupt database.
struct CorruptRow: Error, CustomStringConvertible {
    let column: String
    var description: String { "corrupt value in column \(column)" }
}

extension Row {
    func userID(_ column: String) throws -> UserID {
        guard let id = UserID(self[column] as String) else { throw CorruptRow(column: column) }
        return id
    }

    func optionalUserID(_ column: String) throws -> UserID? {
        try (self[column] as String?).map { raw in
            guard let id = UserID(raw) else { throw CorruptRow(column: column) }
            return id
        }
    }

    func conversationID(_ column: String) throws -> ConversationID {
        guard let id = ConversationID(self[column] as String) else { throw CorruptRow(column: column) }
        return id
    }

    /// A free-text column (a body, a display or group name) selected with ``wholeText(_:of:as:)``;
    /// nil if NULL.
    ///
    /// U+0000 is refused in them now, but rows from before may hold it, and GRDB decodes a text
    /// value only up to its first U+0000 (`String(cString:)`): selected as a blob, the whole text
    /// arrives. A column selected as text is taken as GRDB decoded it.
    func optionalText(_ column: String) -> String? {
        switch (self[column] as DatabaseValue).storage {
        case .blob(let bytes): String(decoding: bytes, as: UTF8.self)
        case .string(let text): text
        case .null, .int64, .double: nil
        }
    }

    func text(_ column: String) -> String {
        optionalText(column) ?? ""
    }

    /// The select-list item for free-text `column` (of `table`, if given) that
    /// ``optionalText(_:)`` reads whole, named `name` (the column's own name by default).
    static func wholeText(_ column: String, of table: String? = nil, as name: String? = nil) -> String {
        "CAST(\(table.map { $0 + "." } ?? "")\(column) AS BLOB) AS \(name ?? column)"
    }

    /// A `messages` row selected as `FastStatement.Columns.messageColumns(_:)`.
    func message() throws -> Message {
        Message(id: self["client_id"], conversation: try conversationID("conversation"), from: try userID("sender"),
                to: try optionalUserID("recipient"), group: (self["group_id"] as String?).flatMap(GroupID.init),
                body: text("body"), ts: self["ts"], pos: self["pos"])
    }

    /// The `users` columns ``storedUser()`` reads.
    static let userColumns = "id, \(wholeText("name")), password_hash, last_seen"

    /// A `users` row selected as ``userColumns``.
    func storedUser() throws -> StoredUser {
        StoredUser(user: User(id: try userID("id"), name: text("name")), passwordHash: self["password_hash"], lastSeen: self["last_seen"])
    }
}
