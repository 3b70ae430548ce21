/// Where the Redis broker connects and how it names things there.
public struct RedisBrokerConfiguration: Sendable, Hashable {
    /// Redis's host name or address.
    public var host: String
    /// Redis's TCP port.
    public var port: Int
    /// The ACL user for `AUTH` (Redis 6 and later); nil for the default user.
    public var username: String?
    /// The password for `AUTH`; nil when Redis asks for none.
    public var password: String?
    /// TLS to Redis (`rediss://`); nil for plain TCP.
    public var tls: TLS?
    /// The logical database (`SELECT`) for the presence keys (pub/sub channels span all databases).
    public var database: Int
    /// Prepended to every key and channel, so several deployments can share one Redis.
    public var prefix: String
    /// How long connecting (TCP, then `AUTH`/`SELECT`) may take before it counts as failed.
    public var connectTimeout: Duration
    /// How long Redis may take to answer a command before the connection counts as dead (Redis
    /// hung, or the network silently gone) and is replaced; the subscription connection is
    /// checked with a PING every heartbeat interval against the same limit.
    public var replyTimeout: Duration
    /// The first wait before reconnecting after a lost connection; it doubles on each failed attempt…
    public var minimumReconnectDelay: Duration
    /// …up to this.
    public var maximumReconnectDelay: Duration
    /// How often a node refreshes its heartbeat and looks for nodes whose heartbeat expired.
    public var heartbeatInterval: Duration
    /// How long a node's heartbeat lives: a node silent for this long counts as dead, and its
    /// users' connections are removed from presence. Keep it a few heartbeat intervals.
    public var heartbeatTimeout: Duration

    /// A configuration with the defaults: `127.0.0.1:6379`, database 0, prefix `webchat:`, no password.
    public init(
        host: String = "127.0.0.1", port: Int = 6379, username: String? = nil, password: String? = nil,
        database: Int = 0, prefix: String = "webchat:"
    ) {
        self.host = host
        self.port = port
        self.username = username
        self.password = password
        self.database = database
        self.prefix = prefix
        self.connectTimeout = .seconds(5)
        self.replyTimeout = .seconds(10)
        self.minimumReconnectDelay = .milliseconds(50)
        self.maximumReconnectDelay = .seconds(2)
        self.heartbeatInterval = .seconds(5)
        self.heartbeatTimeout = .seconds(15)
    }

    /// How the broker speaks TLS to Redis.
    public struct TLS: Sendable, Hashable {
        /// A PEM file of the certificate authorities to trust instead of the system's (a private
        /// CA, or a managed Redis's own); nil for the system's.
        public var caFile: String?
        /// A PEM file with the client certificate (and its chain) for Redis servers that ask for
        /// one (`tls-auth-clients yes`, their default); with ``keyFile``.
        public var certificateFile: String?
        /// A PEM file with the client certificate's private key.
        public var keyFile: String?

        public init(caFile: String? = nil, certificateFile: String? = nil, keyFile: String? = nil) {
            self.caFile = caFile
            self.certificateFile = certificateFile
            self.keyFile = keyFile
        }
    }

    /// `host:port`, for messages.
    public var endpoint: String { Self.endpoint(host: host, port: port) }

    /// `host:port`, with an IPv6 address in brackets.
    static func endpoint(host: String, port: Int) -> String {
        host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
    }
}
