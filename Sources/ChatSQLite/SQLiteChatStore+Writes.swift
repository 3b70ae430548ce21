import ChatCore
import Foundation
import GRDB

// The atomic timeline writes: each runs as one savepoint of a group-committed transaction.
//
// The inserts of the message path say `OR FAIL`: with SQLite's default (ABORT), a statement
// that writes several B-trees (a table and its indexes) opens a statement journal and copies
// every page it touches there first, so that a constraint failure can undo the statement alone.
// Here nothing needs that: a failing statement fails its whole operation, which the group commit
// rolls back (the transaction, or the operation's savepoint). Measured on this SQLite (3.40),
// an insert into a table with a unique index: 2.0 → 1.7 µs.
extension SQLiteChatStore {
    public func appendMessage(_ draft: MessageDraft, encode: @escaping PayloadEncoder<Message>) async throws -> AppendOutcome {
        try await writer.write { [memory] db in try Self.appendMessage(db, memory, draft, encode: encode) }
    }

    public func submitAppendMessage(_ draft: MessageDraft, encode: @escaping PayloadEncoder<Message>,
                                    completion: @escaping @Sendable (Result<AppendOutcome, any Error>) -> Void) async {
        submitAppendMessageNow(draft, encode: encode, completion: completion)
    }

    public func submitAppendMessageNow(_ draft: MessageDraft, encode: @escaping PayloadEncoder<Message>,
                                       completion: @escaping @Sendable (Result<AppendOutcome, any Error>) -> Void) {
        writer.submit({ [memory] db in try Self.appendMessage(db, memory, draft, encode: encode) }, completion: completion)
    }

    static func appendMessage(_ db: Database, _ memory: WriterMemory, _ draft: MessageDraft,
                              encode: PayloadEncoder<Message>) throws -> AppendOutcome {
        let conversation = draft.conversation.rawValue
        let pos: Int64
        let entries: [TimelineEntry]
        let message: Message
        if let to = draft.to {
            // The recipient's seq (nil: unknown user) and the conversation's pos come from the
            // writer's counters (`WriterMemory`); a new conversation's row is created, and its
            // members' rows with it (`bumpMembers`). The message's insert comes before the
            // other writes: it is also the idempotency check (`insertUnlessSent`).
            guard let seq = try memory.nextSeq(db, of: to.rawValue) else { throw ChatError.notFound("no such user") }
            if !memory.knows(conversation) {
                var create = try FastStatement(db, "INSERT INTO conversations (id) VALUES (?) ON CONFLICT (id) DO NOTHING")
                create.bind(conversation)
                try create.execute()
            }
            pos = try memory.nextPosition(db, in: conversation)
            message = draft.message(pos: pos)
            if let sent = try insertUnlessSent(db, memory, message) { return .existing(sent) }
            let rowid = db.lastInsertedRowID
            try bumpMembers(db, of: conversation, from: draft.from.rawValue, to: to.rawValue, at: draft.ts)
            entries = [try insertTimeline(db, user: to, seq: seq, event: "message", payload: encode(message), ts: draft.ts,
                                          message: (conversation, pos))]
            memory.remember(.init(rowid: rowid, conversation: draft.conversation, pos: pos, id: draft.id, sender: draft.from, inGroup: false),
                            of: to.rawValue, seq: seq)
        } else {
            // A resend is answered before the membership checks: whoever sent it was a member then.
            if let sent = try sentMessage(db, from: draft.from, id: draft.id) { return .existing(sent) }
            guard try Bool.fetchOne(db.cachedStatement(sql: "SELECT 1 FROM conversations WHERE id = ? AND name IS NOT NULL"), arguments: [conversation]) != nil else {
                throw ChatError.notFound("no such group")
            }
            let members = try Self.members(of: conversation, db)
            guard members.contains(draft.from) else { throw ChatError.forbidden("not a member of this group") }
            pos = try memory.nextPosition(db, in: conversation)
            message = draft.message(pos: pos)
            try insert(db, message)
            let delivery = WriterMemory.EntryMessage(rowid: db.lastInsertedRowID, conversation: draft.conversation, pos: pos, id: draft.id,
                                                     sender: draft.from, inGroup: true)
            try db.cachedStatement(sql: "UPDATE members SET updated_at = ?, unread = unread + (user != ?) WHERE conversation = ?").execute(
                           arguments: [draft.ts, draft.from.rawValue, conversation])
            // Each member's entry refers to the message rather than holding a copy of it (`timeline`
            // reads it back): a group of 1,000 would otherwise store each body 999 times over.
            let payload = encode(message)
            entries = try members.filter { $0 != draft.from }.map {
                try Self.append(db, memory, to: $0, event: "message", payload: payload, stored: [], ts: draft.ts, message: (conversation, pos))
            }
            for entry in entries { memory.remember(delivery, of: entry.user.rawValue, seq: entry.seq) }
        }
        return .created(message, entries)
    }

    /// Bumps both members of a direct conversation for a message from `from` to `to`: their
    /// `updated_at`, and the recipient's `unread`. Usually both rows are there and a plain update
    /// of the two does it, about half of what an upsert costs SQLite (which attempts an insert per
    /// row and is refused first). Rows it did not find (a new conversation) are inserted with the
    /// values the update would have given them, the sender's first, so that a new conversation's
    /// members keep the join order (rowid).
    private static func bumpMembers(_ db: Database, of conversation: String, from: String, to: String, at ts: Int64) throws {
        var update = try FastStatement(db, "UPDATE OR FAIL members SET updated_at = ?1, unread = unread + (user = ?2) WHERE conversation = ?3")
        update.bind(ts)
        update.bind(to)
        update.bind(conversation)
        try update.execute()
        if db.changesCount == 2 { return }
        var insert = try FastStatement(db, """
            INSERT OR FAIL INTO members (conversation, user, updated_at, unread) VALUES (?1, ?2, ?4, 0), (?1, ?3, ?4, 1)
            ON CONFLICT (conversation, user) DO NOTHING
            """)
        insert.bind(conversation)
        insert.bind(from)
        insert.bind(to)
        insert.bind(ts)
        try insert.execute()
    }

    /// Inserts a direct message unless its sender sent one with its id before; then nothing is
    /// written and that message is returned. The unique index on (sender, client_id) decides:
    /// a lookup before every insert cost an index probe per message (2% of the server's CPU at
    /// peak) for the rare resend. A single-row `INSERT OR FAIL` checks every unique index before
    /// it writes anything, so its failure leaves the transaction as it was, and the seq and pos
    /// the writer's counters handed out for it are forgotten with them.
    private static func insertUnlessSent(_ db: Database, _ memory: WriterMemory, _ message: Message) throws -> Message? {
        do {
            try insert(db, message)
            return nil
        } catch let error as DatabaseError where error.resultCode == .SQLITE_CONSTRAINT {
            guard let sent = try sentMessage(db, from: message.from, id: message.id) else { throw error }
            memory.forget()
            return sent
        }
    }

    /// The message `sender` sent with client id `id`, if any.
    private static func sentMessage(_ db: Database, from sender: UserID, id: String) throws -> Message? {
        var lookup = try FastStatement(db, Self.messageBySenderAndID)
        lookup.bind(sender.rawValue)
        lookup.bind(id)
        return try lookup.fetchOne { try $0.message() }
    }

    private static let messageBySenderAndID = "SELECT \(FastStatement.Columns.messageColumns()) FROM messages WHERE sender = ? AND client_id = ?"
    /// What recording an entry's delivery needs of its message, in one lookup (timeline index,
    /// then messages index): not the body nor the rest of the row, which the receipt does not carry.
    private static let deliveryOfTimelineEntry = """
        SELECT m.id, m.conversation, m.pos, m.client_id, m.sender, m.group_id IS NOT NULL
        FROM timeline t JOIN messages m ON m.conversation = t.conversation AND m.pos = t.pos
        WHERE t.user = ? AND t.seq = ?
        """

    /// The message of `user`'s entry `seq` (nil if it is not a message), when `WriterMemory`
    /// no longer remembers it.
    private static func messageOfEntry(_ db: Database, user: String, seq: Int64) throws -> WriterMemory.EntryMessage? {
        var lookup = try FastStatement(db, Self.deliveryOfTimelineEntry)
        lookup.bind(user)
        lookup.bind(seq)
        return try lookup.fetchOne { row in
            guard let conversation = row.string(1).flatMap(ConversationID.init) else { throw CorruptRow(column: "conversation") }
            guard let sender = row.string(4).flatMap(UserID.init) else { throw CorruptRow(column: "sender") }
            return WriterMemory.EntryMessage(rowid: row.int64(0), conversation: conversation, pos: row.int64(2), id: row.string(3) ?? "",
                                             sender: sender, inGroup: row.int64(5) != 0)
        }
    }

    private static func insert(_ db: Database, _ message: Message) throws {
        var insert = try FastStatement(db, """
            INSERT OR FAIL INTO messages (conversation, pos, client_id, sender, recipient, group_id, body, ts) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
            """)
        insert.bind(message.conversation.rawValue)
        insert.bind(message.pos)
        insert.bind(message.id)
        insert.bind(message.from.rawValue)
        insert.bind(message.to?.rawValue)
        insert.bind(message.group?.rawValue)
        insert.bind(message.body)
        insert.bind(message.ts)
        try insert.execute()
    }

    public func acknowledge(_ acks: [UserAcks], at ts: Int64, receipt: @escaping PayloadEncoder<DeliveredMessages>) async throws -> [TimelineEntry] {
        try await writer.write { [memory] db in try Self.acknowledge(db, memory, acks, at: ts, receipt: receipt) }
    }

    public func submitAcknowledge(_ acks: [UserAcks], at ts: Int64, receipt: @escaping PayloadEncoder<DeliveredMessages>,
                                  completion: @escaping @Sendable (Result<[TimelineEntry], any Error>) -> Void) async {
        submitAcknowledgeNow(acks, at: ts, receipt: receipt, completion: completion)
    }

    public func submitAcknowledgeNow(_ acks: [UserAcks], at ts: Int64, receipt: @escaping PayloadEncoder<DeliveredMessages>,
                                     completion: @escaping @Sendable (Result<[TimelineEntry], any Error>) -> Void) {
        writer.submit({ [memory] db in try Self.acknowledge(db, memory, acks, at: ts, receipt: receipt) }, completion: completion)
    }

    private static func acknowledge(_ db: Database, _ memory: WriterMemory, _ acks: [UserAcks], at ts: Int64,
                                    receipt: PayloadEncoder<DeliveredMessages>) throws -> [TimelineEntry] {
        var entries: [TimelineEntry] = []
        for ack in acks {
            entries += try acknowledge(db, memory, ack, at: ts, receipt: receipt)
        }
        return entries
    }

    /// Raises the acked mark once to `ack.highest`, records the delivery of each of `ack.seqs`
    /// that is a message, and appends one receipt per sender and conversation of those.
    private static func acknowledge(_ db: Database, _ memory: WriterMemory, _ ack: UserAcks, at ts: Int64,
                                    receipt: PayloadEncoder<DeliveredMessages>) throws -> [TimelineEntry] {
        let user = ack.user.rawValue
        if ack.highest > 0, let latest = try memory.latestSeq(db, of: user) {
            var mark = try FastStatement(db, "UPDATE users SET acked_seq = MAX(acked_seq, ?) WHERE id = ?")
            mark.bind(min(ack.highest, latest))
            mark.bind(user)
            try mark.execute()
        }
        var delivered: [(sender: UserID, conversation: ConversationID, id: String)] = []
        for seq in ack.seqs {
            guard let found = try memory.takeMessage(of: user, seq: seq) ?? messageOfEntry(db, user: user, seq: seq) else { continue }
            if !found.inGroup {
                // A direct message's only recipient: the delivery is its row's mark (schema v5).
                var mark = try FastStatement(db, "UPDATE messages SET delivered_at = ? WHERE id = ? AND delivered_at IS NULL")
                mark.bind(ts)
                mark.bind(found.rowid)
                try mark.execute()
            } else {
                var insert = try FastStatement(db, "INSERT OR IGNORE INTO deliveries (conversation, pos, user, ts) VALUES (?, ?, ?, ?)")
                insert.bind(found.conversation.rawValue)
                insert.bind(found.pos)
                insert.bind(user)
                insert.bind(ts)
                try insert.execute()
            }
            if db.changesCount == 1 { delivered.append((found.sender, found.conversation, found.id)) }
        }
        return try DeliveredMessages.grouping(delivered, to: ack.user).map {
            try append(db, memory, to: $0.sender, event: "receipt", payload: receipt($0), ts: ts, message: nil)
        }
    }

    public func markRead(reader: UserID, conversation: ConversationID, ids: [String], at ts: Int64,
                         delivered: @escaping PayloadEncoder<DeliveredMessages>,
                         receipt: @escaping PayloadEncoder<(UserID, [String])>) async throws -> [TimelineEntry] {
        try await writer.write { [memory] db in
            let cid = conversation.rawValue
            guard try Bool.fetchOne(db.cachedStatement(sql: "SELECT 1 FROM members WHERE conversation = ? AND user = ?"), arguments: [cid, reader.rawValue]) != nil
            else { return [] }
            // The candidates by (peer, client_id) in a direct conversation, by (conversation, client_id)
            // in a group: the two indexes that exist for them (see `SQLiteSchema`). Named, because
            // without statistics SQLite prefers scanning the conversation by its primary key.
            let candidates: [Message]
            if let peer = conversation.peer(of: reader) {
                candidates = try Row.fetchAll(db.cachedStatement(sql: """
                    SELECT \(FastStatement.Columns.messageColumns()) FROM messages INDEXED BY messages_idempotency WHERE sender = ? AND client_id IN (\(placeholders(ids.count))) AND conversation = ? ORDER BY pos
                    """), arguments: StatementArguments([peer.rawValue] + ids + [cid])).map { try $0.message() }
            } else {
                candidates = try Row.fetchAll(db.cachedStatement(sql: """
                    SELECT \(FastStatement.Columns.messageColumns()) FROM messages INDEXED BY messages_read_lookup WHERE conversation = ? AND group_id IS NOT NULL AND client_id IN (\(placeholders(ids.count))) AND sender != ?
                    ORDER BY pos
                    """), arguments: StatementArguments([cid] + ids + [reader.rawValue])).map { try $0.message() }
            }
            var newlyRead: [Message] = []
            var newlyDelivered: [Message] = []
            for message in candidates {
                try db.cachedStatement(sql: "INSERT OR IGNORE INTO reads (conversation, pos, user, ts) VALUES (?, ?, ?, ?)").execute(
                               arguments: [cid, message.pos, reader.rawValue, ts])
                guard db.changesCount == 1 else { continue }
                newlyRead.append(message)
                // Read before its ack came: delivered now (the ack will find it so and say nothing).
                if message.group == nil {
                    try db.cachedStatement(sql: "UPDATE messages SET delivered_at = ? WHERE conversation = ? AND pos = ? AND delivered_at IS NULL")
                        .execute(arguments: [ts, cid, message.pos])
                } else {
                    try db.cachedStatement(sql: "INSERT OR IGNORE INTO deliveries (conversation, pos, user, ts) VALUES (?, ?, ?, ?)")
                        .execute(arguments: [cid, message.pos, reader.rawValue, ts])
                }
                if db.changesCount == 1 { newlyDelivered.append(message) }
            }
            guard let highest = newlyRead.map(\.pos).max() else { return [] }
            // Recount from the new read position over the (conversation, pos) key: only unread messages are visited.
            try db.cachedStatement(sql: """
                UPDATE members SET last_read_pos = MAX(last_read_pos, ?1),
                    unread = (SELECT COUNT(*) FROM messages WHERE conversation = ?2 AND pos > MAX(members.last_read_pos, ?1) AND sender != ?3)
                WHERE conversation = ?2 AND user = ?3
                """).execute(arguments: [highest, cid, reader.rawValue])
            let deliveries = try DeliveredMessages.grouping(newlyDelivered, to: reader).map {
                try Self.append(db, memory, to: $0.sender, event: "receipt", payload: delivered($0), ts: ts, message: nil)
            }
            return try deliveries + Dictionary(grouping: newlyRead, by: \.from).sorted { $0.key < $1.key }.map { sender, messages in
                try Self.append(db, memory, to: sender, event: "receipt", payload: receipt((sender, messages.map(\.id))), ts: ts, message: nil)
            }
        }
    }

    public func createGroup(_ group: Group, at ts: Int64, event: [UInt8]) async throws -> [TimelineEntry] {
        try await writer.write { [memory] db in
            let cid = ConversationID.group(group.id).rawValue
            try db.cachedStatement(sql: "INSERT OR IGNORE INTO conversations (id, name, owner) VALUES (?, ?, ?)").execute(
                           arguments: [cid, group.name, group.owner.rawValue])
            guard db.changesCount == 1 else { throw ChatError.conflict("group exists") }
            for member in group.members {
                try db.cachedStatement(sql: "INSERT INTO members (conversation, user, updated_at) VALUES (?, ?, ?)").execute(arguments: [cid, member.rawValue, ts])
            }
            return try Self.appendGroupEvent(db, memory, to: group.members, payload: event, ts: ts)
        }
    }

    public func addMembers(_ members: [UserID], to groupID: GroupID, by: UserID, at ts: Int64, limit: Int,
                           event: @escaping PayloadEncoder<(Group, [UserID])>) async throws -> (Group, [TimelineEntry]) {
        try await writer.write { [memory] db in
            guard let current = try Self.group(groupID, db) else { throw ChatError.notFound("no such group") }
            try current.requireMember(by)
            let added = members.reduce(into: [UserID]()) { list, m in
                if !current.members.contains(m), !list.contains(m) { list.append(m) }
            }
            guard current.members.count + added.count <= limit else { throw ChatError.tooLarge("at most \(limit) members") }
            guard !added.isEmpty else { return (current, []) }
            let cid = ConversationID.group(groupID).rawValue
            // Newcomers start with nothing unread.
            let lastPos = try memory.lastPosition(db, in: cid)
            for member in added {
                try db.cachedStatement(sql: "INSERT INTO members (conversation, user, updated_at, last_read_pos) VALUES (?, ?, ?, ?)")
                    .execute(arguments: [cid, member.rawValue, ts, lastPos])
            }
            var group = current
            group.members += added
            let payload = event((group, added))
            return (group, try Self.appendGroupEvent(db, memory, to: group.members, payload: payload, ts: ts))
        }
    }

    public func removeMember(_ member: UserID, from groupID: GroupID, by: UserID, at ts: Int64, event: @escaping PayloadEncoder<Group>) async throws -> [TimelineEntry] {
        try await writer.write { [memory] db in
            guard var group = try Self.group(groupID, db) else { throw ChatError.notFound("no such group") }
            try group.requireRemovable(member, by: by)
            let cid = ConversationID.group(groupID).rawValue
            try db.cachedStatement(sql: "DELETE FROM members WHERE conversation = ? AND user = ?").execute(arguments: [cid, member.rawValue])
            group.members.removeAll { $0 == member }
            // An owner who leaves hands the group to the longest-standing member.
            if group.owner == member, let heir = group.members.first {
                try db.cachedStatement(sql: "UPDATE conversations SET owner = ? WHERE id = ?").execute(arguments: [heir.rawValue, cid])
                group.owner = heir
            }
            let payload = event(group)
            return try Self.appendGroupEvent(db, memory, to: group.members + [member], payload: payload, ts: ts)
        }
    }

    /// Appends a group event to each of `users`' timelines, its payload stored once in
    /// `shared_payloads`: the entries name it and hold nothing themselves.
    private static func appendGroupEvent(_ db: Database, _ memory: WriterMemory, to users: [UserID], payload: [UInt8],
                                         ts: Int64) throws -> [TimelineEntry] {
        var insert = try FastStatement(db, "INSERT OR FAIL INTO shared_payloads (payload) VALUES (?)")
        insert.bind(blob: payload)
        try insert.execute()
        let shared = db.lastInsertedRowID
        return try users.map { try append(db, memory, to: $0, event: "group", payload: payload, stored: [], shared: shared, ts: ts, message: nil) }
    }

    /// Appends one entry with the user's next seq (`WriterMemory`). `stored`: what the row holds
    /// when not `payload` (empty for a group message, which `timeline` reads from `messages`,
    /// and for a group event, read from `shared_payloads` row `shared`).
    private static func append(_ db: Database, _ memory: WriterMemory, to user: UserID, event: String, payload: [UInt8], stored: [UInt8]? = nil,
                               shared: Int64? = nil, ts: Int64, message: (conversation: String, pos: Int64)?) throws -> TimelineEntry {
        guard let seq = try memory.nextSeq(db, of: user.rawValue) else { throw ChatError.notFound("no such user: \(user)") }
        return try insertTimeline(db, user: user, seq: seq, event: event, payload: payload, stored: stored, shared: shared, ts: ts, message: message)
    }

    /// Inserts the entry `seq` (already taken from the user's counter).
    private static func insertTimeline(_ db: Database, user: UserID, seq: Int64, event: String, payload: [UInt8], stored: [UInt8]? = nil,
                                       shared: Int64? = nil, ts: Int64, message: (conversation: String, pos: Int64)?) throws -> TimelineEntry {
        var insert = try FastStatement(db, """
            INSERT OR FAIL INTO timeline (user, seq, event, payload, ts, conversation, pos, shared) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
            """)
        insert.bind(user.rawValue)
        insert.bind(seq)
        insert.bind(event)
        insert.bind(blob: stored ?? payload)
        insert.bind(ts)
        insert.bind(message?.conversation)
        insert.bind(message?.pos)
        insert.bind(shared)
        try insert.execute()
        return TimelineEntry(user: user, seq: seq, event: event, payload: payload, ts: ts)
    }
}
