import EngineIO

/// Why a socket was disconnected.
public enum DisconnectReason: String, Sendable, Hashable {
    /// The client left the namespace (DISCONNECT packet).
    case clientNamespaceDisconnect = "client namespace disconnect"
    /// The server called ``Socket/disconnect()``.
    case serverNamespaceDisconnect = "server namespace disconnect"
    /// The client closed the connection.
    case transportClose = "transport close"
    /// The connection failed (a second poll, an oversized payload).
    case transportError = "transport error"
    /// The client answered no ping in time.
    case pingTimeout = "ping timeout"
    /// The client sent a malformed packet.
    case parseError = "parse error"
    /// The server closed the whole connection.
    case forcedClose = "forced close"

    init(_ reason: EngineCloseReason) {
        switch reason {
        case .clientClose, .transportClose: self = .transportClose
        case .pingTimeout: self = .pingTimeout
        case .parseError: self = .parseError
        case .transportError: self = .transportError
        case .serverClose: self = .forcedClose
        }
    }
}
