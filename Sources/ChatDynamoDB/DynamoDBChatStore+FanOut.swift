import ChatCore
import Foundation

extension DynamoDBChatStore {
    /// Commits an operation's own change, `core(outboxID)`, with `fanOut`'s entries.
    ///
    /// When everything fits in one transaction it is one transaction (`outboxID` nil). Otherwise
    /// the first holds the core change (which must mark the conversation `pending = outboxID`),
    /// an outbox item and as many recipients as fit; the rest follow chunk by chunk (`drive`).
    /// Conflicts of the first transaction are thrown (the caller reads again and retries; its
    /// items come first, so it can tell which failed by index); after it, the operation has
    /// happened, and a failure leaves the outbox for ``resumePendingFanOuts(olderThan:)``.
    /// The caller holds the conversation's lock.
    func commitFanOut(_ fanOut: FanOut, core: (_ outboxID: String?) -> [WriteAction]) async throws -> [TimelineEntry] {
        let whole = core(nil)
        let capacity = DynamoDBClient.maxTransactionItems
        if whole.count + fanOut.cost <= capacity {
            return try await locks.withLocks(fanOut.recipients.map(Self.userLock)) {
                let (actions, appends) = fanOut.writes(for: fanOut.recipients, tables)
                return try await commit(whole + actions, appends)
            }
        }
        let id = UUID().uuidString
        let first = core(id)
        // The outbox item is one more.
        let count = fanOut.fitting(from: 0, capacity: capacity - first.count - 1)
        var rest = fanOut
        rest.recipients = Array(fanOut.recipients[count...])
        let outbox = Outbox(id: id, fanOut: rest, owner: node, touched: Self.now())
        var entries = try await locks.withLocks(fanOut.recipients[..<count].map(Self.userLock)) {
            let (actions, appends) = fanOut.writes(for: fanOut.recipients[..<count], tables)
            return try await commit(first + [.put(PutAction(tables.outbox, outbox.item(tables)))] + actions, appends)
        }
        do {
            try await drive(outbox, appended: &entries)
        } catch {
            // What was appended is durable: the recovery service publishes it.
            recovered.withLock { $0 += entries }
            throw error.asNotCanceled
        }
        return entries
    }

    /// Serves the rest of `outbox`'s recipients, a transaction per chunk, appending their
    /// entries to `appended`. Stops early when another node took the outbox over.
    func drive(_ outbox: Outbox, appended: inout [TimelineEntry]) async throws {
        var outbox = outbox
        var chunks = 0
        var conflicts = 0
        let recipients = outbox.fanOut.recipients
        while outbox.done < recipients.count {
            let budget = hooks.fanOutChunksBeforeCrash.load(ordering: .relaxed)
            if budget >= 0, chunks >= budget { throw StoreHooks.simulatedCrash }
            // Room for the outbox's progress and the conversation's release.
            let start = outbox.done
            let end = start + outbox.fanOut.fitting(from: start, capacity: DynamoDBClient.maxTransactionItems - 2)
            var e = Expression()
            let condition = "\(e.name("done")) = \(e.value(.int(start))) AND \(e.name("owner")) = \(e.value(.s(node)))"
            var actions: [WriteAction]
            if end == recipients.count {
                actions = [.delete(KeyAction(tables.outbox, tables.outboxItem(outbox.id), condition: condition, e))]
                var r = Expression()
                let pending = r.name("pending")
                actions.append(.update(UpdateAction(tables.conversations, tables.conversation(outbox.fanOut.conversation), update: "REMOVE \(pending)",
                                                    condition: "\(pending) = \(r.value(.s(outbox.id)))", r)))
            } else {
                let update = "SET \(e.name("done")) = \(e.value(.int(end))), \(e.name("touched")) = \(e.value(.int(Self.now())))"
                actions = [.update(UpdateAction(tables.outbox, tables.outboxItem(outbox.id), update: update, condition: condition, e))]
            }
            let chunk = recipients[start..<end]
            do {
                let entries = try await locks.withLocks(chunk.map(Self.userLock)) {
                    // A user who does not exist (never, users are not deleted) is skipped rather
                    // than holding the fan-out up for ever.
                    let seqs = try await self.seqs(of: Array(chunk))
                    let (writes, appends) = outbox.fanOut.writes(for: chunk.filter { seqs[$0] != nil }, tables)
                    return try await commit(actions + writes, appends, known: seqs)
                }
                appended += entries
                outbox.done = end
                chunks += 1
                conflicts = 0
            } catch let error as DynamoDBError where error.code == .transactionCanceled {
                self.conflicts.add(1, ordering: .relaxed)
                if Self.failed(error, at: 0) {
                    // Moved on by another node: go on from where it is, unless it is theirs now.
                    guard let fresh = try await loadOutbox(outbox.id), fresh.owner == node else { return }
                    outbox = fresh
                } else {
                    conflicts += 1
                    guard conflicts <= Self.maxConflicts else { throw DynamoDBError(.contention, "fan-out \(outbox.id) kept conflicting") }
                    try await Task.sleep(for: Backoff.delay(attempt: min(conflicts, 6), base: .milliseconds(4), cap: .milliseconds(250)))
                }
            }
        }
    }

    func loadOutbox(_ id: String) async throws -> Outbox? {
        try await client.getItem(tables.outbox, key: tables.outboxItem(id)).map(Outbox.init(item:))
    }

    /// Makes this node the outbox's driver, unless someone else changed it since it was read.
    func claim(_ outbox: Outbox) async throws -> Outbox? {
        var e = Expression()
        let now = Self.now()
        let update = "SET \(e.name("owner")) = \(e.value(.s(node))), \(e.name("touched")) = \(e.value(.int(now)))"
        let condition = "\(e.name("owner")) = \(e.value(.s(outbox.owner))) AND \(e.name("touched")) = \(e.value(.int(outbox.touched)))"
        do {
            try await client.updateItem(UpdateAction(tables.outbox, tables.outboxItem(outbox.id), update: update, condition: condition, e))
        } catch let error as DynamoDBError where error.code == .conditionalCheckFailed {
            // A retry after an attempt that may have claimed it: ours if it says so.
            guard error.afterUncertainAttempt, let fresh = try await loadOutbox(outbox.id), fresh.owner == node, fresh.touched == now else { return nil }
            return fresh
        }
        var claimed = outbox
        claimed.owner = node
        claimed.touched = now
        return claimed
    }

    /// Makes way for the fan-out `outboxID` still marked on `conversation`, so that its members
    /// get the conversation's events in order. The caller holds the conversation's lock and
    /// reads the conversation again afterwards. A fan-out of this node (a failed operation left
    /// it) or one whose owner stopped renewing it is finished here, its entries handed to the
    /// recovery service; another node's live one is waited for.
    func settle(_ outboxID: String, of conversation: ConversationID) async throws {
        guard let outbox = try await loadOutbox(outboxID) else {
            // Only a hand-deleted outbox leaves its mark behind.
            var e = Expression()
            let pending = e.name("pending")
            do {
                try await client.updateItem(UpdateAction(tables.conversations, tables.conversation(conversation), update: "REMOVE \(pending)",
                                                         condition: "\(pending) = \(e.value(.s(outboxID)))", e))
            } catch let error as DynamoDBError where error.code == .conditionalCheckFailed {}
            return
        }
        guard outbox.owner == node || Self.now() - outbox.touched >= fanOutLease.wholeMilliseconds else {
            try await Task.sleep(for: .milliseconds(Int.random(in: 10...40)))
            return
        }
        guard let claimed = try await claim(outbox) else { return }
        var entries: [TimelineEntry] = []
        defer { recovered.withLock { $0 += entries } }
        try await drive(claimed, appended: &entries)
    }

    /// Finishes the fan-outs idle for `age` and returns the entries to publish.
    ///
    /// A fan-out goes idle when its process died or failed part-way. The entries returned are
    /// the ones appended for them, with those appended while finishing one inline (an
    /// operation on its conversation could not wait). Scans the `outbox` table, which holds
    /// only fan-outs in progress.
    public func resumePendingFanOuts(olderThan age: Duration) async throws -> [TimelineEntry] {
        let cutoff = Self.now() - age.wholeMilliseconds
        var start: Item?
        repeat {
            let page = try await client.scan(QueryInput(TableName: tables.outbox, ExclusiveStartKey: start, ConsistentRead: true))
            for item in page.Items ?? [] {
                let outbox = try Outbox(item: item)
                guard outbox.touched <= cutoff else { continue }
                do {
                    try await locks.withLock(Self.conversationLock(outbox.fanOut.conversation)) {
                        guard let fresh = try await loadOutbox(outbox.id), fresh.touched <= cutoff, let claimed = try await claim(fresh) else { return }
                        var entries: [TimelineEntry] = []
                        defer { recovered.withLock { $0 += entries } }
                        try await drive(claimed, appended: &entries)
                    }
                } catch {
                    logger.error("resuming a fan-out failed", metadata: ["outbox": "\(outbox.id)", "error": "\(error)"])
                }
            }
            start = page.LastEvaluatedKey
        } while start != nil
        return recovered.withLock { entries in
            defer { entries = [] }
            return entries
        }
    }
}

extension Error {
    /// A cancelled transaction after an operation's first transaction committed must not make
    /// the caller run the operation again: it becomes `contention`.
    var asNotCanceled: any Error {
        guard let error = self as? DynamoDBError, error.code == .transactionCanceled else { return self }
        return DynamoDBError(.contention, error.message, cancellationReasons: error.cancellationReasons)
    }
}
