/// `receipt` timeline payload: `{"conversation","ids","by","status","ts"}` (seq spliced in later).
public struct ReceiptEvent: Hashable, Sendable, Codable {
    /// `delivered` or `read`.
    public enum Status: String, Hashable, Sendable, Codable { case delivered, read }
    /// The conversation of the messages.
    public var conversation: ConversationID
    /// Client ids of the sender's messages this receipt covers.
    public var ids: [String]
    /// The recipient that received or read them.
    public var by: UserID
    /// `delivered` or `read`.
    public var status: Status
    /// Server time, ms.
    public var ts: Int64

    /// Creates a receipt payload.
    public init(conversation: ConversationID, ids: [String], by: UserID, status: Status, ts: Int64) {
        self.conversation = conversation
        self.ids = ids
        self.by = by
        self.status = status
        self.ts = ts
    }
}

/// `group` timeline payload: `{"conversation","change","group","users","by","ts"}`.
public struct GroupEvent: Hashable, Sendable, Codable {
    /// What happened.
    public enum Change: String, Hashable, Sendable, Codable { case created, joined, left }
    /// The group's conversation.
    public var conversation: ConversationID
    /// What happened.
    public var change: Change
    /// The group after the change.
    public var group: Group
    /// Who was created with, joined or left the group.
    public var users: [UserID]
    /// Who did it.
    public var by: UserID
    /// Server time, ms.
    public var ts: Int64

    /// Creates a group event payload.
    public init(conversation: ConversationID, change: Change, group: Group, users: [UserID], by: UserID, ts: Int64) {
        self.conversation = conversation
        self.change = change
        self.group = group
        self.users = users
        self.by = by
        self.ts = ts
    }
}

/// `typing` ephemeral payload: `{"conversation","from","typing"}`.
public struct TypingEvent: Hashable, Sendable, Codable {
    /// The conversation, from the recipient's point of view the same id.
    public var conversation: ConversationID
    /// Who is typing.
    public var from: UserID
    /// Started (`true`) or stopped.
    public var typing: Bool

    /// Creates a typing payload.
    public init(conversation: ConversationID, from: UserID, typing: Bool) {
        self.conversation = conversation
        self.from = from
        self.typing = typing
    }
}

/// `presence` ephemeral payload: `{"user","online","lastSeen"?}`.
public struct PresenceEvent: Hashable, Sendable, Codable {
    /// Whose presence changed.
    public var user: UserID
    /// Whether they now have a connection.
    public var online: Bool
    /// When their last connection closed, ms.
    public var lastSeen: Int64?

    /// Creates a presence payload.
    public init(user: UserID, online: Bool, lastSeen: Int64?) {
        self.user = user
        self.online = online
        self.lastSeen = lastSeen
    }
}
