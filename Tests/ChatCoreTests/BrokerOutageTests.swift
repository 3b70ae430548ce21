@testable import ChatCore
import Foundation
import Logging
import Synchronization
import Testing

/// A broker that loses everything published during an outage, as one over the network does
/// while its connection is down, and hands its subscribers ``BrokerEnvelope/resync`` when the
/// outage ends.
private final class LossyBroker: Broker {
    private let inner = InProcessBroker()
    private let losing = Atomic<Bool>(false)
    private let receivers = Mutex<[UserID: [@Sendable (BrokerEnvelope) -> Void]]>([:])

    func startOutage() { losing.store(true, ordering: .sequentiallyConsistent) }

    /// Ends the outage; with `resync: false` the subscribers are not told (only a gap shows the loss).
    func endOutage(resync: Bool = true) {
        losing.store(false, ordering: .sequentiallyConsistent)
        guard resync else { return }
        for receive in receivers.withLock({ $0.values.flatMap { $0 } }) { receive(.resync) }
    }

    func publish(_ envelope: BrokerEnvelope, to users: [UserID]) async throws {
        guard !losing.load(ordering: .sequentiallyConsistent) else { return }
        try await inner.publish(envelope, to: users)
    }

    func subscribe(_ user: UserID, _ receive: @escaping @Sendable (BrokerEnvelope) -> Void) async throws -> BrokerSubscription {
        receivers.withLock { $0[user, default: []].append(receive) }
        return try await inner.subscribe(user, receive)
    }

    func connectionOpened(user: UserID, connection: String) async throws -> Bool { try await inner.connectionOpened(user: user, connection: connection) }
    func connectionClosed(user: UserID, connection: String) async throws -> Bool { try await inner.connectionClosed(user: user, connection: connection) }
    func isOnline(_ user: UserID) async throws -> Bool { try await inner.isOnline(user) }
}

/// Collects a push endpoint's deliveries.
private final class Deliveries: EndpointReceiver {
    private let all = Mutex<[EndpointDelivery]>([])

    func deliver(_ delivery: EndpointDelivery) { all.withLock { $0.append(delivery) } }
    func endpointFailed() {}

    /// The seqs of the timeline deliveries so far.
    var seqs: [Int64] {
        all.withLock { $0.compactMap { if case .timeline(let seq, _, _) = $0 { seq } else { nil } } }
    }

    /// Waits until `count` timeline deliveries arrived (or ten seconds passed).
    func waitFor(_ count: Int) async throws {
        for _ in 0..<1000 where seqs.count < count { try await Task.sleep(for: .milliseconds(10)) }
    }
}

@Suite(.timeLimit(.minutes(1))) struct BrokerOutageTests {
    private let broker = LossyBroker()
    private let service: ChatService
    private let alice = uid("alice"), bob = uid("bob")

    init() async throws {
        service = ChatService(store: InMemoryChatStore(), broker: broker, logger: Logger(label: "test"))
        for user in [alice, bob] { _ = try await service.createUser(id: user, name: user.rawValue, passwordHash: nil) }
    }

    private func send(_ body: String) async throws {
        _ = try await service.send(from: alice, SendRequest(id: body.replacingOccurrences(of: " ", with: "-"), to: bob, body: body))
    }

    @Test("what an outage lost reaches a live endpoint from the store on resync, in order, once")
    func resyncCatchesUpALiveEndpoint() async throws {
        let deliveries = Deliveries()
        let endpoint = try await service.openEndpoint(user: bob, since: nil, receiver: deliveries)
        try await send("before")
        try await deliveries.waitFor(1)
        broker.startOutage()
        for i in 1...3 { try await send("lost \(i)") }
        try await Task.sleep(for: .milliseconds(50))
        #expect(deliveries.seqs == [1], "published during the outage: lost until the resync")
        broker.endOutage()
        try await deliveries.waitFor(4)
        #expect(deliveries.seqs == [1, 2, 3, 4], "caught up by the resync alone, before anything else arrives")
        try await send("after")
        try await deliveries.waitFor(5)
        #expect(deliveries.seqs == [1, 2, 3, 4, 5])
        await endpoint.close()
    }

    @Test("a gap longer than one read of the store is filled whole, in order")
    func longGapIsFilledInSeveralReads() async throws {
        let deliveries = Deliveries()
        let endpoint = try await service.openEndpoint(user: bob, since: nil, receiver: deliveries)
        broker.startOutage()
        let lost = PushEndpoint.gapPageSize + 50
        for i in 1...lost { try await send("lost \(i)") }
        broker.endOutage(resync: false)
        try await send("reveals the gap")
        try await deliveries.waitFor(lost + 1)
        let seqs = deliveries.seqs
        #expect(seqs.count == lost + 1 && seqs == Array(1...Int64(lost + 1)), "\(seqs.count) deliveries, the last \(seqs.suffix(3))")
        await endpoint.close()
    }

    @Test("a resync that arrives during the replay is done after it: nothing lost, nothing twice")
    func resyncDuringReplay() async throws {
        for i in 1...1200 { try await send("m\(i)") }
        broker.startOutage()
        let deliveries = Deliveries()
        let endpoint = try await service.openEndpoint(user: bob, since: 0, receiver: deliveries)
        for i in 1...5 { try await send("lost \(i)") }
        broker.endOutage()
        try await deliveries.waitFor(1205)
        let seqs = deliveries.seqs
        #expect(seqs.count == 1205 && seqs == Array(1...1205), "\(seqs.count) deliveries, the last \(seqs.suffix(3))")
        await endpoint.close()
    }
}
