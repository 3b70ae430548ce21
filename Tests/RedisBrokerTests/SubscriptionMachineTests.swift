import ChatCore
import Testing

@testable import RedisBroker

/// The subscription state machine without sockets: receivers and waiters are plain names.
@Suite("Subscription state machine")
struct SubscriptionMachineTests {
    private typealias Machine = SubscriptionMachine<String, String>

    private static func connected(epoch: UInt64 = 1) -> Machine {
        var machine = Machine(channelPrefix: "p:user:")
        #expect(machine.connected(epoch: epoch).isEmpty)
        return machine
    }

    private static func channels(_ command: RedisCommand?) -> [String] {
        command.map { $0.parts.map { String(decoding: $0, as: UTF8.self) } } ?? []
    }

    private static func receivers(_ subscribers: LocalSubscribers<String>?) -> Set<String> {
        var names: Set<String> = []
        subscribers?.forEach { names.insert($0) }
        return names
    }

    @Test("the first subscriber sends SUBSCRIBE, later ones wait for the same confirmation or need none")
    func oneSubscribePerChannel() {
        var machine = Self.connected()
        let alice = uid("alice")
        let first = machine.subscribe(alice, "r1", waiter: "w1")
        guard case .send(let command) = first.action else { Issue.record("no SUBSCRIBE: \(first.action)"); return }
        #expect(Self.channels(command) == ["SUBSCRIBE", "p:user:alice"])
        let second = machine.subscribe(alice, "r2", waiter: "w2")
        guard case .wait = second.action else { Issue.record("second did not wait: \(second.action)"); return }
        guard case .confirmed(let waiters, let resync) = machine.received(.subscribed(alice), epoch: 1) else {
            Issue.record("not confirmed"); return
        }
        #expect(waiters.map(\.0) == [first.id, second.id] && waiters.map(\.1) == ["w1", "w2"])
        #expect(resync == nil)
        guard case .ready = machine.subscribe(alice, "r3", waiter: "w3").action else { Issue.record("third not ready"); return }
        guard case .deliver(let subscribers, let envelope) = machine.received(.message(alice, event(1)), epoch: 1) else {
            Issue.record("not delivered"); return
        }
        #expect(Self.receivers(subscribers) == ["r1", "r2", "r3"] && envelope == event(1))
        #expect(machine.cancel(alice, id: first.id) == nil)
        #expect(machine.cancel(alice, id: second.id) == nil)
        #expect(Self.channels(machine.cancel(alice, id: first.id + 2)) == ["UNSUBSCRIBE", "p:user:alice"])
        #expect(machine.channelCount == 0)
    }

    @Test("a subscribe racing an unsubscribe of the same channel waits for its own confirmation")
    func subscribeRacingUnsubscribe() {
        var machine = Self.connected()
        let alice = uid("alice")
        let first = machine.subscribe(alice, "r1", waiter: "w1")
        #expect(Self.channels(machine.cancel(alice, id: first.id)) == ["UNSUBSCRIBE", "p:user:alice"])
        let again = machine.subscribe(alice, "r2", waiter: "w2")
        guard case .send = again.action else { Issue.record("no second SUBSCRIBE"); return }
        // The first SUBSCRIBE's confirmation is not the second's: Redis has not seen that one yet.
        guard case .none = machine.received(.subscribed(alice), epoch: 1) else { Issue.record("confirmed too early"); return }
        guard case .none = machine.received(.unsubscribed(alice), epoch: 1) else { Issue.record("unexpected"); return }
        guard case .confirmed(let waiters, _) = machine.received(.subscribed(alice), epoch: 1) else { Issue.record("not confirmed"); return }
        #expect(waiters.map(\.1) == ["w2"])
    }

    @Test("a lost connection fails waiting calls, keeps the others and resubscribes them with a resync")
    func outage() {
        var machine = Self.connected()
        let (alice, bob, carol) = (uid("alice"), uid("bob"), uid("carol"))
        let a = machine.subscribe(alice, "ra", waiter: "wa")
        _ = machine.received(.subscribed(alice), epoch: 1)
        _ = machine.subscribe(bob, "rb", waiter: "wb")
        #expect(machine.disconnected(epoch: 1) == ["wb"])
        guard case .notConnected = machine.subscribe(carol, "rc", waiter: "wc").action else { Issue.record("subscribed while down"); return }
        #expect(machine.channelCount == 1)
        let commands = machine.connected(epoch: 2)
        #expect(commands.map(Self.channels) == [["SUBSCRIBE", "p:user:alice"]])
        // Pushes of the old connection are stale.
        guard case .none = machine.received(.message(alice, event(1)), epoch: 1) else { Issue.record("stale push used"); return }
        guard case .confirmed(let waiters, let resync) = machine.received(.subscribed(alice), epoch: 2) else { Issue.record("no resync"); return }
        #expect(waiters.isEmpty && Self.receivers(resync) == ["ra"])
        #expect(Self.channels(machine.cancel(alice, id: a.id)) == ["UNSUBSCRIBE", "p:user:alice"])
    }

    @Test("a connection that ended before it was announced is never used")
    func endedBeforeAnnounced() {
        var machine = Self.connected()
        _ = machine.disconnected(epoch: 1)
        _ = machine.disconnected(epoch: 2)
        #expect(machine.connected(epoch: 2).isEmpty)
        guard case .disconnected = machine.state else { Issue.record("connected to a dead connection"); return }
        _ = machine.connected(epoch: 3)
        guard case .connected(epoch: 3) = machine.state else { Issue.record("not connected"); return }
    }

    @Test("many channels come back in batches")
    func batches() {
        var machine = Machine(channelPrefix: "p:user:", batchSize: 500)
        _ = machine.connected(epoch: 1)
        for n in 0..<1200 {
            let user = uid("user\(n)")
            _ = machine.subscribe(user, "r\(n)", waiter: "w\(n)")
            _ = machine.received(.subscribed(user), epoch: 1)
        }
        _ = machine.disconnected(epoch: 1)
        let commands = machine.connected(epoch: 2)
        #expect(commands.map { $0.parts.count - 1 } == [500, 500, 200])
        var resynced = 0
        for name in commands.flatMap({ Self.channels($0).dropFirst() }) {
            guard case .confirmed(_, let resync?) = machine.received(.subscribed(uid(String(name.dropFirst("p:user:".count)))), epoch: 2) else { continue }
            resynced += resync.count
        }
        #expect(resynced == 1200)
    }

    @Test("confirmations out of step, or a refused SUBSCRIBE, are reported")
    func outOfStep() {
        var machine = Self.connected()
        guard case .protocolViolation = machine.received(.subscribed(uid("alice")), epoch: 1) else { Issue.record("accepted"); return }
        _ = machine.subscribe(uid("bob"), "rb", waiter: "wb")
        guard case .refused(let waiters, let message) = machine.received(.error("NOPERM no"), epoch: 1) else { Issue.record("not refused"); return }
        #expect(waiters == ["wb"] && message == "NOPERM no")
        #expect(machine.channelCount == 0)
    }

    @Test("a refused SUBSCRIBE of a channel that keeps subscribers never leaves later subscribes waiting")
    func refusedWithSubscribersLeft() {
        var machine = Self.connected()
        let alice = uid("alice")
        let first = machine.subscribe(alice, "r1", waiter: "w1")
        _ = machine.received(.subscribed(alice), epoch: 1)
        _ = machine.disconnected(epoch: 1)
        #expect(machine.connected(epoch: 2).map(Self.channels) == [["SUBSCRIBE", "p:user:alice"]])
        guard case .wait = machine.subscribe(alice, "r2", waiter: "w2").action else { Issue.record("no wait"); return }
        // Say an ACL change took the channel away: r1 stays, but Redis has no subscription for it.
        guard case .refused(let waiters, _) = machine.received(.error("NOPERM no"), epoch: 2) else { Issue.record("not refused"); return }
        #expect(waiters == ["w2"])
        #expect(machine.channelCount == 1)
        // The next subscribe asks Redis again instead of waiting for a confirmation nobody sends.
        let third = machine.subscribe(alice, "r3", waiter: "w3")
        guard case .send(let command) = third.action else { Issue.record("waits forever: \(third.action)"); return }
        #expect(Self.channels(command) == ["SUBSCRIBE", "p:user:alice"])
        guard case .confirmed(let confirmed, let resync) = machine.received(.subscribed(alice), epoch: 2) else { Issue.record("not confirmed"); return }
        #expect(confirmed.map(\.1) == ["w3"])
        // r1 missed what was published while unsubscribed.
        #expect(Self.receivers(resync) == ["r1", "r3"])
        #expect(machine.cancel(alice, id: first.id) == nil)
        #expect(Self.channels(machine.cancel(alice, id: third.id)) == ["UNSUBSCRIBE", "p:user:alice"])
    }

    @Test("a refused channel that kept subscribers is subscribed again after a reconnection")
    func refusedThenReconnected() {
        var machine = Self.connected()
        let alice = uid("alice")
        _ = machine.subscribe(alice, "r1", waiter: "w1")
        _ = machine.received(.subscribed(alice), epoch: 1)
        _ = machine.disconnected(epoch: 1)
        _ = machine.connected(epoch: 2)
        guard case .refused(let waiters, _) = machine.received(.error("NOPERM no"), epoch: 2) else { Issue.record("not refused"); return }
        #expect(waiters.isEmpty)
        _ = machine.disconnected(epoch: 2)
        #expect(machine.connected(epoch: 3).map(Self.channels) == [["SUBSCRIBE", "p:user:alice"]])
        guard case .confirmed(_, let resync) = machine.received(.subscribed(alice), epoch: 3) else { Issue.record("not confirmed"); return }
        #expect(Self.receivers(resync) == ["r1"])
    }

    @Test("the resync channel is subscribed first on every connection, and a resync on it reaches every subscriber")
    func resyncChannel() {
        var machine = Machine(channelPrefix: "p:user:", resyncChannel: "p:resync")
        #expect(machine.connected(epoch: 1).map(Self.channels) == [["SUBSCRIBE", "p:resync"]])
        let (alice, bob) = (uid("alice"), uid("bob"))
        _ = machine.subscribe(alice, "ra", waiter: "wa")
        guard case .none = machine.received(.subscribedResyncChannel, epoch: 1) else { Issue.record("not expected"); return }
        _ = machine.received(.subscribed(alice), epoch: 1)
        _ = machine.subscribe(bob, "rb", waiter: "wb")
        _ = machine.subscribe(bob, "rb2", waiter: "wb2")
        guard case .resyncAll(let all) = machine.received(.resyncAll, epoch: 1) else { Issue.record("no resync"); return }
        #expect(Set(all.flatMap { Self.receivers($0) }) == ["ra", "rb", "rb2"])
        _ = machine.disconnected(epoch: 1)
        let commands = machine.connected(epoch: 2).map(Self.channels)
        #expect(commands.first == ["SUBSCRIBE", "p:resync"] && commands.count == 2)
        // Out of step: the resync channel's confirmation is due first.
        guard case .protocolViolation = machine.received(.subscribed(alice), epoch: 2) else { Issue.record("accepted"); return }
    }

    @Test("closing fails the waiting calls and refuses new ones")
    func close() {
        var machine = Self.connected()
        _ = machine.subscribe(uid("alice"), "ra", waiter: "wa")
        #expect(machine.close() == ["wa"])
        guard case .closed = machine.subscribe(uid("bob"), "rb", waiter: "wb").action else { Issue.record("not closed"); return }
    }
}
