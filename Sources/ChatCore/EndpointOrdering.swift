/// The ordering rules of one endpoint as a value-type state machine: replay first, then
/// `synced`, then live entries in seq order with duplicates dropped and gaps filled from the store.
///
/// The caller subscribes to the broker before replaying, feeds replayed pages to
/// `replayed(_:)`, live envelopes to `live(_:)` (buffered while replaying) and performs the
/// returned actions in order.
struct EndpointOrdering: Sendable {
    /// A timeline entry as the endpoint emits it (`payload` includes `"seq"`).
    struct Entry: Hashable, Sendable {
        var seq: Int64
        var event: String
        var payload: [UInt8]

        var delivery: EndpointDelivery { .timeline(seq: seq, event: event, payload: payload) }
    }

    enum State: Hashable, Sendable {
        /// Replaying from the store; live timeline entries wait in `buffer`.
        case replaying(buffer: [Entry])
        /// Live: entries with `seq == last + 1` pass.
        case live
    }

    enum Action: Hashable, Sendable {
        /// Emit this.
        case deliver(EndpointDelivery)
        /// Read entries `after < seq < pending.seq` from the store, then call `gapFilled`.
        case fillGap(after: Int64, pending: Entry)
    }

    private(set) var state: State = .replaying(buffer: [])
    /// The highest seq emitted (or the starting point).
    private(set) var last: Int64

    /// Starts after seq `after` (the `since` or the acked mark).
    init(after: Int64) {
        last = after
    }

    /// A page of replayed entries: emits those after `last`, ascending.
    mutating func replayed(_ entries: [Entry]) -> [Action] {
        var actions: [Action] = []
        for entry in entries.sorted(by: { $0.seq < $1.seq }) where entry.seq > last {
            last = entry.seq
            actions.append(.deliver(entry.delivery))
        }
        return actions
    }

    /// Retention pruned every entry after `last` up to `latest`: nothing is left to replay, and
    /// `synced` must still name the latest seq.
    mutating func pruned(upTo latest: Int64) {
        if latest > last { last = latest }
    }

    /// The replay is complete: emits `synced`, then handles the buffered live entries.
    mutating func replayFinished(truncated: Bool) -> [Action] {
        guard case .replaying(let buffer) = state else { return [] }
        state = .live
        var actions: [Action] = [.deliver(.synced(payload: JSONPayload.synced(seq: last, truncated: truncated)))]
        for (index, entry) in buffer.enumerated() {
            let step = liveEntry(entry)
            if case .fillGap = step.last {
                // The rest waits until the gap is filled: re-buffer it behind the gap.
                actions += step
                pendingAfterGap = Array(buffer[(index + 1)...])
                return actions
            }
            actions += step
        }
        return actions
    }

    /// Entries still to process after the current gap fill (only while draining the replay buffer).
    private(set) var pendingAfterGap: [Entry] = []

    /// A live envelope from the broker.
    mutating func live(_ envelope: BrokerEnvelope) -> [Action] {
        switch envelope {
        case .ephemeral(let event, let payload):
            return [.deliver(.ephemeral(event: event, payload: payload))]
        case .resync:
            // The endpoint catches up from the store itself (PushEndpoint); nothing to order.
            return []
        case .timeline(let seq, let event, let payload):
            let entry = Entry(seq: seq, event: event, payload: payload)
            switch state {
            case .replaying(var buffer):
                buffer.append(entry)
                state = .replaying(buffer: buffer)
                return []
            case .live:
                return liveEntry(entry)
            }
        }
    }

    /// The store's entries for a gap: emits them and then the entry that revealed the gap.
    /// If the store lacks some (pruned), the pending entry is emitted anyway rather than stall.
    mutating func gapFilled(_ entries: [Entry], pending: Entry) -> [Action] {
        var actions = replayed(entries.filter { $0.seq < pending.seq })
        if pending.seq > last {
            last = pending.seq
            actions.append(.deliver(pending.delivery))
        }
        let rest = pendingAfterGap
        pendingAfterGap = []
        for (index, entry) in rest.enumerated() {
            let step = liveEntry(entry)
            actions += step
            if case .fillGap = step.last {
                pendingAfterGap = Array(rest[(index + 1)...])
                break
            }
        }
        return actions
    }

    private mutating func liveEntry(_ entry: Entry) -> [Action] {
        if entry.seq <= last { return [] }
        if entry.seq == last + 1 {
            last = entry.seq
            return [.deliver(entry.delivery)]
        }
        return [.fillGap(after: last, pending: entry)]
    }
}
