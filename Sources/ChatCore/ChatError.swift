/// An error a client may see, with a stable code from PROTOCOL.md §4.
public struct ChatError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The stable error codes of the wire contract.
    public enum Code: String, Sendable, Hashable, Codable {
        case badRequest = "bad_request"
        case unauthorized
        case forbidden
        case notFound = "not_found"
        case conflict
        case tooLarge = "too_large"
        case rateLimited = "rate_limited"
        case unavailable
        case `internal`
    }

    /// The stable code.
    public let code: Code
    /// A short human-readable explanation (never contains secrets).
    public let message: String

    /// Creates an error.
    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(code.rawValue): \(message)" }

    /// The request is malformed.
    public static func badRequest(_ message: String) -> ChatError { ChatError(.badRequest, message) }
    /// The caller may not do this.
    public static func forbidden(_ message: String) -> ChatError { ChatError(.forbidden, message) }
    /// The thing does not exist, or the caller may not know it does.
    public static func notFound(_ message: String) -> ChatError { ChatError(.notFound, message) }
    /// The request contradicts stored state (id taken, idempotency key reused with other content).
    public static func conflict(_ message: String) -> ChatError { ChatError(.conflict, message) }
    /// A size limit was exceeded.
    public static func tooLarge(_ message: String) -> ChatError { ChatError(.tooLarge, message) }
    /// The store or broker failed.
    public static func unavailable(_ message: String) -> ChatError { ChatError(.unavailable, message) }
    /// A bug.
    public static func `internal`(_ message: String) -> ChatError { ChatError(.internal, message) }
}

extension ChatError: Codable {
    private enum CodingKeys: String, CodingKey { case code, message }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.init(try container.decode(Code.self, forKey: .code), try container.decode(String.self, forKey: .message))
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(code, forKey: .code)
        try container.encode(message, forKey: .message)
    }
}
