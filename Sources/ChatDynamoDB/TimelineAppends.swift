import ChatCore

/// Timeline entries to append in one transaction, in the order they were added.
///
/// A transaction may name an item once, so each user's counter is one update however many
/// entries the user gets: `seq = :old` → `:old + k`, and the entries go to `:old + 1 … :old + k`.
struct TimelineAppends: Sendable {
    struct Append: Sendable {
        var user: UserID
        var event: String
        var payload: [UInt8]
        var ts: Int64
        /// The message a `message` entry stands for (acks record its delivery).
        var message: (conversation: ConversationID, pos: Int64)?
        /// Where the payload is kept when the entry holds none (see `StoredPayload`).
        var stored: StoredPayload
    }

    private(set) var appends: [Append] = []
    /// The users in the order of their first entry.
    private(set) var users: [UserID] = []
    private var known = Set<UserID>()

    init() {}

    mutating func add(_ user: UserID, event: String, payload: [UInt8], ts: Int64, message: (conversation: ConversationID, pos: Int64)? = nil,
                      stored: StoredPayload = .inEntry) {
        appends.append(Append(user: user, event: event, payload: payload, ts: ts, message: message, stored: stored))
        if known.insert(user).inserted { users.append(user) }
    }

    /// How many transaction items these entries take: one per entry and one per user.
    var itemCount: Int { appends.count + users.count }

    var isEmpty: Bool { appends.isEmpty }

    /// The transaction items (counter updates, then entries) and the entries, numbered on from `seqs`.
    func actions(_ tables: DynamoDBTables, seqs: [UserID: Int64]) -> (actions: [WriteAction], entries: [TimelineEntry]) {
        var next = seqs
        var entries: [TimelineEntry] = []
        var puts: [WriteAction] = []
        for append in appends {
            let seq = next[append.user]! + 1
            next[append.user] = seq
            var item = tables.entry(append.user, seq)
            item["event"] = .s(append.event)
            switch append.stored {
            case .inEntry: item["payload"] = .b(append.payload)
            case .inMessage: break
            case .shared(let key): item["shared"] = .s(key)
            }
            item["ts"] = .int(append.ts)
            if let message = append.message {
                item["conversation"] = .s(message.conversation.rawValue)
                item["pos"] = .int(message.pos)
            }
            puts.append(.put(PutAction(tables.timeline, item)))
            entries.append(TimelineEntry(user: append.user, seq: seq, event: append.event, payload: append.payload, ts: append.ts))
        }
        let counters = users.map { user -> WriteAction in
            var e = Expression()
            let seq = e.name("seq")
            let update = "SET \(seq) = \(e.value(.int(next[user]!)))"
            return .update(UpdateAction(tables.users, tables.user(user), update: update, condition: "\(seq) = \(e.value(.int(seqs[user]!)))", e))
        }
        return (counters + puts, entries)
    }
}

/// Where a timeline entry's payload is kept.
///
/// A group's message and its events go to every member, and a copy in each member's item made
/// one 16 kB message to 1,000 members 16 MB written (and billed: a write costs a unit per KB
/// of its item), a 1,000-member `group:create`, which names every member twice, 20 MB. So their
/// entries hold none: replay reads it from the one item that has it (`timeline(of:after:limit:)`).
enum StoredPayload: Sendable, Equatable {
    /// In the entry's own item.
    case inEntry
    /// The payload is the message the entry stands for: its `messages` item, encoded again.
    case inMessage
    /// In the `messageIDs` item of this key, written with the entries' first transaction.
    case shared(key: String)
}
