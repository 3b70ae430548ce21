import ChatCore

/// One event for many users of a conversation: a group message, or a group's `created`,
/// `joined` or `left` event. Each recipient costs a transaction two items (their counter and
/// their entry), three when they join (their `memberships` item too).
struct FanOut: Sendable {
    var conversation: ConversationID
    var event: String
    var payload: [UInt8]
    var ts: Int64
    /// A message's position: its entries refer to it.
    var pos: Int64?
    /// Who gets the entry, in order (each once).
    var recipients: [UserID]
    /// Those of `recipients` who join: their `memberships` item is written with their entry.
    var joining: Set<UserID> = []
    /// The read position joiners start at.
    var lastRead: Int64 = 0
    /// The `messageIDs` item holding a group event's payload once for all recipients; nil for a
    /// message (its entries refer to its `messages` item) and for fan-outs an earlier version
    /// put in the outbox (their entries hold a copy).
    var shared: String?

    /// How the entries keep the payload.
    var stored: StoredPayload {
        if pos != nil { return .inMessage }
        return shared.map { .shared(key: $0) } ?? .inEntry
    }

    func cost(_ user: UserID) -> Int { joining.contains(user) ? 3 : 2 }

    /// How many transaction items the whole fan-out takes.
    var cost: Int { recipients.reduce(0) { $0 + cost($1) } }

    /// How many recipients from `start` on fit in `capacity` items.
    func fitting(from start: Int, capacity: Int) -> Int {
        var used = 0
        var count = 0
        for user in recipients[start...] {
            used += cost(user)
            guard used <= capacity else { break }
            count += 1
        }
        return count
    }

    /// The membership items and entries of `users` (some of `recipients`).
    func writes(for users: some Sequence<UserID>, _ tables: DynamoDBTables) -> (actions: [WriteAction], appends: TimelineAppends) {
        var actions: [WriteAction] = []
        var appends = TimelineAppends()
        for user in users {
            if joining.contains(user) {
                var item = tables.membership(user, conversation)
                item["joinedAt"] = .int(ts)
                item["lastRead"] = .int(lastRead)
                actions.append(.put(PutAction(tables.memberships, item)))
            }
            appends.add(user, event: event, payload: payload, ts: ts, message: pos.map { (conversation, $0) }, stored: stored)
        }
        return (actions, appends)
    }
}

/// An `outbox` item: a fan-out whose first transaction committed (with the operation's own
/// change and the first recipients' entries) and whose other recipients are being served.
///
/// Each further chunk is one transaction that appends the next recipients' entries and moves
/// `done` on, conditioned on `done` and `owner` being what the driver read, so no chunk can be
/// applied twice; the last one deletes the item and clears the conversation's `pending` mark.
/// `touched` (ms) is renewed by every chunk: once it is older than the lease, another process
/// may claim the item (conditional update of `owner` and `touched`) and finish it.
struct Outbox: Sendable {
    var id: String
    /// The rest of the fan-out: `recipients` are the ones the first transaction did not serve.
    var fanOut: FanOut
    /// How many of `fanOut.recipients` are served.
    var done: Int
    /// The node driving it.
    var owner: String
    var touched: Int64

    init(id: String, fanOut: FanOut, owner: String, touched: Int64) {
        self.id = id
        self.fanOut = fanOut
        done = 0
        self.owner = owner
        self.touched = touched
    }

    init(item: Item) throws {
        id = try item.string("id")
        var fanOut = FanOut(conversation: try item.conversationID("conversation"), event: try item.string("event"),
                            payload: item["payload"]?.bytes ?? [], ts: try item.int("ts"), pos: item["pos"]?.int64,
                            recipients: try item.userIDs("users"))
        fanOut.joining = Set(try item.userIDs("joining"))
        fanOut.lastRead = try item.int("lastRead")
        fanOut.shared = item["shared"]?.string
        self.fanOut = fanOut
        done = Int(try item.int("done"))
        owner = try item.string("owner")
        touched = try item.int("touched")
    }

    func item(_ tables: DynamoDBTables) -> Item {
        var item = tables.outboxItem(id)
        item["conversation"] = .s(fanOut.conversation.rawValue)
        item["event"] = .s(fanOut.event)
        item["payload"] = .b(fanOut.payload)
        item["ts"] = .int(fanOut.ts)
        if let pos = fanOut.pos { item["pos"] = .int(pos) }
        item["users"] = .strings(fanOut.recipients.map(\.rawValue))
        item["joining"] = .strings(fanOut.recipients.filter(fanOut.joining.contains).map(\.rawValue))
        item["lastRead"] = .int(fanOut.lastRead)
        if let shared = fanOut.shared { item["shared"] = .s(shared) }
        item["done"] = .int(done)
        item["owner"] = .s(owner)
        item["touched"] = .int(touched)
        return item
    }
}
