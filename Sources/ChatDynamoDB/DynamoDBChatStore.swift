import ChatCore
import Foundation
import Logging
import Synchronization

/// `ChatStore` on DynamoDB, for several server processes sharing one set of tables.
///
/// ## Data model (tables `<prefix><name>`, on-demand capacity)
///
/// | table | key | holds |
/// |---|---|---|
/// | `users` | `id` | `name`, `hash`, `lastSeen`, `seq` (last seq given out), `acked`, `pruned`, `p` (first character of the id); index `by_prefix` (`p`, `id`), keys only, for prefix search |
/// | `tokens` | `hash` | `user`, `expiresAt` (ms), `revoked`, `expires` (s, TTL) |
/// | `timeline` | `user`, `seq` | `event`, `payload` (B), `ts`; a message's entry also `conversation`, `pos` |
/// | `conversations` | `id` | `kind`, `members` (join order), `name`, `owner`, `pos`, `ver`, `last`, `pending` (see `ConversationRecord`) |
/// | `messages` | `conversation`, `pos` | `cid`, `from`, `to`/`group`, `body`, `ts`, `delivered` and `read` (maps user → ms) |
/// | `memberships` | `user`, `conversation` | `joinedAt`, `lastRead`: the call log, contacts, unread counts |
/// | `message_ids` | `key` | `s#<sender>#<id>` → `conversation`, `pos` (idempotency); `c#<conversation>#<id>` → `positions` (a group's `read`); `broker` → `broker` (``bind(toBroker:)``) |
/// | `outbox` | `id` | a fan-out in progress (see `Outbox`) |
///
/// ## Writes
///
/// Every operation that appends timeline entries is optimistic: it reads what it depends on
/// (consistent reads), then writes one `TransactWriteItems` that conditions every counter and
/// version it read (`seq = :old` → `:old + k` on each user, `ver = :old` on a conversation) and
/// puts the entries at those seqs. A conflict cancels the transaction; the operation reads again
/// and retries after a jittered backoff. Within one process, operations that touch the same
/// counter take turns (`KeyedLock`: conversations, then users, each in sorted order), so a
/// process does not fight itself. An event for more users than one transaction holds (100
/// items) goes through an outbox (see `Outbox`).
///
/// Unread counts are not kept per member: the call log counts the messages from others after
/// the member's `lastRead` position when it is read, and a member's `updatedAt` is the later of
/// joining and the conversation's last message, so a message writes nothing per member besides
/// the recipients' entries and counters.
///
/// ## Large groups
///
/// A recipient costs a transaction two items (counter and entry), a joining one three. An
/// event that does not fit in one transaction (a group message to more than 48 others, a
/// group of more than 33 created) commits the operation's own change with an `outbox` item and
/// as many recipients as fit, marking the conversation `pending`; the rest follow in chunks of
/// up to 49 recipients, each one transaction that also moves the outbox's progress on, and the
/// last clears the mark. Operations on a conversation with a mark wait for that fan-out (or
/// finish it, once its owner stopped making progress for ``fanOutLease``), so every member gets
/// the conversation's events in order. A process that dies part-way leaves the outbox to
/// ``resumePendingFanOuts(olderThan:)`` (run by ``DynamoDBFanOutRecoveryService``, after the
/// same lease). A message
/// to a group of 1,000 is 21 transactions in a row, each entry stored with its own copy of the
/// payload.
///
/// ## Reads
///
/// Every read correctness depends on is consistent (replay and gap fill come right after
/// another node committed and published), except prefix search, which is served by an index.
public final class DynamoDBChatStore: ChatStore {
    let client: DynamoDBClient
    let tables: DynamoDBTables
    let logger: Logger
    /// Turns per conversation (`c#…`) and user (`u#…`) within this process.
    let locks = KeyedLock()
    /// This process's name on the outbox items it drives.
    let node = UUID().uuidString
    /// Entries appended while finishing another process's fan-out inline: handed to the
    /// caller of ``resumePendingFanOuts(olderThan:)`` to publish.
    let recovered = Mutex<[TimelineEntry]>([])
    /// How long a fan-out may go without progress before another process takes it over.
    ///
    /// The store's one lease: an operation that needs the conversation finishes such a
    /// fan-out inline, and ``DynamoDBFanOutRecoveryService`` resumes it (its `staleAfter` is
    /// this unless given).
    public let fanOutLease: Duration
    /// ``fanOutLease`` unless a test sets another: above the `attemptTimeout` (10 s) one
    /// attempt of a chunk's transaction may take before the owner retries it, so a
    /// live driver is not taken over (which is safe, the chunks' conditions see to that, but
    /// wasted work).
    static let defaultFanOutLease: Duration = .seconds(15)
    /// Test hooks (see `StoreHooks`).
    let hooks = StoreHooks()
    /// How many transactions lost to a concurrent writer and were retried.
    let conflicts = Atomic<Int>(0)

    /// Connects to the tables of `configuration`, waiting until they are active.
    ///
    /// Creates missing ones (on-demand capacity) when `createTables`. Throws a
    /// ``DynamoDBError`` when the endpoint cannot be reached or a table is missing.
    /// `observer` hears of every request and conflict (metrics).
    public convenience init(configuration: DynamoDBConfiguration, logger: Logger, observer: DynamoDBStoreObserver = .none) async throws {
        try await self.init(configuration: configuration, logger: logger, fanOutLease: Self.defaultFanOutLease, observer: observer)
    }

    init(configuration: DynamoDBConfiguration, logger: Logger, fanOutLease: Duration, observer: DynamoDBStoreObserver = .none) async throws {
        client = try DynamoDBClient(configuration: configuration, logger: logger, observer: observer)
        tables = DynamoDBTables(prefix: configuration.tablePrefix)
        self.logger = logger
        self.fanOutLease = fanOutLease
        do {
            try await tables.prepare(client, create: configuration.createTables, logger: logger)
        } catch {
            try? await client.shutdown()
            throw error
        }
    }

    /// Closes the HTTP client. Call once nothing uses the store any more.
    public func shutdown() async throws {
        try await client.shutdown()
    }

    // MARK: Write machinery

    /// The most conflicts an operation retries before giving up.
    static let maxConflicts = 60

    /// Runs `attempt` again after each conflict (a cancelled transaction), backing off with
    /// jitter; each attempt reads what it depends on afresh.
    func retrying<T>(_ operation: String, _ attempt: () async throws -> T) async throws -> T {
        var conflicts = 0
        while true {
            do {
                return try await attempt()
            } catch let error as DynamoDBError where error.code == .transactionCanceled {
                self.conflicts.add(1, ordering: .relaxed)
                client.observer.conflict()
                conflicts += 1
                logger.debug("write conflict, retrying", metadata: ["operation": "\(operation)", "conflicts": "\(conflicts)"])
                guard conflicts <= Self.maxConflicts else {
                    throw DynamoDBError(.contention, "\(operation) lost \(conflicts) times to concurrent writes", cancellationReasons: error.cancellationReasons)
                }
                try await Task.sleep(for: Backoff.delay(attempt: min(conflicts, 6), base: .milliseconds(4), cap: .milliseconds(250)))
            }
        }
    }

    /// The last seq given out to each of `users` (consistent reads); unknown users are absent.
    func seqs(of users: [UserID]) async throws -> [UserID: Int64] {
        guard !users.isEmpty else { return [:] }
        let items = try await client.batchGet(tables.users, keys: users.map(tables.user), projection: ["id", "seq"])
        return try Dictionary(items.map { (try $0.userID("id"), try $0.int("seq")) }, uniquingKeysWith: max)
    }

    /// Commits `actions` and the entries of `appends` as one transaction: each user's counter
    /// conditioned on the seq read (now, unless in `known`) and raised by their entries.
    /// Throws `notFound` when a user is unknown, a cancelled transaction on a conflict.
    func commit(_ actions: [WriteAction], _ appends: TimelineAppends, known: [UserID: Int64] = [:]) async throws -> [TimelineEntry] {
        var seqs = known
        let missing = appends.users.filter { seqs[$0] == nil }
        seqs.merge(try await self.seqs(of: missing)) { a, _ in a }
        if let unknown = appends.users.first(where: { seqs[$0] == nil }) { throw ChatError.notFound("no such user: \(unknown)") }
        let (writes, entries) = appends.actions(tables, seqs: seqs)
        try await client.transactWrite(actions + writes)
        return entries
    }

    /// An update of `conversation` that sets `attributes` and raises its version, conditioned
    /// on the version read (so that it fails if anyone changed the conversation since), and
    /// marks it `pending` on the fan-out `pending` when there is one.
    func conversationUpdate(_ conversation: ConversationRecord, setting attributes: KeyValuePairs<String, AttributeValue>,
                            pending: String?) -> WriteAction {
        var e = Expression()
        var assignments: [String] = []
        for (name, value) in attributes { assignments.append("\(e.name(name)) = \(e.value(value))") }
        let ver = e.name("ver")
        assignments.append("\(ver) = \(e.value(.int(conversation.ver + 1)))")
        if let pending { assignments.append("\(e.name("pending")) = \(e.value(.s(pending)))") }
        let condition = "\(ver) = \(e.value(.int(conversation.ver)))"
        return .update(UpdateAction(tables.conversations, tables.conversation(conversation.id), update: "SET " + assignments.joined(separator: ", "),
                                    condition: condition, e))
    }

    /// Whether a cancelled transaction failed on its item `index`'s condition.
    static func failed(_ error: DynamoDBError, at index: Int) -> Bool {
        error.code == .transactionCanceled && error.cancellationReasons.indices.contains(index)
            && error.cancellationReasons[index].isConditionalCheckFailed
    }

    static func userLock(_ user: UserID) -> String { "u#\(user)" }
    static func conversationLock(_ conversation: ConversationID) -> String { "c#\(conversation)" }

    /// The wall clock in ms (outbox leases; the service's clock stamps the data).
    static func now() -> Int64 { ChatService.wallClock() }
}

/// Hooks for tests: stopping a fan-out part-way, as a crash would; failing a user's acks.
final class StoreHooks: Sendable {
    /// Fan-out chunks to commit after an outbox's first transaction before failing with
    /// ``simulatedCrash``; negative for no limit.
    let fanOutChunksBeforeCrash = Atomic<Int>(-1)
    /// Per user, how many transactions recording the deliveries their acks make may commit
    /// before the next fails with ``simulatedFailure``.
    let deliveryCommitsBeforeFailure = Mutex<[UserID: Int]>([:])

    static let simulatedCrash = DynamoDBError(.service, "simulated crash (test hook)")
    static let simulatedFailure = DynamoDBError(.service, "simulated failure (test hook)")

    /// Throws ``simulatedFailure`` when `user`'s deliveries may commit no more transactions;
    /// otherwise counts this one.
    func deliveryCommit(of user: UserID) throws {
        try deliveryCommitsBeforeFailure.withLock { budgets in
            guard let budget = budgets[user] else { return }
            guard budget > 0 else { throw Self.simulatedFailure }
            budgets[user] = budget - 1
        }
    }
}
