import ChatCore

/// A message as receipts need it: where it is, who sent it, its client id.
struct MessageRef: Hashable, Sendable {
    var conversation: ConversationID
    var pos: Int64
    var sender: UserID
    var id: String
}

// Marks and receipts. Each transaction marks messages together with the receipts that report
// them; more than one transaction holds (100 items) is split into several, each consistent
// on its own (a sender may then get two receipts where one would have done).
extension DynamoDBChatStore {
    /// `ChatStore` requirement: records the deliveries `acks` make, then the acked marks.
    ///
    /// Each delivery is recorded with its receipt, and a user's acked mark raised after all of
    /// that user's deliveries are.
    ///
    /// Each user's acks are written on their own: one user's failure is logged and does not
    /// stop the others', and the receipts committed (the failing user's first transactions
    /// too) are returned, to be published. The failing user's acked mark stays where it was,
    /// so their entries are replayed and acked again. Throws only when every user failed
    /// before committing anything.
    public func acknowledge(_ acks: [UserAcks], at ts: Int64, receipt: @escaping PayloadEncoder<DeliveredMessages>) async throws -> [TimelineEntry] {
        let outcomes = await withTaskGroup(of: (Int, [TimelineEntry], (any Error)?).self) { group in
            for (index, ack) in acks.enumerated() {
                group.addTask {
                    var entries: [TimelineEntry] = []
                    do {
                        try await self.acknowledge(ack, at: ts, receipt: receipt, committed: &entries)
                        return (index, entries, nil)
                    } catch {
                        return (index, entries, error)
                    }
                }
            }
            var outcomes = [(entries: [TimelineEntry], error: (any Error)?)](repeating: ([], nil), count: acks.count)
            for await (index, entries, error) in group { outcomes[index] = (entries, error) }
            return outcomes
        }
        let entries = outcomes.flatMap(\.entries)
        let failures = zip(acks, outcomes).compactMap { ack, outcome in outcome.error.map { (ack.user, $0) } }
        if let (_, first) = failures.first, failures.count == acks.count, entries.isEmpty { throw first }
        for (user, error) in failures {
            logger.error("acknowledge failed for one user", metadata: ["user": "\(user)", "error": "\(error)"])
        }
        return entries
    }

    /// One user's acks: the deliveries of the messages among the entries, with their receipts
    /// (appended to `committed` as each transaction commits), then the acked mark. The mark
    /// moves only once every delivery is recorded: entries below it are never replayed, so a
    /// delivery that failed to be recorded would never be recorded at all.
    private func acknowledge(_ ack: UserAcks, at ts: Int64, receipt: PayloadEncoder<DeliveredMessages>,
                             committed: inout [TimelineEntry]) async throws {
        try await recordDeliveries(ack, at: ts, receipt: receipt, committed: &committed)
        // Not in the deliveries' last transaction: DynamoDB has no `max`, so that would need
        // a condition on the mark read, and another connection of the user acking meanwhile
        // would cancel the deliveries.
        if ack.highest > 0 { try await raiseAcked(ack.user, to: ack.highest) }
    }

    /// Marks the messages among `ack`'s entries delivered to its user (those not yet) and
    /// appends one receipt per sender and conversation, chunk by chunk.
    private func recordDeliveries(_ ack: UserAcks, at ts: Int64, receipt: PayloadEncoder<DeliveredMessages>,
                                  committed: inout [TimelineEntry]) async throws {
        let user = ack.user
        var seqs: [Int64] = []
        for seq in ack.seqs where !seqs.contains(seq) { seqs.append(seq) }
        guard !seqs.isEmpty else { return }
        let refs = try await client.batchGet(tables.timeline, keys: seqs.map { tables.entry(user, $0) }, projection: ["seq", "conversation", "pos"])
        var positions: [Int64: (ConversationID, Int64)] = [:]
        for item in refs where item["pos"] != nil {
            positions[try item.int("seq")] = (try item.conversationID("conversation"), try item.int("pos"))
        }
        let keys = seqs.compactMap { positions[$0] }
        guard !keys.isEmpty else { return }
        try await retrying("acknowledge") {
            let states = try await messageStates(keys, of: user)
            let undelivered = keys.compactMap { states[MessageKey($0)] }.filter { !$0.delivered }.map(\.ref)
            let cost = { (chunk: ArraySlice<MessageRef>) in chunk.count + Set(chunk.map(\.sender)).count + DeliveredMessages.groupCount(chunk) }
            for chunk in Self.packed(undelivered, cost: cost) {
                let marks = chunk.map { deliveryMark($0, to: user, at: ts) }
                var appends = TimelineAppends()
                for delivered in DeliveredMessages.grouping(chunk.map { ($0.sender, $0.conversation, $0.id) }, to: user) {
                    appends.add(delivered.sender, event: "receipt", payload: receipt(delivered), ts: ts)
                }
                try hooks.deliveryCommit(of: user)
                let entries = try await locks.withLocks(appends.users.map(Self.userLock)) {
                    try await commit(marks, appends)
                }
                committed += entries
            }
        }
    }

    /// Marks message `ref` delivered to `user`, conditioned on its existing and not being
    /// marked yet (so that no receipt is sent twice).
    private func deliveryMark(_ ref: MessageRef, to user: UserID, at ts: Int64) -> WriteAction {
        var e = Expression()
        let path = e.path("delivered", user.rawValue)
        let update = "SET \(path) = \(e.value(.int(ts)))"
        let condition = "attribute_exists(\(e.name("pos"))) AND attribute_not_exists(\(path))"
        return .update(UpdateAction(tables.messages, tables.message(ref.conversation, ref.pos), update: update, condition: condition, e))
    }

    /// Raises `user`'s acked mark to `highest`, never past their latest seq.
    private func raiseAcked(_ user: UserID, to highest: Int64) async throws {
        var e = Expression()
        let acked = e.name("acked")
        let value = e.value(.int(highest))
        // Acks name entries that exist, so one conditional write usually does it.
        let condition = "attribute_exists(\(e.name("id"))) AND \(acked) < \(value) AND \(e.name("seq")) >= \(value)"
        do {
            try await client.updateItem(UpdateAction(tables.users, tables.user(user), update: "SET \(acked) = \(value)", condition: condition, e))
        } catch let error as DynamoDBError where error.code == .conditionalCheckFailed {
            guard let item = try await client.getItem(tables.users, key: tables.user(user), projection: ["seq", "acked"]) else { return }
            let target = min(highest, try item.int("seq"))
            guard target > (try item.int("acked")) else { return }
            var e = Expression()
            let acked = e.name("acked")
            let value = e.value(.int(target))
            do {
                try await client.updateItem(UpdateAction(tables.users, tables.user(user), update: "SET \(acked) = \(value)", condition: "\(acked) < \(value)", e))
            } catch let error as DynamoDBError where error.code == .conditionalCheckFailed {}
        }
    }

    /// What one user's receipts depend on: each message's sender and client id, and whether
    /// `user` received and read it (absent messages are left out).
    func messageStates(_ keys: [(ConversationID, Int64)], of user: UserID) async throws -> [MessageKey: MessageState] {
        let paths = [["conversation"], ["pos"], ["cid"], ["from"], ["delivered", user.rawValue], ["read", user.rawValue]]
        let items = try await client.batchGet(tables.messages, keys: keys.map { tables.message($0.0, $0.1) }, paths: paths)
        var states: [MessageKey: MessageState] = [:]
        for item in items {
            let ref = MessageRef(conversation: try item.conversationID("conversation"), pos: try item.int("pos"), sender: try item.userID("from"),
                                 id: try item.string("cid"))
            states[MessageKey((ref.conversation, ref.pos))] = MessageState(ref: ref, delivered: item["delivered"]?.map?[user.rawValue] != nil,
                                                                           read: item["read"]?.map?[user.rawValue] != nil)
        }
        return states
    }

    /// `items` cut into runs in order, each as long as `cost` allows in one transaction.
    static func packed<T>(_ items: [T], cost: (ArraySlice<T>) -> Int, capacity: Int = DynamoDBClient.maxTransactionItems) -> [ArraySlice<T>] {
        var chunks: [ArraySlice<T>] = []
        var start = items.startIndex
        while start < items.endIndex {
            var end = start + 1
            while end < items.endIndex, cost(items[start...end]) <= capacity { end += 1 }
            chunks.append(items[start..<end])
            start = end
        }
        return chunks
    }
}

/// A message's key, hashable.
struct MessageKey: Hashable, Sendable {
    var conversation: ConversationID
    var pos: Int64

    init(_ key: (ConversationID, Int64)) {
        conversation = key.0
        pos = key.1
    }
}

/// A message as one user's receipts see it.
struct MessageState: Sendable {
    var ref: MessageRef
    var delivered: Bool
    var read: Bool
}

extension DeliveredMessages {
    /// How many receipts `grouping` makes of `messages` (one per sender and conversation).
    static func groupCount(_ messages: ArraySlice<MessageRef>) -> Int {
        Set(messages.map { "\($0.sender) \($0.conversation)" }).count
    }
}
