/// Where an ``EngineSession`` writes the frames of one attached WebSocket.
///
/// The session calls it under its lock, so frames keep their order: implementations must not
/// block nor call back into the session synchronously.
protocol EngineWebSocketWriter: Sendable {
    /// Queues a frame; the transport reports it written with `EngineSession.didWrite(byteCount:)`.
    func write(_ frame: EngineSession.Frame)
    /// Ends the WebSocket (the session closed or moved on).
    func finish()
}

/// Hummingbird's WebSocket handler drains the frames from an `AsyncStream`.
extension AsyncStream.Continuation: EngineWebSocketWriter where Element == EngineSession.Frame {
    func write(_ frame: EngineSession.Frame) {
        self.yield(frame)
    }
}
