/// Settings of one Engine.IO endpoint.
public struct EngineIOConfiguration: Sendable {
    /// The HTTP path of the endpoint, e.g. `/engine.io/`.
    public var path: String
    /// How often the server pings.
    public var pingInterval: Duration
    /// How long the server waits for the pong before it closes the session.
    public var pingTimeout: Duration
    /// The largest POST body and WebSocket message accepted, in bytes.
    public var maxPayload: Int
    /// Which browser origins may use the endpoint.
    public var allowedOrigins: OriginPolicy
    /// Whether polling sessions are offered the upgrade to WebSocket.
    public var allowUpgrades: Bool
    /// Bytes queued for a session beyond which `EngineSession.waitUntilWritable()` suspends.
    public var outboundHighWatermark: Int

    /// Creates a configuration; the defaults are those of the reference server.
    public init(
        path: String = "/engine.io/",
        pingInterval: Duration = .seconds(25),
        pingTimeout: Duration = .seconds(20),
        maxPayload: Int = 1_000_000,
        allowedOrigins: OriginPolicy = .sameOrigin,
        allowUpgrades: Bool = true,
        outboundHighWatermark: Int = 1 << 20
    ) {
        self.path = path
        self.pingInterval = pingInterval
        self.pingTimeout = pingTimeout
        self.maxPayload = maxPayload
        self.allowedOrigins = allowedOrigins
        self.allowUpgrades = allowUpgrades
        self.outboundHighWatermark = outboundHighWatermark
    }
}

extension Duration {
    /// Whole milliseconds, as the open packet states them.
    var milliseconds: Int64 {
        let (seconds, attoseconds) = self.components
        return seconds * 1000 + attoseconds / 1_000_000_000_000_000
    }
}
