/// The limits and policies of the chat domain.
public struct ChatConfiguration: Sendable, Hashable {
    /// Longest message body, in characters.
    public var maxMessageChars: Int
    /// Most members a group may have (owner included).
    public var maxGroupMembers: Int
    /// Longest group name, in characters.
    public var maxGroupNameChars: Int
    /// Most message ids in one `read`.
    public var maxReadIds: Int
    /// How long timeline events stay replayable.
    public var retentionDays: Int
    /// Longest display name, in characters (fixed: names are shown everywhere).
    public static let maxNameChars = 64

    /// Creates a configuration; the defaults are PROTOCOL.md's.
    public init(maxMessageChars: Int = 4000, maxGroupMembers: Int = 1000, maxGroupNameChars: Int = 64, maxReadIds: Int = 100, retentionDays: Int = 30) {
        self.maxMessageChars = maxMessageChars
        self.maxGroupMembers = maxGroupMembers
        self.maxGroupNameChars = maxGroupNameChars
        self.maxReadIds = maxReadIds
        self.retentionDays = retentionDays
    }
}
