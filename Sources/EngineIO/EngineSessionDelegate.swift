/// Receives what happens on one Engine.IO session. Calls for one session never overlap and come in
/// the order of the client's packets; they are synchronous, so a delegate hands slow work elsewhere.
public protocol EngineSessionDelegate: Sendable {
    /// A message arrived from the client.
    func session(_ session: EngineSession, didReceive message: EngineMessage)
    /// The session closed; no more calls follow.
    func sessionDidClose(_ session: EngineSession, reason: EngineCloseReason)
}

/// Creates the delegate of each new Engine.IO session.
public protocol EngineIOHandler: Sendable {
    /// Whether a valid handshake may open a session; the error thrown is the HTTP answer
    /// instead (a refused WebSocket upgrade answers 400 with its message, as any other). The
    /// admission goes to ``sessionDidOpen(_:handshake:admission:)`` if the session opens.
    func admit(_ handshake: EngineRequest) throws(EngineHTTPError) -> EngineAdmission
    /// A session opened by `handshake`; the returned delegate receives its messages and its close.
    func sessionDidOpen(_ session: EngineSession, handshake: EngineRequest, admission: EngineAdmission) -> any EngineSessionDelegate
}

extension EngineIOHandler {
    /// Every handshake is admitted, and takes no place.
    public func admit(_ handshake: EngineRequest) throws(EngineHTTPError) -> EngineAdmission { EngineAdmission() }
}
