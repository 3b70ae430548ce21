/// The group scenario's messages in flight: how many recipients each still has to reach, and
/// which message each outstanding ack answers. A value type, tested without sockets; the
/// scenario keeps it behind a lock because members live on different event loops.
struct GroupLedger: Sendable {
    /// A message not yet received by every recipient.
    struct Entry: Equatable, Sendable {
        /// Recipients still to receive it.
        var remaining: Int
        /// The sending member's index.
        let sender: Int
        /// When it was sent (monotonic nanoseconds).
        let sentAt: UInt64
    }

    private struct AckKey: Hashable {
        let sender: Int
        let ackID: Int
    }

    private var pending: [String: Entry] = [:]
    private var acks: [AckKey: String] = [:]

    /// Messages not yet received by every recipient.
    var pendingCount: Int { pending.count }
    /// Messages the server has not answered yet.
    var awaitingAcks: Int { acks.count }

    /// Records message `id` before it is sent (a recipient may have it before the send returns).
    mutating func sent(id: String, sender: Int, recipients: Int, at time: UInt64) {
        pending[id] = Entry(remaining: recipients, sender: sender, sentAt: time)
    }

    /// Records that `sender`'s ack `ackID` answers message `id`.
    mutating func awaitAck(sender: Int, ackID: Int, id: String) {
        acks[AckKey(sender: sender, ackID: ackID)] = id
    }

    /// The message an ack of `sender` answers, forgotten from now on; nil for an ack of
    /// something else (`group:create`).
    mutating func answered(sender: Int, ackID: Int) -> String? {
        acks.removeValue(forKey: AckKey(sender: sender, ackID: ackID))
    }

    /// Counts one receipt of `id`; returns the message's entry when this was its last
    /// recipient. Receipts of unknown, expired or dropped messages return nil.
    mutating func delivered(id: String) -> Entry? {
        guard var entry = pending[id] else { return nil }
        entry.remaining -= 1
        if entry.remaining > 0 {
            pending[id] = entry
            return nil
        }
        pending[id] = nil
        return entry
    }

    /// Forgets message `id` (the server refused it) and returns its entry.
    mutating func drop(id: String) -> Entry? {
        pending.removeValue(forKey: id)
    }

    /// Forgets and returns the messages sent before `deadline` that some recipient still lacks,
    /// oldest first.
    mutating func expire(sentBefore deadline: UInt64) -> [(id: String, entry: Entry)] {
        let expired = pending.filter { $0.value.sentAt < deadline }.sorted { $0.value.sentAt < $1.value.sentAt }
        for (id, _) in expired { pending[id] = nil }
        return expired.map { (id: $0.key, entry: $0.value) }
    }
}
