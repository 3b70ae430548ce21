import Foundation
import Logging

/// The chat domain: every rule of PROTOCOL.md §2-§4, over a `ChatStore` and a `Broker`.
///
/// Stateless apart from its dependencies, so unrelated users never wait on each other here;
/// every event is appended to the recipients' timelines (store) before it is published (broker).
public final class ChatService: Sendable {
    let store: any ChatStore
    let broker: any Broker
    /// The limits in force.
    public let configuration: ChatConfiguration
    let logger: Logger
    let clock: @Sendable () -> Int64

    /// Creates the service. `clock` returns "now" in ms since 1970 (inject a fixed one in tests).
    public init(store: some ChatStore, broker: some Broker, configuration: ChatConfiguration = .init(), logger: Logger,
                clock: @escaping @Sendable () -> Int64 = ChatService.wallClock) {
        self.store = store
        self.broker = broker
        self.configuration = configuration
        self.logger = logger
        self.clock = clock
    }

    /// The system clock in ms since 1970.
    public static let wallClock: @Sendable () -> Int64 = {
        Int64((Date().timeIntervalSince1970 * 1000).rounded(.down))
    }
}
