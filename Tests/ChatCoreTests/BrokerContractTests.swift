import Synchronization
import Testing

@testable import ChatCore

/// The broker's contract. Brokers today: the in-process one; a Redis broker joins the list.
enum BrokerKind: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case inProcess

    var testDescription: String { rawValue }

    func make() -> any Broker {
        switch self {
        case .inProcess: InProcessBroker()
        }
    }
}

/// Collects what a subscriber receives.
private final class Inbox: Sendable {
    private let received = Mutex<[BrokerEnvelope]>([])
    var all: [BrokerEnvelope] { received.withLock { $0 } }
    func receive(_ envelope: BrokerEnvelope) { received.withLock { $0.append(envelope) } }
}

@Suite("Broker contract")
struct BrokerContractTests {
    private static func event(_ n: Int64) -> BrokerEnvelope { .timeline(seq: n, event: "message", payload: Array("{\"seq\":\(n)}".utf8)) }

    @Test("every subscription of a user gets what is published to them, in order; cancelled ones stop", arguments: BrokerKind.allCases)
    func subscriptions(kind: BrokerKind) async throws {
        let broker = kind.make()
        let (first, second, third, other) = (Inbox(), Inbox(), Inbox(), Inbox())
        let a = try await broker.subscribe(uid("alice"), first.receive)
        try await broker.publish(Self.event(1), to: [uid("alice")])
        let b = try await broker.subscribe(uid("alice"), second.receive)
        _ = try await broker.subscribe(uid("bob"), other.receive)
        try await broker.publish(Self.event(2), to: [uid("alice"), uid("carol")])
        await a.cancel()
        let c = try await broker.subscribe(uid("alice"), third.receive)
        try await broker.publish(Self.event(3), to: [uid("alice")])
        await b.cancel()
        await c.cancel()
        try await broker.publish(Self.event(4), to: [uid("alice")])

        #expect(first.all == [Self.event(1), Self.event(2)])
        #expect(second.all == [Self.event(2), Self.event(3)])
        #expect(third.all == [Self.event(3)])
        #expect(other.all.isEmpty)
        // Cancelling twice, or after the others, is harmless; a new subscription still works.
        await a.cancel()
        let again = Inbox()
        _ = try await broker.subscribe(uid("alice"), again.receive)
        try await broker.publish(Self.event(5), to: [uid("alice")])
        #expect(again.all == [Self.event(5)])
    }

    @Test("presence: first connection opens, last one closes, unknown and repeated ids change nothing", arguments: BrokerKind.allCases)
    func presence(kind: BrokerKind) async throws {
        let broker = kind.make()
        let alice = uid("alice")
        #expect(try await broker.isOnline(alice) == false)
        #expect(try await broker.connectionClosed(user: alice, connection: "c0") == false)
        #expect(try await broker.connectionOpened(user: alice, connection: "c1") == true)
        #expect(try await broker.connectionOpened(user: alice, connection: "c1") == false)
        #expect(try await broker.connectionOpened(user: alice, connection: "c2") == false)
        #expect(try await broker.connectionOpened(user: alice, connection: "c3") == false)
        #expect(try await broker.connectionClosed(user: alice, connection: "c9") == false)
        #expect(try await broker.connectionClosed(user: alice, connection: "c2") == false)
        #expect(try await broker.connectionClosed(user: alice, connection: "c1") == false)
        #expect(try await broker.isOnline(alice) == true)
        #expect(try await broker.connectionClosed(user: alice, connection: "c1") == false)
        #expect(try await broker.connectionClosed(user: alice, connection: "c3") == true)
        #expect(try await broker.isOnline(alice) == false)
        #expect(try await broker.connectionClosed(user: alice, connection: "c3") == false)
        // Another user is independent, and a user can come back.
        #expect(try await broker.connectionOpened(user: uid("bob"), connection: "c1") == true)
        #expect(try await broker.connectionOpened(user: alice, connection: "c4") == true)
        #expect(try await broker.connectionClosed(user: uid("bob"), connection: "c1") == true)
        #expect(try await broker.isOnline(alice) == true)
    }

    @Test("envelopes survive their byte form", arguments: [
        BrokerEnvelope.timeline(seq: 42, event: "group", payload: Array("{\"a\":\"b\\nc\"}".utf8)),
        .ephemeral(event: "typing", payload: Array("{}".utf8)),
        .ephemeral(event: "presence", payload: []),
    ])
    func bytes(envelope: BrokerEnvelope) {
        #expect(BrokerEnvelope(bytes: envelope.bytes) == envelope)
    }
}
