import Synchronization

/// One item an `Endpoint` yields to its connection.
public enum EndpointDelivery: Hashable, Sendable {
    /// A timeline event to emit with an ack; `payload` is the JSON object including `"seq"`.
    case timeline(seq: Int64, event: String, payload: [UInt8])
    /// End of the replay: `{"seq":N}` or `{"seq":N,"truncated":true}`; emit as `synced`, no ack.
    case synced(payload: [UInt8])
    /// An event never stored (`typing`, `presence`); emit without ack.
    case ephemeral(event: String, payload: [UInt8])
}

/// The ordered stream of deliveries for one Socket.IO connection: replay after `since`,
/// then `synced`, then live events, never reordered, dropped or duplicated.
///
/// Iterate it once. Call `close()` when the connection goes away (presence depends on it).
public final class Endpoint: AsyncSequence, Sendable {
    public typealias Element = EndpointDelivery
    public typealias AsyncIterator = AsyncStream<EndpointDelivery>.Iterator

    /// Whose endpoint this is.
    public let user: UserID
    /// The connection id registered with the broker's presence.
    public let connection: String
    private let deliveries: AsyncStream<EndpointDelivery>
    private let closeAction: Mutex<(@Sendable () async -> Void)?>

    init(user: UserID, connection: String, deliveries: AsyncStream<EndpointDelivery>, close: @escaping @Sendable () async -> Void) {
        self.user = user
        self.connection = connection
        self.deliveries = deliveries
        self.closeAction = Mutex(close)
    }

    public func makeAsyncIterator() -> AsyncIterator { deliveries.makeAsyncIterator() }

    /// Ends the stream and unregisters the connection; the user goes offline (and `lastSeen`
    /// is stored) when this was their last connection. Idempotent.
    public func close() async {
        let action = closeAction.withLock { action in
            defer { action = nil }
            return action
        }
        await action?()
    }
}
