import Logging
import Synchronization

/// Where the broker's connections go when Redis is a cluster (Redis Cluster, or a managed
/// Redis in cluster mode). Its ACL user needs `+cluster|slots` (the broker asks at start
/// whether Redis is a cluster; without it the broker warns and takes Redis for one server).
///
/// Every key the broker writes starts with its prefix, and in a cluster the prefix must hold a
/// hash tag (`{webchat}:`): then every key is in one hash slot, so the presence scripts, which
/// touch several keys, run on one node, and both connections go to the primary that serves
/// that slot. Pub/sub needs nothing more: a cluster carries every `PUBLISH` to every node. Each
/// (re)connection asks the nodes it knows (the last owner first, the URL's node last) which
/// one serves the slot now, so a failover or a moved slot costs a reconnection; a command
/// answered `MOVED` ends its connection for that (``RedisChannelHandler``). While a slot is
/// being migrated (`ASK`, `TRYAGAIN`) commands fail until the migration is done.
final class ClusterRoute: Sendable {
    /// The slot of every key of the broker.
    let slot: Int
    /// The node the URL names.
    let seed: Node
    private let configuration: RedisBrokerConfiguration
    private let tls: RedisTLS?
    private let logger: Logger
    /// The primaries of the last topology read, the slot's owner first.
    private let known: Mutex<[Node]>
    /// The lookup under way, shared by both connections.
    private let lookup = Mutex<Task<Node, any Error>?>(nil)

    struct Node: Hashable, Sendable, CustomStringConvertible {
        var host: String
        var port: Int
        var description: String { RedisBrokerConfiguration.endpoint(host: host, port: port) }
    }

    private init(slot: Int, seed: Node, known: [Node], configuration: RedisBrokerConfiguration, tls: RedisTLS?, logger: Logger) {
        self.slot = slot
        self.seed = seed
        self.known = Mutex(known)
        self.configuration = configuration
        self.tls = tls
        self.logger = logger
    }

    /// The route to the cluster the configuration's node belongs to, or nil when that node is
    /// not part of a cluster (it refuses `CLUSTER SLOTS`). Throws when it cannot be reached, or
    /// when it is a cluster and the prefix has no hash tag or a database other than 0 is asked for.
    static func discover(_ configuration: RedisBrokerConfiguration, tls: RedisTLS?, logger: Logger) async throws -> ClusterRoute? {
        let seed = Node(host: configuration.host, port: configuration.port)
        guard let topology = try await slots(at: seed, configuration, tls: tls, logger: logger, detecting: true) else { return nil }
        guard let tag = HashSlot.tag(of: configuration.prefix) else {
            throw RedisError.invalidConfiguration(
                "Redis at \(configuration.endpoint) is a cluster: the key prefix must hold a hash tag, so that every key of webchat is "
                    + "in one slot (the presence scripts touch several keys), e.g. ?prefix={webchat}: instead of '\(configuration.prefix)'")
        }
        guard configuration.database == 0 else {
            throw RedisError.invalidConfiguration("Redis at \(configuration.endpoint) is a cluster, which has only database 0, not \(configuration.database)")
        }
        let route = ClusterRoute(slot: HashSlot.of(tag), seed: seed, known: [], configuration: configuration, tls: tls, logger: logger)
        _ = try route.learn(topology, from: seed)
        return route
    }

    /// The primary that serves the slot now, asking the known nodes and then the URL's node
    /// (one lookup at a time: a caller arriving meanwhile shares it).
    func owner() async throws -> Node {
        let task = lookup.withLock { lookup in
            if let running = lookup { return running }
            let task = Task { [self] in
                defer { self.lookup.withLock { $0 = nil } }
                return try await self.ask()
            }
            lookup = task
            return task
        }
        return try await task.value
    }

    private func ask() async throws -> Node {
        let candidates = known.withLock { $0 }
        var failed: [Node] = []
        var errors: [String] = []
        for node in candidates + (candidates.contains(seed) ? [] : [seed]) {
            try Task.checkCancellation()
            do {
                if let topology = try await Self.slots(at: node, configuration, tls: tls, logger: logger, detecting: false) {
                    let owner = try learn(topology, from: node)
                    // Nodes that did not answer are asked last next time (a dead primary is still
                    // listed until its replica takes over).
                    known.withLock { known in known = known.filter { !failed.contains($0) } + known.filter { failed.contains($0) } }
                    return owner
                }
            } catch {
                failed.append(node)
                errors.append(RedisConnection.describe(error))
            }
        }
        throw RedisError.unreachable("no node of the Redis cluster says which serves slot \(slot) (\(errors.joined(separator: "; ")))")
    }

    /// Keeps the primaries of `topology` (as `asked` answered it), the slot's owner first; returns it.
    private func learn(_ topology: [ClusterSlots.Range], from asked: Node) throws -> Node {
        func node(_ endpoint: ClusterSlots.Endpoint) -> Node {
            // No host (empty or null): the node that answered, as the specification says.
            Node(host: endpoint.host ?? asked.host, port: endpoint.port)
        }
        guard let serving = topology.first(where: { $0.slots.contains(slot) }) else {
            throw RedisError.server("the Redis cluster (asked at \(asked)) has no node serving slot \(slot): is it still being set up?")
        }
        let owner = node(serving.primary)
        var primaries = [owner]
        for range in topology where !primaries.contains(node(range.primary)) { primaries.append(node(range.primary)) }
        known.withLock { $0 = primaries }
        return owner
    }

    /// `CLUSTER SLOTS` at `node`, over a connection of its own. When `detecting`, nil if the
    /// node is not in cluster mode (or is a proxy that knows no `CLUSTER`), and also, with a
    /// warning, if the ACL user may not ask.
    private static func slots(at node: Node, _ configuration: RedisBrokerConfiguration, tls: RedisTLS?, logger: Logger,
                              detecting: Bool) async throws -> [ClusterSlots.Range]? {
        var settings = configuration
        settings.host = node.host
        settings.port = node.port
        // A cluster has database 0 only (`discover` says so if another is configured).
        settings.database = 0
        let connection = RedisConnection(configuration: settings, role: "cluster", logger: logger, tls: tls?.naming(node.host))
        let reply: RESPValue
        do {
            try await connection.connect()
            reply = try await connection.send([RedisCommand("CLUSTER", "SLOTS")])[0]
            await connection.close()
        } catch {
            await connection.close()
            throw error
        }
        guard let message = reply.errorMessage else { return try ClusterSlots.parse(reply) }
        guard detecting else { throw RedisError.server("CLUSTER SLOTS at \(node) answered \(message)") }
        if message.hasPrefix("NOPERM") {
            logger.warning("""
                Redis refuses CLUSTER SLOTS to the broker's user: taking it for a single server. If it is a cluster, \
                grant the user +cluster|slots, or the broker will fail on the first key another node serves
                """, metadata: ["redis": "\(configuration.endpoint)", "reply": "\(message)"])
            return nil
        }
        // "ERR This instance has cluster support disabled", or a proxy that knows no CLUSTER.
        if message.contains("cluster support disabled") || message.lowercased().contains("unknown command")
            || message.lowercased().contains("unknown subcommand") {
            return nil
        }
        throw RedisError.server("Redis at \(configuration.endpoint) answered CLUSTER SLOTS with \(message)")
    }
}

/// The answer to `CLUSTER SLOTS`: which primary (and replicas) serve which range of slots.
enum ClusterSlots {
    struct Endpoint: Hashable, Sendable {
        /// Nil: the node that answered.
        var host: String?
        var port: Int
    }

    struct Range: Hashable, Sendable {
        var slots: ClosedRange<Int>
        var primary: Endpoint
    }

    /// `[[start, end, [endpoint, port, id, metadata?], replica…], …]`. The endpoint is the
    /// node's preferred one: an IP address, or its host name when the cluster announces those;
    /// empty or null for the node that answered; `?` when unknown, and then the metadata's
    /// `ip` is used (a flat list of names and values).
    static func parse(_ reply: RESPValue) throws -> [Range] {
        guard let ranges = reply.array else { throw RedisError.protocolViolation("CLUSTER SLOTS answered \(reply)") }
        return try ranges.map { range in
            guard let parts = range.array, parts.count >= 3, let start = parts[0].integer, let end = parts[1].integer, start <= end,
                  let primary = parts[2].array, primary.count >= 2, let port = primary[1].integer
            else { throw RedisError.protocolViolation("CLUSTER SLOTS answered a range that is not [start, end, [host, port, …], …]: \(range)") }
            var host = primary[0].string.flatMap { $0.isEmpty ? nil : $0 }
            if host == "?" {
                let metadata = primary.count > 3 ? primary[3].array ?? [] : []
                let ip = stride(from: 0, to: metadata.count - 1, by: 2).first { metadata[$0].string == "ip" }.flatMap { metadata[$0 + 1].string }
                guard let ip else {
                    throw RedisError.protocolViolation("CLUSTER SLOTS answered an unknown endpoint ('?') without its ip for slots \(start)-\(end)")
                }
                host = ip
            }
            return Range(slots: Int(start)...Int(end), primary: Endpoint(host: host, port: Int(port)))
        }
    }
}

/// Redis Cluster's key hash slots: CRC16 (XMODEM) of the key, or of its hash tag, modulo 16384.
enum HashSlot {
    static let count = 16_384

    /// The slot of `key`.
    static func of(_ key: String) -> Int {
        Int(crc16(Array((tag(of: key) ?? key).utf8)) % UInt16(count))
    }

    /// What is hashed of `key` when it has a hash tag: the text between its first `{` and the
    /// first `}` after it, if that is not empty; nil when the whole key is hashed.
    static func tag(of key: String) -> String? {
        let bytes = Array(key.utf8)
        guard let open = bytes.firstIndex(of: UInt8(ascii: "{")),
              let close = bytes[(open + 1)...].firstIndex(of: UInt8(ascii: "}")), close > open + 1 else { return nil }
        return String(decoding: bytes[(open + 1)..<close], as: UTF8.self)
    }

    /// CRC-16/XMODEM (polynomial 0x1021, initial value 0), as Redis Cluster's specification.
    static func crc16(_ bytes: [UInt8]) -> UInt16 {
        var crc: UInt16 = 0
        for byte in bytes {
            crc ^= UInt16(byte) << 8
            for _ in 0..<8 { crc = crc & 0x8000 != 0 ? (crc << 1) ^ 0x1021 : crc << 1 }
        }
        return crc
    }
}
