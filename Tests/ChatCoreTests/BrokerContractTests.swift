import Foundation
import Synchronization
import Testing
import TestSupport

@testable import ChatCore
import RedisBroker

/// The broker's contract. Brokers today: the in-process one and the Redis one (on the test
/// process's shared redis-server, each broker under a prefix of its own).
enum BrokerKind: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case inProcess
    case redis

    var testDescription: String { rawValue }

    func make() async throws -> any Broker {
        switch self {
        case .inProcess:
            return InProcessBroker()
        case .redis:
            let redis = try await TestServices.sharedRedis()
            let prefix = "contract:\(UUID().uuidString.prefix(8).lowercased()):"
            return try await RedisBroker(configuration: .init(port: redis.port, prefix: prefix), logger: LiveServer.logger("broker-contract"))
        }
    }

    /// Releases what `make()` made.
    func dispose(_ broker: any Broker) async {
        await (broker as? RedisBroker)?.shutdown()
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

    /// Waits until everything published so far has reached its subscribers. A broker over the
    /// network delivers after `publish` returns, so without this an envelope could still reach a
    /// subscription made (or miss one cancelled) just after its publish. A marker published last
    /// arrives after the rest, since one node receives everything in publish order.
    private static func settle(_ broker: any Broker) async throws {
        let marker = Inbox()
        let subscription = try await broker.subscribe(uid("zz-marker"), marker.receive)
        try await broker.publish(.ephemeral(event: "marker", payload: []), to: [uid("zz-marker")])
        let deadline = ContinuousClock.now + .seconds(5)
        while marker.all.isEmpty && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(2)) }
        #expect(!marker.all.isEmpty, "the marker never arrived")
        await subscription.cancel()
    }

    @Test("every subscription of a user gets what is published to them, in order; cancelled ones stop", arguments: BrokerKind.allCases)
    func subscriptions(kind: BrokerKind) async throws {
        let broker = try await kind.make()
        let (first, second, third, other) = (Inbox(), Inbox(), Inbox(), Inbox())
        let a = try await broker.subscribe(uid("alice"), first.receive)
        try await broker.publish(Self.event(1), to: [uid("alice")])
        try await Self.settle(broker)
        let b = try await broker.subscribe(uid("alice"), second.receive)
        _ = try await broker.subscribe(uid("bob"), other.receive)
        try await broker.publish(Self.event(2), to: [uid("alice"), uid("carol")])
        try await Self.settle(broker)
        await a.cancel()
        let c = try await broker.subscribe(uid("alice"), third.receive)
        try await broker.publish(Self.event(3), to: [uid("alice")])
        try await Self.settle(broker)
        await b.cancel()
        await c.cancel()
        try await broker.publish(Self.event(4), to: [uid("alice")])
        try await Self.settle(broker)

        #expect(first.all == [Self.event(1), Self.event(2)])
        #expect(second.all == [Self.event(2), Self.event(3)])
        #expect(third.all == [Self.event(3)])
        #expect(other.all.isEmpty)
        // Cancelling twice, or after the others, is harmless; a new subscription still works.
        await a.cancel()
        let again = Inbox()
        _ = try await broker.subscribe(uid("alice"), again.receive)
        try await broker.publish(Self.event(5), to: [uid("alice")])
        try await Self.settle(broker)
        #expect(again.all == [Self.event(5)])
        await kind.dispose(broker)
    }

    @Test("presence: first connection opens, last one closes, unknown and repeated ids change nothing", arguments: BrokerKind.allCases)
    func presence(kind: BrokerKind) async throws {
        let broker = try await kind.make()
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
        await kind.dispose(broker)
    }

    @Test("envelopes survive their byte form", arguments: [
        BrokerEnvelope.timeline(seq: 42, event: "group", payload: Array("{\"a\":\"b\\nc\"}".utf8)),
        .ephemeral(event: "typing", payload: Array("{}".utf8)),
        .ephemeral(event: "presence", payload: []),
    ])
    func bytes(envelope: BrokerEnvelope) {
        #expect(BrokerEnvelope(bytes: envelope.bytes) == envelope)
    }

    @Test("the byte form is T<seq> <event>, E<event> or R, a newline, then the payload", arguments: [
        (BrokerEnvelope.timeline(seq: 42, event: "message", payload: Array("{}".utf8)), "T42 message\n{}"),
        (.timeline(seq: 0, event: "a b", payload: []), "T0 a b\n"),
        (.timeline(seq: -7, event: "x", payload: Array("\n".utf8)), "T-7 x\n\n"),
        (.timeline(seq: .max, event: "x", payload: []), "T9223372036854775807 x\n"),
        (.timeline(seq: .min, event: "é", payload: []), "T-9223372036854775808 é\n"),
        (.ephemeral(event: "typing", payload: Array("{}".utf8)), "Etyping\n{}"),
        (.ephemeral(event: "", payload: []), "E\n"),
        (.resync, "R\n"),
    ])
    func byteForm(envelope: BrokerEnvelope, text: String) {
        #expect(envelope.bytes == Array(text.utf8))
        #expect(envelope.encodedCount == text.utf8.count)
        #expect(BrokerEnvelope(bytes: Array(text.utf8)) == envelope)
    }

    @Test("what is not a byte form decodes to nothing; what the old decoder read, this one reads", arguments: [
        ("X", nil), ("", nil), ("T42 message", nil), ("T42\n", nil), ("T42 \n", nil), ("Tx y\n", nil), ("T- y\n", nil),
        ("T9223372036854775808 x\n", nil), ("R\nx", nil), ("Rx\n", nil), ("\nT1 x", nil),
        ("T  +5 a b\n", BrokerEnvelope.timeline(seq: 5, event: "a b", payload: [])), ("T5  x\n", .timeline(seq: 5, event: " x", payload: [])),
    ])
    func malformedBytes(text: String, envelope: BrokerEnvelope?) {
        #expect(BrokerEnvelope(bytes: Array(text.utf8)) == envelope)
    }
}
