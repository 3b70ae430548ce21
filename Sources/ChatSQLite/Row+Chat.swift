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

    /// A `messages` row.
    func message() throws -> Message {
        Message(id: self["client_id"], conversation: try conversationID("conversation"), from: try userID("sender"),
                to: try optionalUserID("recipient"), group: (self["group_id"] as String?).flatMap(GroupID.init),
                body: self["body"], ts: self["ts"], pos: self["pos"])
    }

    /// A `users` row.
    func storedUser() throws -> StoredUser {
        StoredUser(user: User(id: try userID("id"), name: self["name"]), passwordHash: self["password_hash"], lastSeen: self["last_seen"])
    }

    /// A `timeline` row.
    func timelineEntry() throws -> TimelineEntry {
        TimelineEntry(user: try userID("user"), seq: self["seq"], event: self["event"], payload: [UInt8](self["payload"] as Data), ts: self["ts"])
    }
}
