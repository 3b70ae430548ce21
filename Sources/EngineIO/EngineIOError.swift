/// An error of the Engine.IO layer.
public struct EngineIOError: Error, Sendable, Hashable, CustomStringConvertible {
    private enum Code: Hashable, Sendable {
        case invalidPacket
        case unexpectedPacket
        case sessionClosed
    }

    private let code: Code

    /// The input is not a valid Engine.IO packet or payload.
    public static let invalidPacket = EngineIOError(code: .invalidPacket)
    /// A valid packet that the protocol does not allow at this point (a client ping, a second open…).
    public static let unexpectedPacket = EngineIOError(code: .unexpectedPacket)
    /// The session is closed.
    public static let sessionClosed = EngineIOError(code: .sessionClosed)

    public var description: String {
        switch self.code {
        case .invalidPacket: "invalid Engine.IO packet"
        case .unexpectedPacket: "unexpected Engine.IO packet"
        case .sessionClosed: "Engine.IO session closed"
        }
    }
}
