/// What the Redis broker reports for metrics; the server records it (see its `/metrics`).
///
/// Each callback is short and may run on an event loop: count, don't block.
public struct RedisBrokerObserver: Sendable {
    /// A connection came up (`true`) or was lost (`false`); `role` is `commands` or `pubsub`.
    public var connection: @Sendable (_ role: String, _ up: Bool) -> Void
    /// Envelopes for this many users may have been lost on the way to Redis (they get a resync).
    public var lostPublishes: @Sendable (_ users: Int) -> Void
    /// This many local subscribers were handed a resync (their endpoints read the store).
    public var resyncs: @Sendable (_ subscribers: Int) -> Void

    /// An observer made of these callbacks.
    public init(connection: @escaping @Sendable (_ role: String, _ up: Bool) -> Void,
                lostPublishes: @escaping @Sendable (_ users: Int) -> Void,
                resyncs: @escaping @Sendable (_ subscribers: Int) -> Void) {
        self.connection = connection
        self.lostPublishes = lostPublishes
        self.resyncs = resyncs
    }

    /// Reports nothing.
    public static let none = RedisBrokerObserver(connection: { _, _ in }, lostPublishes: { _ in }, resyncs: { _ in })
}
