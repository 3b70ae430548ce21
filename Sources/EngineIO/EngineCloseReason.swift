/// Why an Engine.IO session closed.
public enum EngineCloseReason: String, Sendable, Hashable {
    /// The client sent a `close` packet.
    case clientClose = "transport close"
    /// The WebSocket went away.
    case transportClose = "transport closed"
    /// The client answered no ping in time.
    case pingTimeout = "ping timeout"
    /// The client sent something that is not valid Engine.IO, or not valid at that point.
    case parseError = "parse error"
    /// The client broke the transport rules (a second concurrent poll, a POST over `maxPayload`).
    case transportError = "transport error"
    /// The application closed the session.
    case serverClose = "forced close"
}
