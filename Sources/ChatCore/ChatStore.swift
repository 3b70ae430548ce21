/// One event in a user's timeline, as stored.
public struct TimelineEntry: Hashable, Sendable {
    /// Whose timeline it is in.
    public var user: UserID
    /// The per-user sequence number, 1, 2, 3 … gap-free.
    public var seq: Int64
    /// The Socket.IO event name: `message`, `receipt` or `group`.
    public var event: String
    /// The event's JSON object *without* `"seq"`; shared by every recipient of a fan-out.
    public var payload: [UInt8]
    /// When it was appended, ms (drives retention).
    public var ts: Int64

    /// Creates an entry.
    public init(user: UserID, seq: Int64, event: String, payload: [UInt8], ts: Int64) {
        self.user = user
        self.seq = seq
        self.event = event
        self.payload = payload
        self.ts = ts
    }

    /// The payload as emitted: `"seq"` spliced in as the first field.
    public var wirePayload: [UInt8] { JSONPayload.splicingSeq(seq, into: payload) }
}

/// A user account with the fields only the service sees.
public struct StoredUser: Hashable, Sendable {
    /// The public part.
    public var user: User
    /// The password hash made by the application, if any.
    public var passwordHash: String?
    /// When the user's last connection closed, ms.
    public var lastSeen: Int64?

    /// Creates a stored user.
    public init(user: User, passwordHash: String?, lastSeen: Int64?) {
        self.user = user
        self.passwordHash = passwordHash
        self.lastSeen = lastSeen
    }
}

/// A validated message before the store has given it a `pos`.
public struct MessageDraft: Hashable, Sendable {
    /// The client id.
    public var id: String
    /// Its conversation.
    public var conversation: ConversationID
    /// The sender.
    public var from: UserID
    /// The recipient of a direct message.
    public var to: UserID?
    /// The group of a group message.
    public var group: GroupID?
    /// The text.
    public var body: String
    /// Server time, ms.
    public var ts: Int64

    /// Creates a draft.
    public init(id: String, conversation: ConversationID, from: UserID, to: UserID?, group: GroupID?, body: String, ts: Int64) {
        self.id = id
        self.conversation = conversation
        self.from = from
        self.to = to
        self.group = group
        self.body = body
        self.ts = ts
    }

    /// The message this draft becomes at `pos`.
    public func message(pos: Int64) -> Message {
        Message(id: id, conversation: conversation, from: from, to: to, group: group, body: body, ts: ts, pos: pos)
    }
}

/// What `ChatStore.appendMessage` did.
public enum AppendOutcome: Hashable, Sendable {
    /// The message is new: stored with its recipients' timeline entries.
    case created(Message, [TimelineEntry])
    /// The sender already used this id; nothing was written. The service compares contents.
    case existing(Message)
}

/// Where a user's timeline stands.
public struct TimelineHead: Hashable, Sendable {
    /// The highest seq assigned (0 when empty).
    public var latest: Int64
    /// The highest seq any connection acknowledged.
    public var acked: Int64

    /// Creates a head.
    public init(latest: Int64, acked: Int64) {
        self.latest = latest
        self.acked = acked
    }
}

/// Encodes a timeline payload from data only known inside a store operation.
public typealias PayloadEncoder<Input> = @Sendable (Input) -> [UInt8]

/// The durable state of the chat domain.
///
/// Each method that returns `TimelineEntry`s is ONE atomic operation: it checks its
/// preconditions, writes, assigns each affected user's next gap-free `seq`s and returns the
/// new entries after they are durable. Nothing is published before that. The shape suits a
/// DynamoDB implementation (one `TransactWriteItems` per call, seq counters per user).
/// Rules (who may write what, sizes, idempotency semantics) live in `ChatService`; the store
/// re-checks only what must be atomic with the write (membership, existence, limits) and
/// throws `ChatError` for those. Any other error means the store failed.
public protocol ChatStore: Sendable {
    // MARK: Users and tokens

    /// Inserts a user; `false` if the id is taken.
    func insertUser(_ user: User, passwordHash: String?, at ts: Int64) async throws -> Bool
    /// The user with `id`, if any.
    func user(_ id: UserID) async throws -> StoredUser?
    /// Which of `ids` exist.
    func existingUsers(_ ids: [UserID]) async throws -> Set<UserID>
    /// Users whose id starts with `prefix`, ascending by id.
    func users(withPrefix prefix: String, limit: Int) async throws -> [StoredUser]
    /// Renames a user; `nil` if unknown.
    func renameUser(_ id: UserID, to name: String) async throws -> User?
    /// Records when the user's last connection closed.
    func setLastSeen(_ id: UserID, at ts: Int64) async throws
    /// Stores a token hash.
    func insertToken(hash: String, user: UserID, expiresAt: Int64) async throws
    /// The owner of a token that is neither revoked nor expired at `now`.
    func tokenOwner(hash: String, now: Int64) async throws -> UserID?
    /// Revokes a token (no-op if unknown).
    func revokeToken(hash: String) async throws

    // MARK: Atomic timeline writes

    /// Stores a message unless `(from, id)` exists; assigns `pos`; appends a `message` entry
    /// (payload `encode(message)`, encoded once) to every recipient: `to`, or every current
    /// group member but the sender. Bumps the call log and unread counters.
    /// Throws `notFound` for an unknown recipient or group, `forbidden` if the sender is not a member.
    func appendMessage(_ draft: MessageDraft, encode: @escaping PayloadEncoder<Message>) async throws -> AppendOutcome
    /// `appendMessage` in two steps: returns once the operation is queued behind the ones
    /// submitted before it (submissions in order get their `pos` in that order) and calls
    /// `completion` with the outcome once it is durable (or failed), in submission order.
    /// Keep `completion` short; it may run on the store's writer.
    func submitAppendMessage(_ draft: MessageDraft, encode: @escaping PayloadEncoder<Message>,
                             completion: @escaping @Sendable (Result<AppendOutcome, any Error>) -> Void) async
    /// Acks of timeline entries, many users' at once, as one operation: each user's acked mark
    /// rises to their highest acknowledged seq (never past their latest), and each acknowledged
    /// entry that is a message not yet delivered to that user records the delivery. What one
    /// user's acks newly delivered becomes one receipt per sender and conversation
    /// (``DeliveredMessages/grouping(_:to:)``), `receipt(delivered)` appended to the sender's timeline.
    func acknowledge(_ acks: [UserAcks], at ts: Int64, receipt: @escaping PayloadEncoder<DeliveredMessages>) async throws -> [TimelineEntry]
    /// `acknowledge` in two steps, as ``submitAppendMessage(_:encode:completion:)`` is for
    /// `appendMessage`: `completion` runs once it is durable (or failed), in submission order
    /// with the other submitted operations.
    func submitAcknowledge(_ acks: [UserAcks], at ts: Int64, receipt: @escaping PayloadEncoder<DeliveredMessages>,
                           completion: @escaping @Sendable (Result<[TimelineEntry], any Error>) -> Void) async
    /// Marks messages of `conversation` with client ids `ids` and sent by others as read by
    /// `reader` (once each), resets the reader's unread count accordingly and appends one
    /// `receipt((sender, newlyReadIds))` per sender. A message read before its delivery was
    /// recorded (read before the ack came) is delivered now, and its `delivered` receipt goes
    /// first, so a sender's receipts never go from read back to delivered.
    func markRead(reader: UserID, conversation: ConversationID, ids: [String], at ts: Int64,
                  delivered: @escaping PayloadEncoder<DeliveredMessages>, receipt: @escaping PayloadEncoder<(UserID, [String])>) async throws -> [TimelineEntry]
    /// Creates a group with its members and appends `event` to each member's timeline.
    func createGroup(_ group: Group, at ts: Int64, event: [UInt8]) async throws -> [TimelineEntry]
    /// Adds, on behalf of the member `by`, those of `members` not yet in the group (throws
    /// `notFound` if the group is unknown or `by` is not in it as the write finds it, `tooLarge`
    /// if the result would exceed `limit`), and appends `event((group, added))` to every member's
    /// timeline, the new ones included. No entries when nobody was added.
    func addMembers(_ members: [UserID], to group: GroupID, by: UserID, at ts: Int64, limit: Int,
                    event: @escaping PayloadEncoder<(Group, [UserID])>) async throws -> (Group, [TimelineEntry])
    /// Removes `member` on behalf of `by` (`Group.requireRemovable`, checked on the group as the
    /// write finds it) and appends `event(groupAfter)` to the remaining members and to `member`.
    func removeMember(_ member: UserID, from group: GroupID, by: UserID, at ts: Int64, event: @escaping PayloadEncoder<Group>) async throws -> [TimelineEntry]

    // MARK: Queries (each served by an index, never a scan of a user's history)

    /// A group with its current members.
    func group(_ id: GroupID) async throws -> Group?
    /// Users sharing at least one conversation with `user` (for presence).
    func contacts(of user: UserID) async throws -> [UserID]
    /// The call log, newest first.
    func conversations(of user: UserID) async throws -> [ConversationSummary]
    /// Messages with `pos < before` (all when `nil`), the newest `limit` of them, ascending.
    func history(of conversation: ConversationID, before: Int64?, limit: Int) async throws -> HistoryPage
    /// Timeline entries with `seq > after`, ascending, at most `limit`.
    func timeline(of user: UserID, after seq: Int64, limit: Int) async throws -> [TimelineEntry]
    /// The latest and acknowledged seqs of a user.
    func timelineHead(of user: UserID) async throws -> TimelineHead

    // MARK: Retention

    /// Deletes timeline entries appended before `ts`. Seq counters are kept.
    func pruneTimeline(before ts: Int64) async throws
}

/// Messages of one conversation and one sender newly delivered to one recipient: the content
/// of one `delivered` receipt.
public struct DeliveredMessages: Sendable, Hashable {
    /// Who the messages were delivered to (the receipt's `by`).
    public var recipient: UserID
    /// Who sent them (whose timeline gets the receipt).
    public var sender: UserID
    /// Their conversation.
    public var conversation: ConversationID
    /// Their client ids, in the order they were delivered.
    public var ids: [String]

    /// Groups `messages`, newly delivered to `recipient` in this order, into one value per
    /// sender and conversation, in the order each group's first message was delivered: acks that
    /// arrive together cost the sender one receipt, not one per message.
    public static func grouping(_ messages: [Message], to recipient: UserID) -> [DeliveredMessages] {
        grouping(messages.map { (sender: $0.from, conversation: $0.conversation, id: $0.id) }, to: recipient)
    }

    /// ``grouping(_:to:)`` over just what a receipt needs of each message (a store need not
    /// read the rest).
    public static func grouping(_ messages: [(sender: UserID, conversation: ConversationID, id: String)],
                                to recipient: UserID) -> [DeliveredMessages] {
        var groups: [DeliveredMessages] = []
        for message in messages {
            if let index = groups.firstIndex(where: { $0.sender == message.sender && $0.conversation == message.conversation }) {
                groups[index].ids.append(message.id)
            } else {
                groups.append(DeliveredMessages(recipient: recipient, sender: message.sender, conversation: message.conversation, ids: [message.id]))
            }
        }
        return groups
    }
}

/// The seqs one user acknowledged, for `ChatStore.acknowledge(_:at:receipt:)`.
public struct UserAcks: Sendable, Hashable {
    /// Who acknowledged.
    public var user: UserID
    /// The acknowledged entries that may be messages (each may record a delivery).
    public var seqs: [Int64]
    /// The acked mark to raise to: the highest seq acknowledged, messages or not.
    public var highest: Int64

    /// Acks of `seqs`, plus (when higher) `highest`, an entry known not to be a message.
    public init(user: UserID, seqs: [Int64], highest: Int64 = 0) {
        self.user = user
        self.seqs = seqs
        self.highest = max(highest, seqs.max() ?? 0)
    }
}

/// A store whose pipelined writes queue without suspending (it has a writer queue of its own):
/// callers handling events where they are read can submit without a task.
public protocol ImmediateSubmitting: ChatStore {
    /// ``ChatStore/submitAppendMessage(_:encode:completion:)``, returning once queued without suspending.
    func submitAppendMessageNow(_ draft: MessageDraft, encode: @escaping PayloadEncoder<Message>,
                                completion: @escaping @Sendable (Result<AppendOutcome, any Error>) -> Void)
    /// ``ChatStore/submitAcknowledge(_:at:receipt:completion:)``, returning once queued without suspending.
    func submitAcknowledgeNow(_ acks: [UserAcks], at ts: Int64, receipt: @escaping PayloadEncoder<DeliveredMessages>,
                              completion: @escaping @Sendable (Result<[TimelineEntry], any Error>) -> Void)
}

extension ChatStore {
    /// Runs `appendMessage` and then `completion`: correct ordering, no pipelining.
    public func submitAppendMessage(_ draft: MessageDraft, encode: @escaping PayloadEncoder<Message>,
                                    completion: @escaping @Sendable (Result<AppendOutcome, any Error>) -> Void) async {
        do {
            completion(.success(try await appendMessage(draft, encode: encode)))
        } catch {
            completion(.failure(error))
        }
    }

    /// Runs `acknowledge` and then `completion`: correct ordering, no pipelining.
    public func submitAcknowledge(_ acks: [UserAcks], at ts: Int64, receipt: @escaping PayloadEncoder<DeliveredMessages>,
                                  completion: @escaping @Sendable (Result<[TimelineEntry], any Error>) -> Void) async {
        do {
            completion(.success(try await acknowledge(acks, at: ts, receipt: receipt)))
        } catch {
            completion(.failure(error))
        }
    }
}
