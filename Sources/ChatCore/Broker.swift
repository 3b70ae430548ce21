/// What travels on a user's endpoint channel (`user:<id>`).
public enum BrokerEnvelope: Hashable, Sendable {
    /// An already stored timeline entry; `payload` includes `"seq"`.
    case timeline(seq: Int64, event: String, payload: [UInt8])
    /// An event that is never stored (`typing`, `presence`).
    case ephemeral(event: String, payload: [UInt8])
    /// Envelopes for the channel may have been lost: a broker hands it to a channel's subscribers
    /// when the channel is back after an outage (a lost connection to Redis, say), and publishes
    /// it to the users whose envelopes it failed to publish. The endpoint then catches up from the store.
    case resync

    /// The envelope as bytes for a byte-oriented pub/sub (Redis):
    /// `T<seq> <event>\n<payload>`, `E<event>\n<payload>` or `R\n`.
    public var bytes: [UInt8] {
        switch self {
        case .timeline(let seq, let event, let payload):
            return Array("T\(seq) \(event)\n".utf8) + payload
        case .ephemeral(let event, let payload):
            return Array("E\(event)\n".utf8) + payload
        case .resync:
            return Array("R\n".utf8)
        }
    }

    /// Decodes `bytes`; `nil` when malformed.
    public init?(bytes: [UInt8]) {
        guard let first = bytes.first, let newline = bytes.firstIndex(of: 0x0A) else { return nil }
        let header = String(decoding: bytes[1..<newline], as: UTF8.self)
        let payload = Array(bytes[(newline + 1)...])
        switch first {
        case UInt8(ascii: "T"):
            let parts = header.split(separator: " ", maxSplits: 1)
            guard parts.count == 2, let seq = Int64(parts[0]) else { return nil }
            self = .timeline(seq: seq, event: String(parts[1]), payload: payload)
        case UInt8(ascii: "E"):
            self = .ephemeral(event: header, payload: payload)
        case UInt8(ascii: "R") where header.isEmpty && payload.isEmpty:
            self = .resync
        default:
            return nil
        }
    }
}

/// A live subscription to one user's endpoint channel: cancel it to stop its deliveries.
///
/// Envelopes are pushed to the subscriber's handler (see ``Broker/subscribe(_:_:)``), so an idle
/// subscription holds no task and no buffer.
public struct BrokerSubscription: Sendable {
    private let cancelAction: @Sendable () async -> Void

    /// Creates a subscription; `cancel` must stop further calls to the subscriber's handler.
    public init(cancel: @escaping @Sendable () async -> Void) {
        self.cancelAction = cancel
    }

    /// Stops the subscription (a publish already under way may still hand over an envelope).
    public func cancel() async { await cancelAction() }
}

/// Carries stored events to every node holding a connection of the user, and tracks presence.
///
/// One channel per user (`user:<id>`), never per conversation, so a Redis pub/sub
/// implementation maps one to one. Publishing is best effort: whatever is lost is in the
/// timeline and comes back on the next replay or gap fill.
public protocol Broker: Sendable {
    /// Publishes `envelope` on each user's channel.
    func publish(_ envelope: BrokerEnvelope, to users: [UserID]) async throws
    /// Publishes without suspending if this broker can (one in the process hands envelopes
    /// straight to its subscribers; one over the network writes them to its connection without
    /// waiting for the answer): `true`; `false` when it cannot now (say, its connection is
    /// down), and nothing was published (use ``publish(_:to:)``). The default: `false`.
    func publishNow(_ envelope: BrokerEnvelope, to users: [UserID]) -> Bool
    /// Subscribes to a user's channel: envelopes published after this returns are handed to
    /// `receive`, in publish order per publisher. `receive` must not block (it may run on the
    /// publisher's task or on an I/O thread). A broker that can lose envelopes in an outage
    /// hands `receive` a ``BrokerEnvelope/resync`` once the channel is back.
    func subscribe(_ user: UserID, _ receive: @escaping @Sendable (BrokerEnvelope) -> Void) async throws -> BrokerSubscription
    /// Registers a connection; `true` if it is the user's first across the cluster.
    func connectionOpened(user: UserID, connection: String) async throws -> Bool
    /// Unregisters a connection; `true` if it was the user's last across the cluster.
    func connectionClosed(user: UserID, connection: String) async throws -> Bool
    /// Whether the user has a connection anywhere.
    func isOnline(_ user: UserID) async throws -> Bool
}

extension Broker {
    public func publishNow(_ envelope: BrokerEnvelope, to users: [UserID]) -> Bool { false }
}
