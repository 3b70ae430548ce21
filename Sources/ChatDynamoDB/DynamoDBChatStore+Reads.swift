import ChatCore

extension DynamoDBChatStore {
    /// `ChatStore` requirement: marks messages read by `reader`, once each, with their receipts.
    public func markRead(reader: UserID, conversation: ConversationID, ids: [String], at ts: Int64,
                         delivered: @escaping PayloadEncoder<DeliveredMessages>,
                         receipt: @escaping PayloadEncoder<(UserID, [String])>) async throws -> [TimelineEntry] {
        guard !ids.isEmpty else { return [] }
        var entries: [TimelineEntry] = []
        try await retrying("markRead") {
            async let conversationItem = client.getItem(tables.conversations, key: tables.conversation(conversation), projection: ["members"])
            async let membershipItem = client.getItem(tables.memberships, key: tables.membership(reader, conversation), projection: ["lastRead"])
            guard let members = try await conversationItem?["members"]?.stringList, members.contains(reader.rawValue) else { return }
            var lastRead = try await membershipItem.map { try $0.int("lastRead") }
            let keys = try await candidates(reader: reader, in: conversation, ids: ids)
            let states = try await messageStates(keys, of: reader)
            let newlyRead = states.values.filter { Set(ids).contains($0.ref.id) && $0.ref.sender != reader && !$0.read }
                .sorted { $0.ref.pos < $1.ref.pos }
            // Per run: its messages, the reader's read position, and per sender a counter and up
            // to two receipts (delivered, then read).
            let cost = { (chunk: ArraySlice<MessageState>) in
                chunk.count + 1 + Set(chunk.map(\.ref.sender)).count + DeliveredMessages.groupCount(chunk.filter { !$0.delivered }.map(\.ref)[...])
                    + Set(chunk.map(\.ref.sender)).count
            }
            for chunk in Self.packed(newlyRead, cost: cost) {
                var actions = chunk.map { readMark($0, by: reader, at: ts) }
                let highest = chunk.last!.ref.pos
                if let old = lastRead, highest > old {
                    var e = Expression()
                    let position = e.name("lastRead")
                    actions.append(.update(UpdateAction(tables.memberships, tables.membership(reader, conversation),
                                                        update: "SET \(position) = \(e.value(.int(highest)))",
                                                        condition: "\(position) = \(e.value(.int(old)))", e)))
                    lastRead = highest
                }
                // Read before its ack came: delivered now, and that receipt goes first, so a
                // sender's receipts never go from read back to delivered.
                var appends = TimelineAppends()
                let undelivered = chunk.filter { !$0.delivered }.map { ($0.ref.sender, $0.ref.conversation, $0.ref.id) }
                for group in DeliveredMessages.grouping(undelivered, to: reader) {
                    appends.add(group.sender, event: "receipt", payload: delivered(group), ts: ts)
                }
                for (sender, messages) in Dictionary(grouping: chunk, by: \.ref.sender).sorted(by: { $0.key < $1.key }) {
                    appends.add(sender, event: "receipt", payload: receipt((sender, messages.map(\.ref.id))), ts: ts)
                }
                try await locks.withLocks(appends.users.map(Self.userLock)) {
                    entries += try await commit(actions, appends)
                }
            }
        }
        return entries
    }

    /// The messages `ids` may name: in a direct conversation every message the reader may read
    /// is the peer's, found by the peer's idempotency items; in a group, by the conversation's
    /// client-id lookup items (several senders may have used an id).
    private func candidates(reader: UserID, in conversation: ConversationID, ids: [String]) async throws -> [(ConversationID, Int64)] {
        if let peer = conversation.peer(of: reader) {
            let items = try await client.batchGet(tables.messageIDs, keys: ids.map { tables.sent(peer, $0) }, projection: ["conversation", "pos"])
            return try items.filter { $0["conversation"]?.string == conversation.rawValue }.map { (conversation, try $0.int("pos")) }
        }
        let items = try await client.batchGet(tables.messageIDs, keys: ids.map { tables.groupIDs(conversation, $0) }, projection: ["positions"])
        return items.flatMap { $0["positions"]?.intList ?? [] }.map { (conversation, $0) }
    }

    /// Marks a message read by `reader`, and delivered too when it was not yet; conditioned on
    /// both being as read, so that no receipt is sent twice.
    private func readMark(_ state: MessageState, by reader: UserID, at ts: Int64) -> WriteAction {
        var e = Expression()
        let read = e.path("read", reader.rawValue)
        var update = "SET \(read) = \(e.value(.int(ts)))"
        var condition = "attribute_not_exists(\(read))"
        if !state.delivered {
            let delivered = e.path("delivered", reader.rawValue)
            update += ", \(delivered) = \(e.value(.int(ts)))"
            condition += " AND attribute_not_exists(\(delivered))"
        }
        return .update(UpdateAction(tables.messages, tables.message(state.ref.conversation, state.ref.pos), update: update, condition: condition, e))
    }
}
