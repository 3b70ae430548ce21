/// An error of the Socket.IO layer.
public struct SocketIOError: Error, Sendable, Hashable, CustomStringConvertible {
    private enum Code: String, Sendable {
        case invalidPacket = "invalid Socket.IO packet"
        case tooManyAttachments = "too many binary attachments"
        case attachmentsTooLarge = "binary attachments of one packet larger than maxPayload"
        case unexpectedAttachment = "binary data where none was expected"
        case socketClosed = "the socket is closed"
        case ackTimeout = "no acknowledgement in time"
    }

    private let code: Code

    /// The input is not a valid Socket.IO packet (type, attachments, namespace, ack id or payload).
    public static let invalidPacket = SocketIOError(code: .invalidPacket)
    /// A binary packet announced more attachments than `maxAttachments`.
    public static let tooManyAttachments = SocketIOError(code: .tooManyAttachments)
    /// The attachments of one binary packet add up to more than `maxPayload`: each may be up to
    /// that size on its own, and a client that never sent the last one would hold them all.
    public static let attachmentsTooLarge = SocketIOError(code: .attachmentsTooLarge)
    /// A binary frame arrived when no attachment was expected, or text arrived while one was.
    public static let unexpectedAttachment = SocketIOError(code: .unexpectedAttachment)
    /// The socket is disconnected; nothing more can be sent on it.
    public static let socketClosed = SocketIOError(code: .socketClosed)
    /// `emitWithAck` got no answer within its timeout.
    public static let ackTimeout = SocketIOError(code: .ackTimeout)

    public var description: String { self.code.rawValue }
}
