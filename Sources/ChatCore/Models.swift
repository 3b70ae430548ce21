/// A user account as clients see it: `{"id","name"}`.
public struct User: Hashable, Sendable, Codable {
    /// The user's id.
    public var id: UserID
    /// The display name, 1-64 characters.
    public var name: String

    /// Creates a user value.
    public init(id: UserID, name: String) {
        self.id = id
        self.name = name
    }
}

/// A user's public profile: `{"id","name","online","lastSeen"?}` (`lastSeen` in ms).
public struct UserProfile: Hashable, Sendable, Codable {
    /// The user's id.
    public var id: UserID
    /// The display name.
    public var name: String
    /// Whether the user has at least one connection anywhere in the cluster.
    public var online: Bool
    /// When the user's last connection closed (ms since 1970); `nil` if never seen.
    public var lastSeen: Int64?

    /// Creates a profile value.
    public init(id: UserID, name: String, online: Bool, lastSeen: Int64?) {
        self.id = id
        self.name = name
        self.online = online
        self.lastSeen = lastSeen
    }
}

/// A stored message: `{"id","conversation","from","to"?,"group"?,"body","ts","pos"}`.
public struct Message: Hashable, Sendable, Codable {
    /// The client-chosen id, unique per sender.
    public var id: String
    /// The conversation it belongs to.
    public var conversation: ConversationID
    /// The sender (always the authenticated user).
    public var from: UserID
    /// The recipient of a direct message.
    public var to: UserID?
    /// The group of a group message.
    public var group: GroupID?
    /// The text, 1...maxMessageChars characters.
    public var body: String
    /// Server time of acceptance, ms since 1970.
    public var ts: Int64
    /// Gap-free position in the conversation, starting at 1.
    public var pos: Int64

    /// Creates a message value.
    public init(id: String, conversation: ConversationID, from: UserID, to: UserID?, group: GroupID?, body: String, ts: Int64, pos: Int64) {
        self.id = id
        self.conversation = conversation
        self.from = from
        self.to = to
        self.group = group
        self.body = body
        self.ts = ts
        self.pos = pos
    }
}

/// A message in a history page, with who has received and read it.
public struct HistoryMessage: Hashable, Sendable, Codable {
    /// The message.
    public var message: Message
    /// Recipients one of whose connections acknowledged the message.
    public var delivered: [UserID]
    /// Recipients that marked the message read.
    public var read: [UserID]

    /// Creates a history entry.
    public init(message: Message, delivered: [UserID], read: [UserID]) {
        self.message = message
        self.delivered = delivered
        self.read = read
    }

    private enum CodingKeys: String, CodingKey { case delivered, read }

    // The wire shape is the message's own fields plus "delivered" and "read".
    public init(from decoder: any Decoder) throws {
        message = try Message(from: decoder)
        let container = try decoder.container(keyedBy: CodingKeys.self)
        delivered = try container.decode([UserID].self, forKey: .delivered)
        read = try container.decode([UserID].self, forKey: .read)
    }

    public func encode(to encoder: any Encoder) throws {
        try message.encode(to: encoder)
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(delivered, forKey: .delivered)
        try container.encode(read, forKey: .read)
    }
}

/// One page of a conversation's history: `{"messages":[...],"hasMore"}`, ascending by `pos`.
public struct HistoryPage: Hashable, Sendable, Codable {
    /// The messages, ascending by `pos`.
    public var messages: [HistoryMessage]
    /// Whether older messages exist before the first one.
    public var hasMore: Bool

    /// Creates a page.
    public init(messages: [HistoryMessage], hasMore: Bool) {
        self.messages = messages
        self.hasMore = hasMore
    }
}

/// A group: `{"id","name","owner","members":[...]}`, members in join order.
public struct Group: Hashable, Sendable, Codable {
    /// The server-made id.
    public var id: GroupID
    /// The group's name, 1...maxGroupNameChars characters.
    public var name: String
    /// The creator, who may remove other members.
    public var owner: UserID
    /// Current members in join order.
    public var members: [UserID]

    /// Creates a group value.
    public init(id: GroupID, name: String, owner: UserID, members: [UserID]) {
        self.id = id
        self.name = name
        self.owner = owner
        self.members = members
    }

    /// `not_found` unless `user` is a current member (so group ids don't leak). Stores check it
    /// on the group as their write finds it: a member removed meanwhile acts no more.
    public func requireMember(_ user: UserID) throws(ChatError) {
        guard members.contains(user) else { throw .notFound("no such group") }
    }

    /// Whether `by` may remove `member`: a member leaves, the owner removes others
    /// (`forbidden` otherwise); `not_found` if either is not in the group.
    public func requireRemovable(_ member: UserID, by: UserID) throws(ChatError) {
        try requireMember(by)
        guard by == member || by == owner else { throw .forbidden("only the owner may remove members") }
        guard members.contains(member) else { throw .notFound("not a member") }
    }
}

/// One row of a user's call log:
/// `{"id","kind":"dm"/"group","title","peer"?,"group"?,"last"?,"unread","updatedAt"}`.
public struct ConversationSummary: Hashable, Sendable, Codable {
    /// The kind of conversation on the wire.
    public enum Kind: String, Hashable, Sendable, Codable {
        /// Direct conversation.
        case dm
        /// Group conversation.
        case group
    }

    /// The conversation.
    public var id: ConversationID
    /// `dm` or `group`.
    public var kind: Kind
    /// The peer's display name, or the group's name.
    public var title: String
    /// The other user of a direct conversation.
    public var peer: UserID?
    /// The group of a group conversation.
    public var group: GroupID?
    /// The newest message, if any.
    public var last: Message?
    /// Messages from others after the user's last read one.
    public var unread: Int
    /// Time of the last activity (message, or joining), ms.
    public var updatedAt: Int64

    /// Creates a summary.
    public init(id: ConversationID, kind: Kind, title: String, peer: UserID?, group: GroupID?, last: Message?, unread: Int, updatedAt: Int64) {
        self.id = id
        self.kind = kind
        self.title = title
        self.peer = peer
        self.group = group
        self.last = last
        self.unread = unread
        self.updatedAt = updatedAt
    }
}

/// What a client asks to send: `{"id","to"}` or `{"id","group"}`, plus `"body"`.
public struct SendRequest: Hashable, Sendable, Codable {
    /// The client-chosen id (≤ 64 of `[A-Za-z0-9_-]`).
    public var id: String
    /// The recipient of a direct message.
    public var to: UserID?
    /// The group of a group message.
    public var group: GroupID?
    /// The text.
    public var body: String

    /// Creates a request; exactly one of `to` and `group` must be set.
    public init(id: String, to: UserID? = nil, group: GroupID? = nil, body: String) {
        self.id = id
        self.to = to
        self.group = group
        self.body = body
    }
}
