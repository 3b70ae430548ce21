import ChatCore
import Synchronization
import Testing

/// A client that falls behind costs bounded memory: the endpoint reads the store a page at a
/// time once the receiver has room, takes no live events while it is backlogged, and keeps at
/// most `PushEndpoint.inboxLimit` live envelopes during a read; what it did not take comes from
/// the store once the client catches up, in order and once.
@Suite(.timeLimit(.minutes(1))) struct EndpointBacklogTests {
    /// (Not on moto: a replay page is 500 entries, and 540 sends take ~40 s there; the pacing is
    /// the endpoint's, the same on every store, and the live case below runs on all three.)
    @Test("a replay stops after a page while the client has no room, and goes on once it has", arguments: [StoreKind.memory, .sqlite])
    func replayWaitsForRoom(kind: StoreKind) async throws {
        let (f, u, bob, endpoint) = try await stalledReplay(kind)
        try await Task.sleep(for: .milliseconds(200))
        #expect(bob.seqs == Array(1...500), "one page, then nothing until there is room")
        for i in 521...540 { try await f.send(u[0], to: u[1], "m\(i)") }
        bob.catchUp()
        try await bob.waitFor(540)
        #expect(bob.seqs == Array(1...540))
        #expect(bob.synced == 1)
        await endpoint.close()
    }

    @Test("live events stop while the client is backlogged and come from the store once it has room", arguments: StoreKind.allCases)
    func liveEventsWaitInTheStore(kind: StoreKind) async throws {
        let f = try await Fixture(kind)
        let u = try await f.users("alice", "bob")
        let bob = StalledReceiver(backloggedFrom: 50, roomBelow: 10)
        let endpoint = try await f.service.openEndpoint(user: u[1], since: nil, receiver: bob)
        for i in 1...120 { try await f.send(u[0], to: u[1], "m\(i)") }
        try await Task.sleep(for: .milliseconds(200))
        #expect(bob.seqs == Array(1...50), "nothing is handed over past the backlog")
        bob.catchUp()
        try await bob.waitFor(120)
        try await f.send(u[0], to: u[1], "after")
        try await bob.waitFor(121)
        #expect(bob.seqs == Array(1...121))
        await endpoint.close()
    }

    /// More live envelopes than the inbox keeps arrive while the replay waits: they are dropped
    /// and read from the store afterwards. (Not on moto either: 1,600 sends.)
    @Test("an inbox overflow during a read loses nothing", arguments: [StoreKind.memory, .sqlite])
    func inboxOverflowIsCaughtUp(kind: StoreKind) async throws {
        let (f, u, bob, endpoint) = try await stalledReplay(kind)
        let live = PushEndpoint.inboxLimit + 100
        for i in 1...live { try await f.send(u[0], to: u[1], "live \(i)") }
        #expect(bob.seqs.count == 500)
        bob.catchUp()
        try await bob.waitFor(520 + live)
        #expect(bob.seqs == Array(1...Int64(520 + live)))
        await endpoint.close()
    }
}

/// Alice has sent bob 520 messages; bob's endpoint replays them from seq 0 to a receiver that
/// consumes nothing, and has handed over the first page of 500.
private func stalledReplay(_ kind: StoreKind) async throws -> (Fixture, [UserID], StalledReceiver, PushEndpoint) {
    let f = try await Fixture(kind)
    let u = try await f.users("alice", "bob")
    for i in 1...520 { try await f.send(u[0], to: u[1], "m\(i)") }
    let bob = StalledReceiver(backloggedFrom: 50, roomBelow: 10)
    let endpoint = try await f.service.openEndpoint(user: u[1], since: 0, receiver: bob)
    try await bob.waitFor(500)
    return (f, u, bob, endpoint)
}

/// Takes deliveries without consuming them until ``catchUp()``: backlogged from a number of
/// timeline deliveries on, with room again below another.
private final class StalledReceiver: EndpointReceiver {
    private struct State {
        var seqs: [Int64] = []
        var synced = 0
        var unconsumed = 0
        var consuming = false
        var readers: [CheckedContinuation<Void, Never>] = []
    }

    private let state = Mutex(State())
    private let limit: Int
    private let room: Int

    init(backloggedFrom limit: Int, roomBelow room: Int) {
        self.limit = limit
        self.room = room
    }

    func deliver(_ delivery: EndpointDelivery) {
        state.withLock { state in
            switch delivery {
            case .timeline(let seq, _, _):
                state.seqs.append(seq)
                if !state.consuming { state.unconsumed += 1 }
            case .synced:
                state.synced += 1
            case .ephemeral:
                break
            }
        }
    }

    func endpointFailed() {}

    var isBacklogged: Bool { state.withLock { $0.unconsumed >= limit } }

    func waitForRoom() async {
        await withCheckedContinuation { reader in
            let now = state.withLock { state -> Bool in
                guard state.unconsumed > room else { return true }
                state.readers.append(reader)
                return false
            }
            if now { reader.resume() }
        }
    }

    /// Consumes everything from now on.
    func catchUp() {
        let readers = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            state.consuming = true
            state.unconsumed = 0
            defer { state.readers = [] }
            return state.readers
        }
        for reader in readers { reader.resume() }
    }

    /// The seqs of the timeline deliveries so far, in order.
    var seqs: [Int64] { state.withLock { $0.seqs } }
    var synced: Int { state.withLock { $0.synced } }

    /// Waits until `count` timeline deliveries arrived (or ten seconds passed).
    func waitFor(_ count: Int) async throws {
        for _ in 0..<1000 where seqs.count < count { try await Task.sleep(for: .milliseconds(10)) }
    }
}
