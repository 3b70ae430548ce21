/// A `ChatStore` in memory, for tests and experiments. Each method runs on the actor, so each
/// is atomic like a transaction.
public actor InMemoryChatStore: ChatStore {
    private struct Account {
        var stored: StoredUser
        var head = TimelineHead(latest: 0, acked: 0)
        var timeline: [TimelineEntry] = []
        /// Which timeline entries are message events, by seq.
        var messageRefs: [Int64: MessageKey] = [:]
        var conversations: Set<ConversationID> = []
    }

    private struct MessageKey: Hashable {
        var conversation: ConversationID
        var pos: Int64
    }

    private struct Member {
        var user: UserID
        var lastReadPos: Int64 = 0
        var unread = 0
        var updatedAt: Int64
    }

    private struct Conversation {
        var messages: [Message] = []   // index = pos - 1
        var members: [Member] = []     // join order
        var name: String?
        var owner: UserID?
        var delivered: [Int64: [UserID]] = [:]
        var read: [Int64: [UserID]] = [:]

        func memberIndex(_ user: UserID) -> Int? { members.firstIndex { $0.user == user } }
    }

    private var accounts: [UserID: Account] = [:]
    private var tokens: [String: (user: UserID, expiresAt: Int64, revoked: Bool)] = [:]
    private var conversations: [ConversationID: Conversation] = [:]
    private var senderIndex: [String: MessageKey] = [:]

    /// Creates an empty store.
    public init() {}

    // MARK: Users and tokens

    public func insertUser(_ user: User, passwordHash: String?, at ts: Int64) -> Bool {
        guard accounts[user.id] == nil else { return false }
        accounts[user.id] = Account(stored: StoredUser(user: user, passwordHash: passwordHash, lastSeen: nil))
        return true
    }

    public func user(_ id: UserID) -> StoredUser? { accounts[id]?.stored }

    public func existingUsers(_ ids: [UserID]) -> Set<UserID> { Set(ids.filter { accounts[$0] != nil }) }

    public func users(withPrefix prefix: String, limit: Int) -> [StoredUser] {
        Array(accounts.keys.filter { $0.rawValue.hasPrefix(prefix) }.sorted().prefix(limit).compactMap { accounts[$0]?.stored })
    }

    public func renameUser(_ id: UserID, to name: String) -> User? {
        accounts[id]?.stored.user.name = name
        return accounts[id]?.stored.user
    }

    public func setLastSeen(_ id: UserID, at ts: Int64) { accounts[id]?.stored.lastSeen = ts }

    public func insertToken(hash: String, user: UserID, expiresAt: Int64) {
        tokens[hash] = (user, expiresAt, false)
    }

    public func tokenOwner(hash: String, now: Int64) -> UserID? {
        guard let token = tokens[hash], !token.revoked, token.expiresAt > now else { return nil }
        return token.user
    }

    public func revokeToken(hash: String) { tokens[hash]?.revoked = true }

    // MARK: Atomic timeline writes

    public func appendMessage(_ draft: MessageDraft, encode: @escaping PayloadEncoder<Message>) throws -> AppendOutcome {
        let senderKey = "\(draft.from)\u{0}\(draft.id)"
        // As the durable stores: an unknown recipient is `notFound` before the id is looked up.
        if let to = draft.to, accounts[to] == nil { throw ChatError.notFound("no such user") }
        if let key = senderIndex[senderKey] { return .existing(message(key)) }
        let recipients: [UserID]
        if let to = draft.to {
            recipients = [to]
            if conversations[draft.conversation] == nil {
                conversations[draft.conversation] = Conversation(members: [draft.from, to].map { Member(user: $0, updatedAt: draft.ts) })
                for user in [draft.from, to] { accounts[user]?.conversations.insert(draft.conversation) }
            }
        } else {
            guard let members = conversations[draft.conversation]?.members.map(\.user) else { throw ChatError.notFound("no such group") }
            guard members.contains(draft.from) else { throw ChatError.forbidden("not a member of this group") }
            recipients = members.filter { $0 != draft.from }
        }
        let pos = Int64(conversations[draft.conversation]!.messages.count + 1)
        let message = draft.message(pos: pos)
        let key = MessageKey(conversation: draft.conversation, pos: pos)
        senderIndex[senderKey] = key
        update(draft.conversation) { conversation in
            conversation.messages.append(message)
            for index in conversation.members.indices {
                conversation.members[index].updatedAt = draft.ts
                if conversation.members[index].user != draft.from { conversation.members[index].unread += 1 }
            }
        }
        let payload = encode(message)
        let entries = recipients.map { append(to: $0, event: "message", payload: payload, ts: draft.ts, ref: key) }
        return .created(message, entries)
    }

    public func acknowledge(_ acks: [UserAcks], at ts: Int64, receipt: @escaping PayloadEncoder<DeliveredMessages>) -> [TimelineEntry] {
        var entries: [TimelineEntry] = []
        for ack in acks {
            let user = ack.user
            guard var account = accounts[user] else { continue }
            account.head.acked = max(account.head.acked, min(ack.highest, account.head.latest))
            accounts[user] = account
            var delivered: [Message] = []
            for seq in ack.seqs {
                guard let key = account.messageRefs[seq], conversations[key.conversation]?.delivered[key.pos]?.contains(user) != true else { continue }
                update(key.conversation) { $0.delivered[key.pos, default: []].append(user) }
                delivered.append(message(key))
            }
            for group in DeliveredMessages.grouping(delivered, to: user) {
                entries.append(append(to: group.sender, event: "receipt", payload: receipt(group), ts: ts, ref: nil))
            }
        }
        return entries
    }

    public func markRead(reader: UserID, conversation id: ConversationID, ids: [String], at ts: Int64,
                         delivered: @escaping PayloadEncoder<DeliveredMessages>,
                         receipt: @escaping PayloadEncoder<(UserID, [String])>) throws -> [TimelineEntry] {
        guard let conversation = conversations[id], let memberIndex = conversation.memberIndex(reader) else { return [] }
        let wanted = Set(ids)
        let newlyRead = conversation.messages.filter {
            wanted.contains($0.id) && $0.from != reader && conversation.read[$0.pos]?.contains(reader) != true
        }
        guard !newlyRead.isEmpty else { return [] }
        let undelivered = newlyRead.filter { conversation.delivered[$0.pos]?.contains(reader) != true }
        update(id) { conversation in
            for message in newlyRead { conversation.read[message.pos, default: []].append(reader) }
            for message in undelivered { conversation.delivered[message.pos, default: []].append(reader) }
            let lastRead = max(conversation.members[memberIndex].lastReadPos, newlyRead.map(\.pos).max()!)
            conversation.members[memberIndex].lastReadPos = lastRead
            conversation.members[memberIndex].unread = conversation.messages.dropFirst(Int(lastRead)).filter { $0.from != reader }.count
        }
        let deliveries = DeliveredMessages.grouping(undelivered, to: reader).map {
            append(to: $0.sender, event: "receipt", payload: delivered($0), ts: ts, ref: nil)
        }
        return deliveries + Dictionary(grouping: newlyRead, by: \.from).sorted { $0.key < $1.key }.map { sender, messages in
            append(to: sender, event: "receipt", payload: receipt((sender, messages.map(\.id))), ts: ts, ref: nil)
        }
    }

    public func createGroup(_ group: Group, at ts: Int64, event: [UInt8]) throws -> [TimelineEntry] {
        let id = ConversationID.group(group.id)
        guard conversations[id] == nil else { throw ChatError.conflict("group exists") }
        conversations[id] = Conversation(members: group.members.map { Member(user: $0, updatedAt: ts) }, name: group.name, owner: group.owner)
        for member in group.members { accounts[member]?.conversations.insert(id) }
        return group.members.map { append(to: $0, event: "group", payload: event, ts: ts, ref: nil) }
    }

    public func addMembers(_ members: [UserID], to groupID: GroupID, by: UserID, at ts: Int64, limit: Int,
                           event: @escaping PayloadEncoder<(Group, [UserID])>) throws -> (Group, [TimelineEntry]) {
        let id = ConversationID.group(groupID)
        guard let conversation = conversations[id], let current = group(groupID) else { throw ChatError.notFound("no such group") }
        try current.requireMember(by)
        let added = members.reduce(into: [UserID]()) { list, m in
            if conversation.memberIndex(m) == nil, !list.contains(m) { list.append(m) }
        }
        guard conversation.members.count + added.count <= limit else { throw ChatError.tooLarge("at most \(limit) members") }
        // Newcomers start with nothing unread.
        let readUpTo = Int64(conversation.messages.count)
        update(id) { $0.members += added.map { Member(user: $0, lastReadPos: readUpTo, updatedAt: ts) } }
        for member in added { accounts[member]?.conversations.insert(id) }
        let group = group(groupID)!
        guard !added.isEmpty else { return (group, []) }
        let payload = event((group, added))
        return (group, group.members.map { append(to: $0, event: "group", payload: payload, ts: ts, ref: nil) })
    }

    public func removeMember(_ member: UserID, from groupID: GroupID, by: UserID, at ts: Int64, event: @escaping PayloadEncoder<Group>) throws -> [TimelineEntry] {
        let id = ConversationID.group(groupID)
        guard let current = group(groupID) else { throw ChatError.notFound("no such group") }
        try current.requireRemovable(member, by: by)
        guard let index = conversations[id]?.memberIndex(member) else { throw ChatError.notFound("not a member") }
        update(id) { conversation in
            _ = conversation.members.remove(at: index)
            // An owner who leaves hands the group to the longest-standing member.
            if conversation.owner == member, let heir = conversation.members.first { conversation.owner = heir.user }
        }
        accounts[member]?.conversations.remove(id)
        let group = group(groupID)!
        let payload = event(group)
        return (group.members + [member]).map { append(to: $0, event: "group", payload: payload, ts: ts, ref: nil) }
    }

    // MARK: Queries

    public func group(_ id: GroupID) -> Group? {
        guard let conversation = conversations[.group(id)], let name = conversation.name, let owner = conversation.owner else { return nil }
        return Group(id: id, name: name, owner: owner, members: conversation.members.map(\.user))
    }

    public func contacts(of user: UserID) -> [UserID] {
        let ids = accounts[user]?.conversations ?? []
        return Array(Set(ids.flatMap { conversations[$0]?.members.map(\.user) ?? [] }).subtracting([user])).sorted()
    }

    public func conversations(of user: UserID) -> [ConversationSummary] {
        let ids = accounts[user]?.conversations ?? []
        return ids.compactMap { id -> ConversationSummary? in
            guard let conversation = conversations[id], let member = conversation.members.first(where: { $0.user == user }) else { return nil }
            let peer = id.peer(of: user)
            let title = conversation.name ?? peer.flatMap { accounts[$0]?.stored.user.name } ?? ""
            return ConversationSummary(id: id, kind: peer == nil ? .group : .dm, title: title, peer: peer, group: id.groupID,
                                       last: conversation.messages.last, unread: member.unread, updatedAt: member.updatedAt)
        }.sorted { ($0.updatedAt, $0.id) > ($1.updatedAt, $1.id) }
    }

    public func history(of id: ConversationID, before: Int64?, limit: Int) -> HistoryPage {
        guard let conversation = conversations[id] else { return HistoryPage(messages: [], hasMore: false) }
        let end = Int(min(before.map { $0 - 1 } ?? Int64.max, Int64(conversation.messages.count)))
        guard end > 0 else { return HistoryPage(messages: [], hasMore: false) }
        let start = max(0, end - limit)
        let page = conversation.messages[start..<end].map {
            HistoryMessage(message: $0, delivered: conversation.delivered[$0.pos] ?? [], read: conversation.read[$0.pos] ?? [])
        }
        return HistoryPage(messages: page, hasMore: start > 0)
    }

    public func timeline(of user: UserID, after seq: Int64, limit: Int) -> [TimelineEntry] {
        guard let timeline = accounts[user]?.timeline else { return [] }
        // Entries are in seq order; find the first after `seq` by binary search.
        var low = 0, high = timeline.count
        while low < high {
            let mid = (low + high) / 2
            if timeline[mid].seq <= seq { low = mid + 1 } else { high = mid }
        }
        return Array(timeline[low..<min(timeline.count, low + limit)])
    }

    public func timelineHead(of user: UserID) -> TimelineHead { accounts[user]?.head ?? TimelineHead(latest: 0, acked: 0) }

    public func pruneTimeline(before ts: Int64) {
        for user in accounts.keys {
            accounts[user]!.timeline.removeAll { $0.ts < ts }
            let firstKept = accounts[user]!.timeline.first?.seq ?? .max
            accounts[user]!.messageRefs = accounts[user]!.messageRefs.filter { $0.key >= firstKept }
        }
    }

    // MARK: Helpers

    private func append(to user: UserID, event: String, payload: [UInt8], ts: Int64, ref: MessageKey?) -> TimelineEntry {
        let seq = (accounts[user]?.head.latest ?? 0) + 1
        let entry = TimelineEntry(user: user, seq: seq, event: event, payload: payload, ts: ts)
        accounts[user]?.head.latest = seq
        accounts[user]?.timeline.append(entry)
        if let ref { accounts[user]?.messageRefs[seq] = ref }
        return entry
    }

    private func message(_ key: MessageKey) -> Message {
        conversations[key.conversation]!.messages[Int(key.pos - 1)]
    }

    private func update(_ id: ConversationID, _ body: (inout Conversation) -> Void) {
        body(&conversations[id]!)
    }
}
