/// A user id: `^[a-z0-9][a-z0-9_.-]{1,31}$` (PROTOCOL.md §2).
public struct UserID: StringIdentifier {
    /// The id as it appears on the wire.
    public let rawValue: String
    public static let format = "a user id (^[a-z0-9][a-z0-9_.-]{1,31}$)"

    /// Validates `raw`; `nil` when it is not a valid user id.
    public init?(_ raw: String) {
        let bytes = Array(raw.utf8)
        guard (2...32).contains(bytes.count), isLowerAlphanumeric(bytes[0]),
              bytes.dropFirst().allSatisfy({ isLowerAlphanumeric($0) || $0 == 0x5F || $0 == 0x2E || $0 == 0x2D })
        else { return nil }
        rawValue = raw
    }
}

/// A group id, made by the server: 12 random characters of `[a-z0-9]`.
public struct GroupID: StringIdentifier {
    /// The id as it appears on the wire.
    public let rawValue: String
    public static let format = "a group id (1-32 characters of [a-z0-9])"

    /// Validates `raw` (1-32 characters of `[a-z0-9]`); `nil` otherwise.
    public init?(_ raw: String) {
        guard (1...32).contains(raw.utf8.count), raw.utf8.allSatisfy(isLowerAlphanumeric) else { return nil }
        rawValue = raw
    }

    /// A fresh random id of 12 characters.
    public static func random() -> GroupID {
        let alphabet = Array("abcdefghijklmnopqrstuvwxyz0123456789")
        var generator = SystemRandomNumberGenerator()
        return GroupID(String((0..<12).map { _ in alphabet.randomElement(using: &generator)! }))!
    }
}

/// A conversation id: `dm:<a>:<b>` with `a < b`, or `grp:<groupId>`.
public struct ConversationID: StringIdentifier {
    /// What a conversation id names.
    public enum Kind: Hashable, Sendable {
        /// A direct conversation between two users, in ascending order.
        case direct(UserID, UserID)
        /// A group conversation.
        case group(GroupID)
    }

    /// The id as it appears on the wire.
    public let rawValue: String
    /// The parsed form.
    public let kind: Kind
    public static let format = "a conversation id (dm:<a>:<b> with user ids a < b, or grp:<group id>)"

    /// The direct conversation between `a` and `b` (argument order does not matter).
    public static func direct(_ a: UserID, _ b: UserID) -> ConversationID {
        let (low, high) = a < b ? (a, b) : (b, a)
        return ConversationID(rawValue: "dm:\(low):\(high)", kind: .direct(low, high))
    }

    /// The conversation of group `g`.
    public static func group(_ g: GroupID) -> ConversationID {
        ConversationID(rawValue: "grp:\(g)", kind: .group(g))
    }

    /// Parses a wire id; `nil` when malformed (including `dm:` ids not in ascending order).
    public init?(_ raw: String) {
        let parts = raw.split(separator: ":", omittingEmptySubsequences: false)
        if parts.count == 3, parts[0] == "dm", let a = UserID(String(parts[1])), let b = UserID(String(parts[2])), a < b {
            self.init(rawValue: raw, kind: .direct(a, b))
        } else if parts.count == 2, parts[0] == "grp", let g = GroupID(String(parts[1])) {
            self.init(rawValue: raw, kind: .group(g))
        } else {
            return nil
        }
    }

    private init(rawValue: String, kind: Kind) {
        self.rawValue = rawValue
        self.kind = kind
    }

    /// The group, for group conversations.
    public var groupID: GroupID? {
        if case .group(let g) = kind { return g }
        return nil
    }

    /// The other participant of a direct conversation, seen from `user`; `nil` for groups and non-participants.
    public func peer(of user: UserID) -> UserID? {
        guard case .direct(let a, let b) = kind else { return nil }
        if a == user { return b }
        if b == user { return a }
        return nil
    }
}

/// An id that is a validated string on the wire: compared, printed and coded as that string.
public protocol StringIdentifier: Hashable, Comparable, Sendable, Codable, CustomStringConvertible {
    /// The id as it appears on the wire.
    var rawValue: String { get }
    /// Validates `raw`; `nil` when invalid.
    init?(_ raw: String)
    /// What a valid id looks like, for error messages.
    static var format: String { get }
}

extension StringIdentifier {
    public var description: String { rawValue }
    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.rawValue < rhs.rawValue }

    /// Parses `raw`, the value of the request field `field`: a malformed id is `bad_request`
    /// naming the field and the format (not `not_found`: nothing could have that id).
    public static func parse(_ raw: String, field: String) throws(ChatError) -> Self {
        guard let id = Self(raw) else { throw ChatError(.badRequest, "'\(field)' must be \(format)") }
        return id
    }

    public init(from decoder: any Decoder) throws {
        let raw = try decoder.singleValueContainer().decode(String.self)
        guard let id = Self(raw) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "invalid \(Self.self): \(raw)"))
        }
        self = id
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }
}

private func isLowerAlphanumeric(_ b: UInt8) -> Bool {
    (b >= 0x61 && b <= 0x7A) || (b >= 0x30 && b <= 0x39)
}
