/// Settings of a Socket.IO server; the defaults are those of the reference server.
public struct SocketIOConfiguration: Sendable {
    /// The HTTP path of the endpoint.
    public var path: String = "/socket.io/"
    /// How often the server pings.
    public var pingInterval: Duration = .seconds(25)
    /// How long the server waits for a pong before it closes the connection.
    public var pingTimeout: Duration = .seconds(20)
    /// The largest POST body and WebSocket message accepted, in bytes.
    public var maxPayload: Int = 1_000_000
    /// How long a new connection may take to connect to a namespace before it is closed.
    public var connectTimeout: Duration = .seconds(45)
    /// Which browser origins may connect.
    public var allowedOrigins: OriginPolicy = .sameOrigin
    /// The most binary attachments one packet may announce.
    public var maxAttachments: Int = 10
    /// The most emits awaiting the client's ack per socket; further ones suspend until some are answered.
    public var maxPendingAcks: Int = 1_000
    /// Bytes queued for a connection beyond which emits suspend (back-pressure).
    public var outboundHighWatermark: Int = 1 << 20
    /// The most connections of one client (``clientKey``) without an accepted socket (none yet,
    /// or the last one gone); a handshake beyond it is answered 429. 0 (the default, as the reference server) for no
    /// limit. Such a connection costs memory until `connectTimeout` whether or not it holds a
    /// socket (a polling one does not), so without a limit one client can pile them up.
    public var maxPendingConnectionsPerClient: Int = 0
    /// Who a handshake comes from, for ``maxPendingConnectionsPerClient``; nil counts toward no
    /// one. By default its connection's peer address, which the handshake knows with
    /// `httpServerBuilder()`, over polling when the router's context is a
    /// `RemoteAddressRequestContext`, and over an app's own upgrade when it passes the address
    /// to `webSocketUpgrade(for:remoteAddress:)`; otherwise nothing is counted.
    public var clientKey: @Sendable (EngineRequest) -> String? = { $0.remoteAddress?.ipAddress }

    /// Creates a configuration with the defaults.
    public init() {}

    /// The Engine.IO settings these imply.
    var engine: EngineIOConfiguration {
        EngineIOConfiguration(
            path: self.path,
            pingInterval: self.pingInterval,
            pingTimeout: self.pingTimeout,
            maxPayload: self.maxPayload,
            allowedOrigins: self.allowedOrigins,
            outboundHighWatermark: self.outboundHighWatermark
        )
    }
}
