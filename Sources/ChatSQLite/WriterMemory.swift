import ChatCore
import GRDB
import Synchronization

/// What the writer keeps in memory beside the database: the per-user seq and per-conversation
/// pos counters (schema v6), and what the acks of recently appended message entries need.
///
/// A user's latest seq is the highest one in their timeline (or the floor that pruning left on
/// their row, when it deleted their newest entries), a conversation's last pos the highest
/// among its messages: both are one probe of an index the inserts write anyway. Before v6 each
/// counter was a column raised and read back for every message and receipt (four statements
/// and one more page in each commit); now the first use reads it from the index and later
/// ones count on in memory.
///
/// An ack names a timeline entry by (user, seq); recording the delivery needs the message's
/// row, conversation, pos, id and sender, which a join of two indexes found (the costliest
/// statement of an ack, ~6% of the server's CPU at peak). The entries appended recently are
/// the ones acked, so their messages are remembered when appended and taken when acked; an
/// entry no longer remembered (acked late, replayed after a restart) is looked up as before.
///
/// Only the group-commit writer's operations use it, one at a time, and it must hold only what
/// is committed or in the transaction under way: whenever the writer rolls back (a batch, or an
/// operation's savepoint), it calls ``forget()`` and the next use reads the database again,
/// which then holds exactly what survived. One process per database file: another writer's
/// rows would not be seen here (the unique indexes would refuse the clashing rows).
final class WriterMemory: Sendable {
    /// The message of a timeline entry, as recording its delivery needs it.
    struct EntryMessage: Sendable {
        var rowid: Int64
        var conversation: ConversationID
        var pos: Int64
        var id: String
        var sender: UserID
        var inGroup: Bool
    }

    private struct EntryKey: Hashable {
        var user: String
        var seq: Int64
    }

    private struct State {
        var seqs: [String: Int64] = [:]
        var positions: [String: Int64] = [:]
        var entries: [EntryKey: EntryMessage] = [:]
    }

    /// Uncontended (the writer's operations run one after another); a lock so that the type is
    /// honestly `Sendable` rather than by promise.
    private let state = Mutex(State())
    /// Each map starts over beyond this many keys (a reload is one index probe, a forgotten
    /// entry one lookup).
    static let limit = 100_000

    /// The seq `user` took last; nil for an unknown user.
    func latestSeq(_ db: Database, of user: String) throws -> Int64? {
        if let seq = state.withLock({ $0.seqs[user] }) { return seq }
        var read = try FastStatement(db, "SELECT \(SQLiteSchema.latestSeq) FROM users WHERE id = ?")
        read.bind(user)
        guard let seq = try read.fetchInt64() else { return nil }
        state.withLock { Self.store(seq, for: user, in: &$0.seqs) }
        return seq
    }

    /// Takes `user`'s next seq; nil for an unknown user. The caller inserts the entry with it in
    /// the same operation (or fails the operation): seqs stay gap-free.
    func nextSeq(_ db: Database, of user: String) throws -> Int64? {
        guard let latest = try latestSeq(db, of: user) else { return nil }
        state.withLock { $0.seqs[user] = latest + 1 }
        return latest + 1
    }

    /// The pos of `conversation`'s last message; 0 before the first.
    func lastPosition(_ db: Database, in conversation: String) throws -> Int64 {
        if let pos = state.withLock({ $0.positions[conversation] }) { return pos }
        var read = try FastStatement(db, "SELECT COALESCE(MAX(pos), 0) FROM messages WHERE conversation = ?")
        read.bind(conversation)
        let pos = try read.fetchInt64() ?? 0
        state.withLock { Self.store(pos, for: conversation, in: &$0.positions) }
        return pos
    }

    /// Takes the next pos in `conversation`, whose row exists; the caller inserts the message.
    func nextPosition(_ db: Database, in conversation: String) throws -> Int64 {
        let next = try lastPosition(db, in: conversation) + 1
        state.withLock { $0.positions[conversation] = next }
        return next
    }

    /// Whether `conversation`'s position is known here (so its row exists).
    func knows(_ conversation: String) -> Bool {
        state.withLock { $0.positions[conversation] != nil }
    }

    /// Remembers the message of `user`'s entry `seq`, just appended.
    func remember(_ message: EntryMessage, of user: String, seq: Int64) {
        state.withLock { state in
            if state.entries.count >= Self.limit { state.entries.removeAll(keepingCapacity: true) }
            state.entries[EntryKey(user: user, seq: seq)] = message
        }
    }

    /// The remembered message of `user`'s entry `seq`, forgotten once taken (an entry is
    /// delivered once); nil when not remembered.
    func takeMessage(of user: String, seq: Int64) -> EntryMessage? {
        state.withLock { $0.entries.removeValue(forKey: EntryKey(user: user, seq: seq)) }
    }

    /// Drops everything: after a rollback the database is the truth again.
    func forget() {
        state.withLock { $0 = State() }
    }

    private static func store(_ value: Int64, for key: String, in map: inout [String: Int64]) {
        if map.count >= limit, map[key] == nil { map.removeAll(keepingCapacity: true) }
        map[key] = value
    }
}
