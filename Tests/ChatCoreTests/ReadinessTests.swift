import ChatCore
import Logging
import Synchronization
import Testing

/// A broker whose presence reads hang until released, as a paused Redis's do.
private final class StalledBroker: Broker {
    private let inner = InProcessBroker()
    private let stalled = Atomic<Bool>(true)

    func release() { stalled.store(false, ordering: .sequentiallyConsistent) }

    func isOnline(_ user: UserID) async throws -> Bool {
        while stalled.load(ordering: .sequentiallyConsistent) { try await Task.sleep(for: .milliseconds(10)) }
        return try await inner.isOnline(user)
    }

    func publish(_ envelope: BrokerEnvelope, to users: [UserID]) async throws { try await inner.publish(envelope, to: users) }
    func subscribe(_ user: UserID, _ receive: @escaping @Sendable (BrokerEnvelope) -> Void) async throws -> BrokerSubscription {
        try await inner.subscribe(user, receive)
    }
    func connectionOpened(user: UserID, connection: String) async throws -> Bool { try await inner.connectionOpened(user: user, connection: connection) }
    func connectionClosed(user: UserID, connection: String) async throws -> Bool { try await inner.connectionClosed(user: user, connection: connection) }
}

@Suite(.timeLimit(.minutes(1))) struct ReadinessTests {
    /// A readiness probe answers within its deadline, naming the backend that did not answer,
    /// rather than waiting out that backend's own timeouts; once it answers, the node is ready.
    @Test func aBackendThatStopsAnsweringIsUnavailableAtTheDeadline() async throws {
        let broker = StalledBroker()
        let service = ChatService(store: InMemoryChatStore(), broker: broker, logger: Logger(label: "test"))
        let started = ContinuousClock.now
        #expect(await service.unavailableBackend(within: .milliseconds(300)) == "broker")
        let elapsed = ContinuousClock.now - started
        #expect(elapsed >= .milliseconds(300) && elapsed < .seconds(2), "took \(elapsed)")
        broker.release()
        #expect(await service.unavailableBackend(within: .seconds(5)) == nil)
    }
}
