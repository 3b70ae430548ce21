import ChatCore

// Reads. Each is a key lookup or a range of one partition (never a scan of a user's history),
// consistent: a node replays or fills a gap right after another node committed and published.
extension DynamoDBChatStore {
    /// `ChatStore` requirement: the group with its current members.
    public func group(_ id: GroupID) async throws -> Group? {
        try await client.getItem(tables.conversations, key: tables.conversation(.group(id))).map(ConversationRecord.init(item:))?.group
    }

    /// `ChatStore` requirement: the users sharing a conversation with `user`, from their memberships.
    public func contacts(of user: UserID) async throws -> [UserID] {
        let keys = try await memberships(of: user).map { tables.conversation($0.conversation) }
        let items = try await client.batchGet(tables.conversations, keys: keys, projection: ["members"])
        var contacts = Set<UserID>()
        for item in items { contacts.formUnion(try item.userIDs("members")) }
        contacts.remove(user)
        return contacts.sorted()
    }

    /// `ChatStore` requirement: the call log, newest first, with unread counts.
    ///
    /// Read from the user's `memberships` (one partition), their conversations, the peers'
    /// names, and per conversation with messages after the read position a count of the unread
    /// ones (a range of `messages` from that position, counted by the service).
    public func conversations(of user: UserID) async throws -> [ConversationSummary] {
        let memberships = try await memberships(of: user)
        guard !memberships.isEmpty else { return [] }
        let conversations = try await client.batchGet(tables.conversations, keys: memberships.map { tables.conversation($0.conversation) })
            .map(ConversationRecord.init(item:))
        let byID = Dictionary(conversations.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        let peers = memberships.compactMap { $0.conversation.peer(of: user) }
        let names = try await Dictionary(client.batchGet(tables.users, keys: peers.map(tables.user), projection: ["id", "name"])
            .map { (try $0.userID("id"), try $0.string("name")) }, uniquingKeysWith: { a, _ in a })
        let rows = memberships.compactMap { membership in byID[membership.conversation].map { (membership, $0) } }
        let unread = try await concurrentMap(rows, limit: 16) { membership, conversation in
            conversation.pos > membership.lastRead ? try await self.unreadCount(conversation.id, after: membership.lastRead, for: user) : 0
        }
        return zip(rows, unread).map { row, unread in
            let (membership, conversation) = row
            let peer = conversation.id.peer(of: user)
            let title = conversation.name ?? peer.flatMap { names[$0] } ?? ""
            return ConversationSummary(id: conversation.id, kind: peer == nil ? .group : .dm, title: title, peer: peer, group: conversation.id.groupID,
                                       last: conversation.last, unread: unread,
                                       updatedAt: max(membership.joinedAt, conversation.last?.ts ?? 0))
        }.sorted { ($0.updatedAt, $0.id) > ($1.updatedAt, $1.id) }
    }

    /// A user's `memberships` items.
    private func memberships(of user: UserID) async throws -> [(conversation: ConversationID, joinedAt: Int64, lastRead: Int64)] {
        var e = Expression()
        let input = QueryInput(TableName: tables.memberships, KeyConditionExpression: "\(e.name("user")) = \(e.value(.s(user.rawValue)))",
                               ExpressionAttributeNames: e.namesOrNil, ExpressionAttributeValues: e.valuesOrNil, ConsistentRead: true)
        return try await client.queryAll(input).map { (try $0.conversationID("conversation"), try $0.int("joinedAt"), try $0.int("lastRead")) }
    }

    /// Messages of `conversation` after `pos` not sent by `user`.
    private func unreadCount(_ conversation: ConversationID, after pos: Int64, for user: UserID) async throws -> Int {
        var e = Expression()
        var input = QueryInput(TableName: tables.messages,
                               KeyConditionExpression: "\(e.name("conversation")) = \(e.value(.s(conversation.rawValue))) AND \(e.name("pos")) > \(e.value(.int(pos)))",
                               FilterExpression: "\(e.name("from")) <> \(e.value(.s(user.rawValue)))",
                               ExpressionAttributeNames: e.namesOrNil, ExpressionAttributeValues: e.valuesOrNil, ConsistentRead: true, Select: "COUNT")
        var count = 0
        while true {
            let page = try await client.query(input)
            count += page.Count ?? 0
            guard let next = page.LastEvaluatedKey else { return count }
            input.ExclusiveStartKey = next
        }
    }

    /// `ChatStore` requirement: the newest `limit` messages before `before`, ascending, with their receipts.
    public func history(of conversation: ConversationID, before: Int64?, limit: Int) async throws -> HistoryPage {
        var e = Expression()
        let input = QueryInput(TableName: tables.messages,
                               KeyConditionExpression: "\(e.name("conversation")) = \(e.value(.s(conversation.rawValue))) AND \(e.name("pos")) < \(e.value(.int(before ?? .max)))",
                               ExpressionAttributeNames: e.namesOrNil, ExpressionAttributeValues: e.valuesOrNil, ScanIndexForward: false, ConsistentRead: true)
        let items = try await client.queryAll(input, limit: limit + 1)
        let page = try items.prefix(limit).reversed().map { item in
            HistoryMessage(message: try Message(item: item), delivered: item.receiptList("delivered"), read: item.receiptList("read"))
        }
        return HistoryPage(messages: page, hasMore: items.count > limit)
    }

    /// `ChatStore` requirement: `user`'s entries after `seq`, at most `limit`, ascending.
    public func timeline(of user: UserID, after seq: Int64, limit: Int) async throws -> [TimelineEntry] {
        guard limit > 0 else { return [] }
        var e = Expression()
        let input = QueryInput(TableName: tables.timeline,
                               KeyConditionExpression: "\(e.name("user")) = \(e.value(.s(user.rawValue))) AND \(e.name("seq")) > \(e.value(.int(seq)))",
                               ExpressionAttributeNames: e.namesOrNil, ExpressionAttributeValues: e.valuesOrNil, ConsistentRead: true)
        return try await entries(of: client.queryAll(input, limit: limit))
    }

    /// Timeline items as entries, reading the payloads their items do not hold (`StoredPayload`):
    /// each message and each shared payload once, however many of the entries refer to it.
    private func entries(of items: [Item]) async throws -> [TimelineEntry] {
        // The key of the item holding each one's payload: a shared payload's in `message_ids`,
        // or the message's in `messages`.
        let references = items.map { item -> Item? in
            guard item["payload"] == nil else { return nil }
            if let key = item["shared"] { return ["key": key] }
            if let conversation = item["conversation"], let pos = item["pos"] { return ["conversation": conversation, "pos": pos] }
            return nil
        }
        let sharedKeys = references.compactMap { $0 }.filter { $0["key"] != nil }
        let messageKeys = references.compactMap { $0 }.filter { $0["key"] == nil }
        var kept: [Item: [UInt8]] = [:]
        if !sharedKeys.isEmpty {
            for item in try await client.batchGet(tables.messageIDs, keys: sharedKeys, projection: ["key", "payload"]) {
                if let key = item["key"], let payload = item["payload"]?.bytes { kept[["key": key]] = payload }
            }
        }
        if !messageKeys.isEmpty {
            for item in try await client.batchGet(tables.messages, keys: messageKeys, projection: Message.attributeNames) {
                let message = try Message(item: item)
                kept[tables.message(message.conversation, message.pos)] = JSONPayload.message(message)
            }
        }
        return try zip(items, references).map { item, reference in try TimelineEntry(item: item, payload: reference.flatMap { kept[$0] }) }
    }

    /// `ChatStore` requirement: `user`'s latest and acknowledged seqs (zeros for an unknown user).
    public func timelineHead(of user: UserID) async throws -> TimelineHead {
        guard let item = try await client.getItem(tables.users, key: tables.user(user), projection: ["seq", "acked"]) else {
            return TimelineHead(latest: 0, acked: 0)
        }
        return TimelineHead(latest: try item.int("seq"), acked: try item.int("acked"))
    }
}

/// `transform` over `items` with at most `limit` running at once; results in `items`' order.
func concurrentMap<T: Sendable, R: Sendable>(_ items: [T], limit: Int, _ transform: @escaping @Sendable (T) async throws -> R) async throws -> [R] {
    try await withThrowingTaskGroup(of: (Int, R).self) { group in
        var results = [R?](repeating: nil, count: items.count)
        var next = 0
        func start() {
            group.addTask { [next] in (next, try await transform(items[next])) }
            next += 1
        }
        while next < min(limit, items.count) { start() }
        while let (index, result) = try await group.next() {
            results[index] = result
            if next < items.count { start() }
        }
        return results.map { $0! }
    }
}
