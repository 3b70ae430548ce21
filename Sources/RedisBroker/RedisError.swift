import NIOCore

/// A failure of the Redis broker or its connections, with a message for logs and operators.
public struct RedisError: Error, Sendable, Hashable, CustomStringConvertible {
    private enum Code: Hashable, Sendable {
        case server
        case unreachable
        case notConnected
        case connectionLost
        case timedOut
        case closed
        case protocolViolation
        case invalidConfiguration
    }

    private let code: Code
    /// What went wrong; for a server error, Redis's own message (`WRONGPASS …`, `ERR …`).
    public let message: String

    private init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    /// The ``message``.
    public var description: String { message }

    /// Whether Redis itself answered with an error (its text is in ``message``).
    public var isServerError: Bool { code == .server }

    /// Whether the command did not reach Redis or its answer was lost (Redis down or unreachable):
    /// it may succeed later, once the connection is back.
    public var isConnectionError: Bool {
        code == .unreachable || code == .notConnected || code == .connectionLost || code == .timedOut
    }

    /// Redis answered a command with an error reply.
    static func server(_ message: String) -> RedisError { .init(.server, message) }

    /// Connecting (or the setup after it: AUTH, SELECT) failed.
    static func unreachable(_ message: String) -> RedisError { .init(.unreachable, message) }

    /// A command was sent while the connection is down (it is being re-established).
    static func notConnected(_ endpoint: String) -> RedisError {
        .init(.notConnected, "not connected to Redis at \(endpoint) (reconnecting)")
    }

    /// The connection went away before the answer came.
    static func connectionLost(_ endpoint: String) -> RedisError {
        .init(.connectionLost, "connection to Redis at \(endpoint) lost before the reply")
    }

    /// The connection failed with `error` (a TLS handshake, say) before the answer came.
    static func connectionFailed(_ endpoint: String, _ error: any Error) -> RedisError {
        .init(.connectionLost, "connection to Redis at \(endpoint) failed: \(error)")
    }

    /// Redis did not answer within the reply timeout: the connection is dropped and replaced.
    static func timedOut(_ endpoint: String, _ timeout: TimeAmount) -> RedisError {
        .init(.timedOut, "no reply from Redis at \(endpoint) within \(Duration.nanoseconds(timeout.nanoseconds)); reconnecting")
    }

    /// The broker or connection was shut down.
    static let closed = RedisError(.closed, "the Redis connection is closed")

    /// Redis sent something this client does not understand.
    static func protocolViolation(_ message: String) -> RedisError { .init(.protocolViolation, "RESP protocol error: \(message)") }

    /// A configuration value (a `redis://` URL, say) that cannot be used.
    static func invalidConfiguration(_ message: String) -> RedisError { .init(.invalidConfiguration, message) }
}
