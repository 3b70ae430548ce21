import ChatCore

// What the store's items hold, and their conversion from and to domain values. A malformed
// item (which only a bug or a hand edit makes) is an `invalidResponse` naming the attribute.

extension Dictionary where Key == String, Value == AttributeValue {
    func string(_ name: String) throws -> String {
        guard let value = self[name]?.string else { throw corrupt(name) }
        return value
    }

    func int(_ name: String) throws -> Int64 {
        guard let value = self[name]?.int64 else { throw corrupt(name) }
        return value
    }

    func userID(_ name: String) throws -> UserID {
        guard let value = self[name]?.string.flatMap(UserID.init) else { throw corrupt(name) }
        return value
    }

    func conversationID(_ name: String) throws -> ConversationID {
        guard let value = self[name]?.string.flatMap(ConversationID.init) else { throw corrupt(name) }
        return value
    }

    func userIDs(_ name: String) throws -> [UserID] {
        guard let values = self[name]?.stringList else { throw corrupt(name) }
        return try values.map { raw in
            guard let id = UserID(raw) else { throw corrupt(name) }
            return id
        }
    }

    /// A map of user ids to ms (who received or read a message, and when), ordered by time,
    /// then id: the order the SQLite store lists them in.
    func receiptList(_ name: String) -> [UserID] {
        let marks = (self[name]?.map ?? [:]).compactMap { key, value in UserID(key).map { ($0, value.int64 ?? 0) } }
        return marks.sorted { $0.1 == $1.1 ? $0.0 < $1.0 : $0.1 < $1.1 }.map(\.0)
    }

    private func corrupt(_ name: String) -> DynamoDBError {
        .invalidResponse("stored item has no valid '\(name)': \(self.keys.sorted())")
    }
}

extension Message {
    /// The names of ``attributes``: what reading a message back needs of its item (not the
    /// receipts, which grow with a group's size).
    static let attributeNames = ["conversation", "pos", "cid", "from", "body", "ts", "to", "group"]

    /// The attributes of a message (also the call log's copy of a conversation's last one).
    var attributes: Item {
        var item: Item = ["conversation": .s(conversation.rawValue), "pos": .int(pos), "cid": .s(id), "from": .s(from.rawValue),
                          "body": .s(body), "ts": .int(ts)]
        if let to { item["to"] = .s(to.rawValue) }
        if let group { item["group"] = .s(group.rawValue) }
        return item
    }

    /// A `messages` item: the attributes and the empty delivered and read maps that receipts fill.
    var newItem: Item {
        var item = attributes
        item["delivered"] = .m([:])
        item["read"] = .m([:])
        return item
    }

    init(item: Item) throws {
        self.init(id: try item.string("cid"), conversation: try item.conversationID("conversation"), from: try item.userID("from"),
                  to: item["to"]?.string.flatMap(UserID.init), group: item["group"]?.string.flatMap(GroupID.init),
                  body: try item.string("body"), ts: try item.int("ts"), pos: try item.int("pos"))
    }
}

extension StoredUser {
    init(item: Item) throws {
        self.init(user: User(id: try item.userID("id"), name: try item.string("name")), passwordHash: item["hash"]?.string,
                  lastSeen: item["lastSeen"]?.int64)
    }
}

extension TimelineEntry {
    /// A `timeline` item as an entry; `payload` is its payload when the item holds none
    /// (`StoredPayload`), read from where it is kept.
    init(item: Item, payload kept: [UInt8]? = nil) throws {
        guard let payload = item["payload"]?.bytes ?? kept else {
            throw DynamoDBError.invalidResponse("timeline item without payload, and none where it refers: \(item.keys.sorted())")
        }
        self.init(user: try item.userID("user"), seq: try item.int("seq"), event: try item.string("event"), payload: payload, ts: try item.int("ts"))
    }
}

/// A `conversations` item: a direct conversation (created by its first message) or a group.
///
/// `members` in join order is the truth about membership (one item, so changing it is atomic
/// whatever the group's size); `memberships` items are the per-user index of it. `pos` is the
/// last position given out, `ver` rises with every change (writes condition on it), `last` is a
/// copy of the newest message for the call log, and `pending` names the outbox item of a
/// fan-out still running (see `FanOut`).
struct ConversationRecord: Sendable {
    var id: ConversationID
    var name: String?
    var owner: UserID?
    var members: [UserID]
    var pos: Int64
    var ver: Int64
    var last: Message?
    var pending: String?

    var isGroup: Bool { id.groupID != nil }

    init(item: Item) throws {
        id = try item.conversationID("id")
        name = item["name"]?.string
        owner = item["owner"]?.string.flatMap(UserID.init)
        members = try item.userIDs("members")
        pos = try item.int("pos")
        ver = try item.int("ver")
        last = try item["last"]?.map.map(Message.init(item:))
        pending = item["pending"]?.string
    }

    /// The group, for a group conversation.
    var group: Group? {
        guard let groupID = id.groupID, let name, let owner else { return nil }
        return Group(id: groupID, name: name, owner: owner, members: members)
    }
}
