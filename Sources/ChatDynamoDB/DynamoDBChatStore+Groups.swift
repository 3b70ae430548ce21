import ChatCore

// Group changes: the conversation's `members` changes in the operation's first transaction
// (conditioned on its `ver`), and the event fans out to the members (see `commitFanOut`).
extension DynamoDBChatStore {
    /// `ChatStore` requirement: creates the group and appends `event` to every member's timeline.
    public func createGroup(_ group: Group, at ts: Int64, event: [UInt8]) async throws -> [TimelineEntry] {
        let id = ConversationID.group(group.id)
        var fanOut = FanOut(conversation: id, event: "group", payload: event, ts: ts, recipients: group.members, joining: Set(group.members))
        fanOut.shared = tables.groupEventKey(id, ver: 1)
        return try await locks.withLock(Self.conversationLock(id)) {
            try await retrying("createGroup") {
                do {
                    return try await commitFanOut(fanOut) { outboxID in
                        var item = tables.conversation(id)
                        item["kind"] = .s("group")
                        item["name"] = .s(group.name)
                        item["owner"] = .s(group.owner.rawValue)
                        item["members"] = .strings(group.members.map(\.rawValue))
                        item["pos"] = .int(0)
                        item["ver"] = .int(1)
                        if let outboxID { item["pending"] = .s(outboxID) }
                        var e = Expression()
                        return [.put(PutAction(tables.conversations, item, condition: "attribute_not_exists(\(e.name("id")))", e))]
                            + sharedPayloadWrites(fanOut)
                    }
                } catch let error as DynamoDBError where Self.failed(error, at: 0) {
                    throw ChatError.conflict("group exists")
                }
            }
        }
    }

    /// `ChatStore` requirement: adds the new ones of `members` (within `limit`) and tells every member.
    public func addMembers(_ members: [UserID], to groupID: GroupID, by: UserID, at ts: Int64, limit: Int,
                           event: @escaping PayloadEncoder<(Group, [UserID])>) async throws -> (Group, [TimelineEntry]) {
        let id = ConversationID.group(groupID)
        return try await locks.withLock(Self.conversationLock(id)) {
            try await retrying("addMembers") {
                while true {
                    guard let conversation = try await groupConversation(id), let current = conversation.group else {
                        throw ChatError.notFound("no such group")
                    }
                    if let pending = conversation.pending {
                        try await settle(pending, of: id)
                        continue
                    }
                    // On the version the write is conditioned on: a member removed meanwhile acts no more.
                    try current.requireMember(by)
                    let added = members.reduce(into: [UserID]()) { list, m in
                        if !current.members.contains(m), !list.contains(m) { list.append(m) }
                    }
                    guard current.members.count + added.count <= limit else { throw ChatError.tooLarge("at most \(limit) members") }
                    guard !added.isEmpty else { return (current, []) }
                    var group = current
                    group.members += added
                    // Newcomers start with nothing unread.
                    var fanOut = FanOut(conversation: id, event: "group", payload: event((group, added)), ts: ts, recipients: group.members,
                                        joining: Set(added), lastRead: conversation.pos)
                    fanOut.shared = tables.groupEventKey(id, ver: conversation.ver + 1)
                    let entries = try await commitFanOut(fanOut) { outboxID in
                        [membersWrite(group, after: conversation, pending: outboxID)] + sharedPayloadWrites(fanOut)
                    }
                    return (group, entries)
                }
            }
        }
    }

    /// `ChatStore` requirement: removes `member` and tells the remaining members and `member`.
    public func removeMember(_ member: UserID, from groupID: GroupID, by: UserID, at ts: Int64, event: @escaping PayloadEncoder<Group>) async throws -> [TimelineEntry] {
        let id = ConversationID.group(groupID)
        return try await locks.withLock(Self.conversationLock(id)) {
            try await retrying("removeMember") {
                while true {
                    guard let conversation = try await groupConversation(id), var group = conversation.group else {
                        throw ChatError.notFound("no such group")
                    }
                    if let pending = conversation.pending {
                        try await settle(pending, of: id)
                        continue
                    }
                    // On the version the write is conditioned on (see addMembers).
                    try group.requireRemovable(member, by: by)
                    guard let index = group.members.firstIndex(of: member) else { throw ChatError.notFound("not a member") }
                    group.members.remove(at: index)
                    // An owner who leaves hands the group to the longest-standing member.
                    if group.owner == member, let heir = group.members.first { group.owner = heir }
                    var fanOut = FanOut(conversation: id, event: "group", payload: event(group), ts: ts, recipients: group.members + [member])
                    fanOut.shared = tables.groupEventKey(id, ver: conversation.ver + 1)
                    return try await commitFanOut(fanOut) { outboxID in
                        [membersWrite(group, after: conversation, pending: outboxID),
                         .delete(KeyAction(tables.memberships, tables.membership(member, id)))] + sharedPayloadWrites(fanOut)
                    }
                }
            }
        }
    }

    /// The group's conversation item, consistent; nil unless it is a group.
    private func groupConversation(_ id: ConversationID) async throws -> ConversationRecord? {
        let record = try await client.getItem(tables.conversations, key: tables.conversation(id)).map(ConversationRecord.init(item:))
        return record?.isGroup == true ? record : nil
    }

    /// The conversation with `group`'s members and owner, conditioned on the version read.
    /// The item holding a group event's payload once for all its entries (`StoredPayload.shared`).
    private func sharedPayloadWrites(_ fanOut: FanOut) -> [WriteAction] {
        guard let key = fanOut.shared else { return [] }
        return [.put(PutAction(tables.messageIDs, ["key": .s(key), "payload": .b(fanOut.payload)]))]
    }

    private func membersWrite(_ group: Group, after conversation: ConversationRecord, pending: String?) -> WriteAction {
        conversationUpdate(conversation, setting: ["members": .strings(group.members.map(\.rawValue)), "owner": .s(group.owner.rawValue)],
                           pending: pending)
    }
}
