import ChatCore

extension DynamoDBChatStore {
    /// `ChatStore` requirement: stores a message unless its `(from, id)` exists, with its recipients' entries.
    public func appendMessage(_ draft: MessageDraft, encode: @escaping PayloadEncoder<Message>) async throws -> AppendOutcome {
        if let to = draft.to {
            let keys = [Self.conversationLock(draft.conversation), Self.userLock(to)]
            return try await locks.withLocks(keys) {
                try await retrying("appendMessage") { try await appendDirect(draft, to: to, encode: encode) }
            }
        }
        return try await locks.withLock(Self.conversationLock(draft.conversation)) {
            try await retrying("appendMessage") { try await appendToGroup(draft, encode: encode) }
        }
    }

    /// One transaction: the conversation (created with its members by the first message),
    /// the message, its idempotency item, the recipient's counter and entry.
    private func appendDirect(_ draft: MessageDraft, to: UserID, encode: PayloadEncoder<Message>) async throws -> AppendOutcome {
        // A consistent snapshot of both in one request.
        let read = try await client.transactGet([
            GetInput(TableName: tables.conversations, Key: tables.conversation(draft.conversation)),
            GetInput(TableName: tables.users, Key: tables.user(to)),
        ])
        guard let recipient = read[1] else { throw ChatError.notFound("no such user") }
        let conversation = try read[0].map(ConversationRecord.init(item:))
        let message = draft.message(pos: (conversation?.pos ?? 0) + 1)
        var actions = [messageWrite(message, after: conversation), sentWrite(message)]
        if conversation == nil {
            for member in [draft.from, to] {
                var item = tables.membership(member, draft.conversation)
                item["joinedAt"] = .int(draft.ts)
                item["lastRead"] = .int(0)
                actions.append(.put(PutAction(tables.memberships, item)))
            }
        }
        actions.append(.put(PutAction(tables.messages, message.newItem)))
        var appends = TimelineAppends()
        appends.add(to, event: "message", payload: encode(message), ts: draft.ts, message: (draft.conversation, message.pos))
        do {
            return .created(message, try await commit(actions, appends, known: [to: try recipient.int("seq")]))
        } catch let error as DynamoDBError where Self.failed(error, at: 1) {
            return .existing(try await sentMessage(from: draft.from, id: draft.id))
        }
    }

    /// The conversation at `message.pos` (created for the first message of a direct one),
    /// message `message` its last.
    private func messageWrite(_ message: Message, after conversation: ConversationRecord?, pending: String? = nil) -> WriteAction {
        guard let conversation else {
            var item = tables.conversation(message.conversation)
            item["kind"] = .s("dm")
            item["members"] = .strings([message.from.rawValue] + (message.to.map { [$0.rawValue] } ?? []))
            item["pos"] = .int(message.pos)
            item["ver"] = .int(1)
            item["last"] = .m(message.attributes)
            var e = Expression()
            return .put(PutAction(tables.conversations, item, condition: "attribute_not_exists(\(e.name("id")))", e))
        }
        return conversationUpdate(conversation, setting: ["pos": .int(message.pos), "last": .m(message.attributes)], pending: pending)
    }

    /// The idempotency item of `(sender, id)`, which must not exist yet.
    private func sentWrite(_ message: Message) -> WriteAction {
        var item = tables.sent(message.from, message.id)
        item["conversation"] = .s(message.conversation.rawValue)
        item["pos"] = .int(message.pos)
        var e = Expression()
        return .put(PutAction(tables.messageIDs, item, condition: "attribute_not_exists(\(e.name("key")))", e))
    }

    /// The message `sender` sent with client id `id`.
    private func sentMessage(from sender: UserID, id: String) async throws -> Message {
        guard let sent = try await client.getItem(tables.messageIDs, key: tables.sent(sender, id)),
              let item = try await client.getItem(tables.messages, key: tables.message(try sent.conversationID("conversation"), try sent.int("pos")))
        else { throw DynamoDBError.invalidResponse("idempotency item of \(sender)/\(id) without its message") }
        return try Message(item: item)
    }

    /// The conversation (its members and position), the message with its idempotency item and
    /// its group read lookup, then an entry for every other member (see `commitFanOut`).
    private func appendToGroup(_ draft: MessageDraft, encode: PayloadEncoder<Message>) async throws -> AppendOutcome {
        while true {
            let conversation = try await client.getItem(tables.conversations, key: tables.conversation(draft.conversation))
                .map(ConversationRecord.init(item:))
            guard let conversation, conversation.isGroup, conversation.members.contains(draft.from) else {
                // A resend is answered before the membership checks: whoever sent it was a member then.
                if try await client.getItem(tables.messageIDs, key: tables.sent(draft.from, draft.id)) != nil {
                    return .existing(try await sentMessage(from: draft.from, id: draft.id))
                }
                guard let conversation, conversation.isGroup else { throw ChatError.notFound("no such group") }
                throw ChatError.forbidden("not a member of this group")
            }
            if let pending = conversation.pending {
                try await settle(pending, of: conversation.id)
                continue
            }
            let message = draft.message(pos: conversation.pos + 1)
            let fanOut = FanOut(conversation: draft.conversation, event: "message", payload: encode(message), ts: draft.ts, pos: message.pos,
                                recipients: conversation.members.filter { $0 != draft.from })
            var e = Expression()
            let lookup = WriteAction.update(UpdateAction(tables.messageIDs, tables.groupIDs(draft.conversation, draft.id),
                                                         update: "ADD \(e.name("positions")) \(e.value(.ns([String(message.pos)])))", e))
            do {
                let entries = try await commitFanOut(fanOut) { outboxID in
                    [messageWrite(message, after: conversation, pending: outboxID), sentWrite(message), lookup,
                     .put(PutAction(tables.messages, message.newItem))]
                }
                return .created(message, entries)
            } catch let error as DynamoDBError where Self.failed(error, at: 1) {
                return .existing(try await sentMessage(from: draft.from, id: draft.id))
            }
        }
    }
}
