extension ChatService {
    /// Sends a message from the authenticated user.
    ///
    /// Idempotent on `(from, request.id)`: the same content again returns the original message
    /// and delivers nothing twice; other content is a `conflict`. Unknown recipient → `not_found`,
    /// group one is not in → `forbidden`, empty body → `bad_request`, too long → `too_large`.
    /// Returns after the message and every recipient's timeline entry are durable.
    public func send(from: UserID, _ request: SendRequest) async throws(ChatError) -> Message {
        try await submitSend(from: from, request).sent().message
    }

    /// `send` in two steps, for callers that handle one user's events in order but need not
    /// wait for each commit: validates and queues the write (sends submitted in order get their
    /// `pos` in that order) and returns; the result's `sent()` returns once it is durable and
    /// published (or throws what `send` throws).
    public func submitSend(from: UserID, _ request: SendRequest) async throws(ChatError) -> PendingSend {
        let (draft, promise) = try prepareSend(from: from, request)
        await store.submitAppendMessage(draft, encode: { JSONPayload.message($0) }, completion: sendCompletion(draft, promise))
        return PendingSend(promise: promise)
    }

    /// Whether ``submitSendNow(from:_:)`` can be used (the store queues writes without suspending).
    public var submitsSendsNow: Bool { immediateStore != nil }

    /// ``submitSend(from:_:)`` without suspending, when ``submitsSendsNow``; nil otherwise.
    public func submitSendNow(from: UserID, _ request: SendRequest) throws(ChatError) -> PendingSend? {
        guard let immediateStore else { return nil }
        let (draft, promise) = try prepareSend(from: from, request)
        immediateStore.submitAppendMessageNow(draft, encode: { JSONPayload.message($0) }, completion: sendCompletion(draft, promise))
        return PendingSend(promise: promise)
    }

    /// The checked draft of a send, and the promise its completion fulfils.
    private func prepareSend(from: UserID, _ request: SendRequest) throws(ChatError) -> (MessageDraft, Promise<SentMessage, ChatError>) {
        try Validation.messageID(request.id)
        let conversation = try Validation.target(to: request.to, group: request.group, from: from)
        try Validation.body(request.body, max: configuration.maxMessageChars)
        let draft = MessageDraft(id: request.id, conversation: conversation, from: from, to: request.to,
                                 group: request.group, body: request.body, ts: clock())
        return (draft, Promise<SentMessage, ChatError>())
    }

    /// What a send does once the store answered: publish, then fulfil `promise`.
    private func sendCompletion(_ draft: MessageDraft, _ promise: Promise<SentMessage, ChatError>)
        -> @Sendable (Result<AppendOutcome, any Error>) -> Void {
        { [self] result in
            switch result {
            case .success(.created(let message, let entries)):
                // Published in commit order; the sender's answer waits for the publish, as before.
                // Every entry's payload is the message's JSON, encoded once in the store: the
                // sender's answer reuses it.
                let json = entries.first?.payload ?? JSONPayload.message(message)
                publishCommitted(entries) { promise.complete(.success(SentMessage(message: message, json: json))) }
            case .success(.existing(let message)):
                if message.conversation == draft.conversation, message.body == draft.body {
                    promise.complete(.success(SentMessage(message: message, json: JSONPayload.message(message))))
                } else {
                    promise.complete(.failure(.conflict("message id already used with other content")))
                }
            case .failure(let error as ChatError):
                promise.complete(.failure(error))
            case .failure(let error):
                logger.error("store failed", metadata: ["operation": "appendMessage", "error": "\(error)"])
                promise.complete(.failure(.unavailable("storage unavailable")))
            }
        }
    }

    /// Marks the messages `ids` of `conversation` read by `reader`; each sender gets one `read`
    /// receipt for their newly read messages (the reader's own messages are ignored; each
    /// message is reported once per reader). Not a participant → `not_found`.
    public func markRead(by reader: UserID, conversation: ConversationID, ids: [String]) async throws(ChatError) {
        guard ids.count <= configuration.maxReadIds else { throw .tooLarge("at most \(configuration.maxReadIds) ids") }
        for id in ids { try Validation.messageID(id) }
        try await requireParticipant(reader, in: conversation)
        let ts = clock()
        let entries = ids.isEmpty ? [] : try await storage("markRead") {
            try await store.markRead(reader: reader, conversation: conversation, ids: ids, at: ts, delivered: Self.deliveredReceipt(at: ts)) { _, readIDs in
                JSONPayload.receipt(ReceiptEvent(conversation: conversation, ids: readIDs, by: reader, status: .read, ts: ts))
            }
        }
        // Nothing newly read: a direct conversation may be one with nobody (looked up only then).
        if entries.isEmpty { try await requirePeerExists(viewer: reader, in: conversation) }
        await publish(entries)
    }

    /// Relays a typing indicator to the peer or the group's other members; never stored.
    public func typing(from: UserID, to: UserID?, group: GroupID?, typing: Bool) async throws(ChatError) {
        let conversation = try Validation.target(to: to, group: group, from: from)
        let recipients: [UserID]
        if let to {
            guard try await storage("user", { try await store.user(to) }) != nil else { throw .notFound("no such user") }
            recipients = [to]
        } else if let group {
            let found = try await storage("group") { try await store.group(group) }
            guard let found else { throw .notFound("no such group") }
            guard found.members.contains(from) else { throw .forbidden("not a member of this group") }
            recipients = found.members.filter { $0 != from }
        } else {
            recipients = []
        }
        let payload = JSONPayload.encode(TypingEvent(conversation: conversation, from: from, typing: typing))
        await publish(.ephemeral(event: "typing", payload: payload), to: recipients)
    }

    /// A connection of `user` acknowledged timeline event `seq`: raises the acked mark and, for
    /// a message not yet delivered to `user`, records the delivery and sends the sender a
    /// `delivered` receipt (once per message per recipient). Returns once that is durable.
    /// Failures are logged, not thrown: the client's ack cannot be answered anyway.
    public func acknowledge(user: UserID, seq: Int64) async {
        guard seq > 0 else { return }
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            if acks.add(user: user, seq: seq, waiter: continuation) { startFlush() }
        }
    }

    /// `acknowledge` without waiting: the ack joins the next batch of acks, written as one
    /// store operation (so a connection's acks do not hold its other events behind a commit each).
    /// `event` is the acknowledged entry's event when known: only a `message` can be delivered,
    /// so the ack of any other only raises the acked mark, without looking the entry up.
    public func acknowledgeInBackground(user: UserID, seq: Int64, event: String? = nil) {
        guard seq > 0 else { return }
        let mayBeMessage = event.map { $0 == "message" } ?? true
        if acks.add(user: user, seq: seq, mayBeMessage: mayBeMessage, waiter: nil) { startFlush() }
    }

    /// A connection opening with `since` past the acked mark (and not past the latest seq)
    /// says it has the events up to `since`: it acked them, but the acks were never written
    /// (the node that took them stopped first) or are still on their way. Acknowledging them
    /// again lets the messages among them count as delivered, which otherwise only a `read`
    /// would do; acks written twice are harmless (a delivery is recorded once). Only the last
    /// ``maxUnwrittenAcks`` are looked at: older ones only see the acked mark raised.
    func acknowledgeUnwritten(user: UserID, after acked: Int64, through since: Int64) {
        let first = max(acked + 1, since - Self.maxUnwrittenAcks + 1)
        for seq in first...since { acknowledgeInBackground(user: user, seq: seq) }
    }

    /// More acks than one node takes in the moments before it stops.
    static let maxUnwrittenAcks: Int64 = 1_000

    /// Writes the collected acks, one batch at a time, so that acks arriving meanwhile join the
    /// next one: without a task when the store queues writes without suspending.
    private func startFlush() {
        if let immediateStore { flushAcksNow(immediateStore) } else { Task { await flushAcks() } }
    }

    private func flushAcks() async {
        while true {
            let (batch, waiters) = acks.take()
            if batch.isEmpty { return }
            let ts = clock()
            let written = Promise<Void, Never>()
            await store.submitAcknowledge(batch, at: ts, receipt: Self.deliveredReceipt(at: ts)) { [self] result in
                acksWritten(result, count: batch.count) { written.complete(.success(())) }
            }
            _ = await written.result
            for waiter in waiters { waiter.resume() }
        }
    }

    /// `flushAcks` from one batch's completion to the next's submission.
    private func flushAcksNow(_ store: any ImmediateSubmitting) {
        let (batch, waiters) = acks.take()
        if batch.isEmpty { return }
        let ts = clock()
        store.submitAcknowledgeNow(batch, at: ts, receipt: Self.deliveredReceipt(at: ts)) { [self] result in
            acksWritten(result, count: batch.count) {
                for waiter in waiters { waiter.resume() }
                self.flushAcksNow(store)
            }
        }
    }

    private static func deliveredReceipt(at ts: Int64) -> PayloadEncoder<DeliveredMessages> {
        { delivered in
            JSONPayload.receipt(ReceiptEvent(conversation: delivered.conversation, ids: delivered.ids, by: delivered.recipient,
                                             status: .delivered, ts: ts))
        }
    }

    /// Publishes what a batch of acks appended, then runs `then`; a failure is logged.
    private func acksWritten(_ result: Result<[TimelineEntry], any Error>, count: Int, then: @escaping @Sendable () -> Void) {
        switch result {
        case .success(let entries):
            publishCommitted(entries, then: then)
        case .failure(let error):
            logger.error("acknowledge failed", metadata: ["acks": "\(count)", "error": "\(error)"])
            then()
        }
    }

    /// The call log of `user`, newest first, with unread counts; a group's title is its name,
    /// a direct conversation's the peer's name.
    public func conversations(of user: UserID) async throws(ChatError) -> [ConversationSummary] {
        try await storage("conversations") { try await store.conversations(of: user) }
    }

    /// The newest `limit` (clamped to 1...100) messages before `before`, ascending by `pos`,
    /// with delivered/read lists. `not_found` unless `viewer` participates (current member for groups).
    public func history(of conversation: ConversationID, viewer: UserID, before: Int64?, limit: Int) async throws(ChatError) -> HistoryPage {
        try await requireParticipant(viewer, in: conversation)
        try await requirePeerExists(viewer: viewer, in: conversation)
        return try await storage("history") {
            try await store.history(of: conversation, before: before, limit: min(max(limit, 1), 100))
        }
    }

    /// Deletes timeline entries older than `retentionDays`.
    public func pruneExpired() async throws(ChatError) {
        let cutoff = clock() - Int64(configuration.retentionDays) * 86_400_000
        try await storage("pruneTimeline") { try await store.pruneTimeline(before: cutoff) }
    }

    /// ``pruneExpired()`` on one node of a cluster per slot of `interval` of the clock (each
    /// hour, for an hourly run), for nodes that call this every `interval`: the first whose call
    /// falls in a slot claims it (``Broker/claim(_:for:)``) and prunes, the others skip it
    /// (`false`). A node that dies or fails leaves the next slot to whichever node comes first.
    /// When the broker cannot be asked, this node prunes anyway: the deletes are idempotent,
    /// only the work is repeated.
    @discardableResult
    public func pruneExpired(oncePer interval: Duration) async throws(ChatError) -> Bool {
        let slot = clock() / max(interval.wholeMilliseconds, 1)
        do {
            // Held for two slots: a node whose clock lags a little cannot take the slot again.
            guard try await broker.claim("retention:\(slot)", for: interval * 2) else { return false }
        } catch is CancellationError {
            return false
        } catch {
            logger.warning("retention: broker unavailable, pruning without a claim", metadata: ["error": "\(error)"])
        }
        try await pruneExpired()
        return true
    }
}

/// A message whose write is queued; see `ChatService.submitSend(from:_:)`.
public struct PendingSend: Sendable {
    fileprivate let promise: Promise<SentMessage, ChatError>

    /// The stored message and its JSON, once durable and published.
    public func sent() async throws(ChatError) -> SentMessage {
        try await promise.result.get()
    }

    /// Calls `completion` with what ``sent()`` returns, once it is known, without a task waiting
    /// for it (it may run on the store's writer: keep it short).
    public func whenSent(_ completion: @escaping @Sendable (Result<SentMessage, ChatError>) -> Void) {
        promise.whenComplete(completion)
    }
}

/// A stored message and its JSON (`JSONPayload.message`), as the sender's answer carries it.
public struct SentMessage: Sendable {
    /// The stored message.
    public let message: Message
    /// `JSONPayload.message(message)`.
    public let json: [UInt8]
}
