@testable import ChatCore
import Testing

@Suite struct EndpointOrderingTests {
    typealias Entry = EndpointOrdering.Entry

    static func entry(_ seq: Int64) -> Entry { Entry(seq: seq, event: "message", payload: Array("{\"seq\":\(seq)}".utf8)) }
    static func live(_ seq: Int64) -> BrokerEnvelope { .timeline(seq: seq, event: "message", payload: entry(seq).payload) }

    /// The seqs delivered by `actions`, `0` standing for `synced`.
    static func seqs(_ actions: [EndpointOrdering.Action]) -> [Int64] {
        actions.compactMap {
            switch $0 {
            case .deliver(.timeline(let seq, _, _)): seq
            case .deliver(.synced): 0
            default: nil
            }
        }
    }

    @Test func replayThenSyncedThenLive() {
        var machine = EndpointOrdering(after: 2)
        #expect(machine.live(Self.live(5)).isEmpty) // buffered while replaying
        #expect(Self.seqs(machine.replayed([Self.entry(3), Self.entry(4)])) == [3, 4])
        let finished = machine.replayFinished(truncated: false)
        #expect(finished.first == .deliver(.synced(payload: Array(#"{"seq":4}"#.utf8))))
        #expect(Self.seqs(finished) == [0, 5])
        #expect(Self.seqs(machine.live(Self.live(6))) == [6])
        #expect(machine.state == .live && machine.last == 6)
    }

    @Test func duplicatesAreDropped() {
        var machine = EndpointOrdering(after: 0)
        _ = machine.live(Self.live(1)) // published during the replay that also returns it
        _ = machine.live(Self.live(2))
        #expect(Self.seqs(machine.replayed([Self.entry(1), Self.entry(2)])) == [1, 2])
        #expect(Self.seqs(machine.replayFinished(truncated: false)) == [0])
        #expect(machine.live(Self.live(2)).isEmpty)
        #expect(Self.seqs(machine.replayed([Self.entry(1)])) == [])
    }

    @Test func gapIsFilledFromStore() {
        var machine = EndpointOrdering(after: 0)
        _ = machine.replayFinished(truncated: false)
        let actions = machine.live(Self.live(4))
        #expect(actions == [.fillGap(after: 0, pending: Self.entry(4))])
        #expect(Self.seqs(machine.gapFilled([Self.entry(1), Self.entry(2), Self.entry(3)], pending: Self.entry(4))) == [1, 2, 3, 4])
        // The late live copies of the filled entries are duplicates now.
        #expect(machine.live(Self.live(2)).isEmpty)
        #expect(machine.live(Self.live(3)).isEmpty)
        #expect(Self.seqs(machine.live(Self.live(5))) == [5])
    }

    @Test func outOfOrderLiveIsReordered() {
        var machine = EndpointOrdering(after: 10)
        _ = machine.replayFinished(truncated: false)
        // 12 arrives before 11 (two writers publishing in the other order than they committed).
        guard case .fillGap(let after, let pending) = machine.live(Self.live(12)).first else { Issue.record("no gap fill"); return }
        #expect(after == 10)
        #expect(Self.seqs(machine.gapFilled([Self.entry(11)], pending: pending)) == [11, 12])
        #expect(machine.live(Self.live(11)).isEmpty)
    }

    @Test func gapInBufferedLiveAfterReplay() {
        var machine = EndpointOrdering(after: 0)
        _ = machine.live(Self.live(3))
        _ = machine.live(Self.live(5))
        _ = machine.live(Self.live(6))
        _ = machine.replayed([Self.entry(1)])
        let finished = machine.replayFinished(truncated: true)
        #expect(finished.first == .deliver(.synced(payload: Array(#"{"seq":1,"truncated":true}"#.utf8))))
        #expect(finished.last == .fillGap(after: 1, pending: Self.entry(3)))
        #expect(Self.seqs(machine.gapFilled([Self.entry(2)], pending: Self.entry(3))).prefix(2) == [2, 3])
        #expect(machine.last == 3)
        // 5 still waits for 4.
        #expect(machine.pendingAfterGap == [Self.entry(6)])
    }

    @Test func missingGapEntriesDoNotStall() {
        var machine = EndpointOrdering(after: 0)
        _ = machine.replayFinished(truncated: false)
        _ = machine.live(Self.live(3))
        #expect(Self.seqs(machine.gapFilled([], pending: Self.entry(3))) == [3])
    }

    @Test func ephemeralPassesImmediately() {
        var machine = EndpointOrdering(after: 0)
        #expect(machine.live(.ephemeral(event: "typing", payload: [1])) == [.deliver(.ephemeral(event: "typing", payload: [1]))])
    }
}
