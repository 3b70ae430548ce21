import ChatCore

/// The names of everything the broker keeps in Redis, all under one prefix.
///
/// | name | type | holds |
/// |---|---|---|
/// | `<prefix>user:<user>` | channel | the user's envelopes (`BrokerEnvelope.bytes`) |
/// | `<prefix>presence:<user>` | set | `<node>/<connection>`: the user's connections, cluster-wide |
/// | `<prefix>node:<node>:members` | set | `<user>/<connection>`: the connections the node registered |
/// | `<prefix>node:<node>:alive` | string with a TTL | the node's heartbeat (its time, ms) |
/// | `<prefix>nodes` | set | the ids of the nodes that may hold presence |
/// | `<prefix>resync` | channel | `R\n` when a node lost more envelopes than it tracks: every subscriber resyncs |
/// | `<prefix>claim:<job>` | string with a TTL | the node holding a cluster-wide job (``Broker/claim(_:for:)``): `retention:<hour>` |
/// | `<prefix>store` | string | the store the nodes under this prefix share (``RedisBroker/bind(toStore:)``) |
struct RedisKeys: Sendable {
    let prefix: String
    /// User channels are this followed by the user id.
    let channelPrefix: String
    /// Presence sets are this followed by the user id.
    let presencePrefix: String
    /// The registry of nodes.
    let nodes: String
    /// The channel every node subscribes to for resyncs of all its subscribers.
    let resyncChannel: String
    /// The store of the nodes under this prefix.
    let store: String

    init(prefix: String) {
        self.prefix = prefix
        self.channelPrefix = prefix + "user:"
        self.presencePrefix = prefix + "presence:"
        self.nodes = prefix + "nodes"
        self.resyncChannel = prefix + "resync"
        self.store = prefix + "store"
    }

    func channel(_ user: UserID) -> String { channelPrefix + user.rawValue }
    func presence(_ user: UserID) -> String { presencePrefix + user.rawValue }
    func members(of node: String) -> String { prefix + "node:" + node + ":members" }
    func alive(_ node: String) -> String { prefix + "node:" + node + ":alive" }
    func claim(_ job: String) -> String { prefix + "claim:" + job }
}
