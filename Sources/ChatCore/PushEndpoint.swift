import Synchronization

/// Receives the deliveries of a ``PushEndpoint``, in order.
public protocol EndpointReceiver: Sendable {
    /// The next delivery. Called with the endpoint's lock held, so that deliveries keep their
    /// order: it must not block nor call back into the endpoint (hand the delivery to a queue).
    func deliver(_ delivery: EndpointDelivery)
    /// The store failed during the replay or a gap fill: no more deliveries follow, and the
    /// application should close the connection.
    func endpointFailed()
    /// Deliveries wait in numbers: the client reads or acks slower than its events come. The
    /// endpoint then takes no more live events and catches up from the store once there is room.
    /// Called with the endpoint's lock held; it must not block.
    var isBacklogged: Bool { get }
    /// Returns once few deliveries wait (at once when the connection is gone): every read of
    /// the store waits for it, so a client that falls behind costs a bounded amount of memory.
    func waitForRoom() async
}

extension EndpointReceiver {
    /// A receiver that takes everything at once (a stream, a test) is never behind.
    public var isBacklogged: Bool { false }
    public func waitForRoom() async {}
}

/// One connection's endpoint that pushes its deliveries to an ``EndpointReceiver``: the replay
/// after `since`, then `synced`, then live events, never reordered, dropped or duplicated.
///
/// The broker hands live envelopes straight to it and ``EndpointOrdering`` orders them under a
/// lock, so an idle endpoint holds no task and no stream buffer: a task runs only while the
/// replay or a gap fill reads the store, and live envelopes arriving meanwhile wait in `inbox`.
/// Call ``close()`` when the connection goes away (presence depends on it).
///
/// Memory stays bounded for a client that falls behind (reads or acks slower than its events
/// come, or not at all): the store is read a page at a time, each page once the receiver has
/// room; live envelopes are not taken while the receiver is backlogged, and at most
/// `inboxLimit` wait during a read. What is not taken stays in the timeline and is caught up
/// from the store (ephemeral events, typing and presence, are skipped meanwhile).
public final class PushEndpoint: Sendable {
    /// Whose endpoint this is.
    public let user: UserID
    /// The connection id registered with the broker's presence.
    public let connection: String
    private let service: ChatService
    private let receiver: any EndpointReceiver
    private let state = Mutex(State())

    private struct State {
        var ordering = EndpointOrdering(after: 0)
        /// Live envelopes that arrived while the store was being read (replay or gap fill).
        var inbox: [BrokerEnvelope] = []
        /// The replay or a gap fill is running: live envelopes wait in `inbox`.
        var busy = true
        /// The broker's channel came back after an outage: catch up from the store once the
        /// endpoint is not busy.
        var resyncWanted = false
        /// No more deliveries (closed, or the store failed).
        var finished = false
        var closed = false
        var subscription: BrokerSubscription?
    }

    /// A read of the store the endpoint waits for before it goes on.
    private enum StoreRead {
        /// A gap to fill, and the actions that come after it.
        case gap(after: Int64, pending: EndpointOrdering.Entry, rest: ArraySlice<EndpointOrdering.Action>)
        /// Everything after the last delivered seq (after ``BrokerEnvelope/resync``).
        case catchUp
    }

    private static let replayPageSize = 500
    /// The most live envelopes kept while the store is read; beyond, they are dropped and
    /// caught up from the store afterwards.
    public static let inboxLimit = 1_000
    /// The most entries one read of a gap fill asks for; a longer gap is read in several, each
    /// once the receiver has room, as a replay's pages are.
    static let gapPageSize = replayPageSize

    init(user: UserID, connection: String, service: ChatService, receiver: any EndpointReceiver) {
        self.user = user
        self.connection = connection
        self.service = service
        self.receiver = receiver
    }

    /// Unregisters the connection and stops the deliveries; the user goes offline (and
    /// `lastSeen` is stored) when this was their last connection. Idempotent.
    public func close() async {
        let subscription = self.state.withLock { state -> BrokerSubscription?? in
            guard !state.closed else { return nil }
            state.closed = true
            state.finished = true
            state.inbox = []
            defer { state.subscription = nil }
            return .some(state.subscription)
        }
        guard let subscription else { return }
        await subscription?.cancel()
        await self.service.connectionClosed(user: self.user, connection: self.connection)
    }

    /// Installs the broker subscription (cancelled by ``close()``).
    func subscribed(_ subscription: BrokerSubscription) {
        self.state.withLock { $0.subscription = subscription }
    }

    /// A live envelope from the broker.
    func receive(_ envelope: BrokerEnvelope) {
        let read = self.state.withLock { state -> StoreRead? in
            if state.finished { return nil }
            if case .resync = envelope {
                // Whatever the outage lost is in the store: read it once nothing else is under way.
                state.resyncWanted = true
                return state.busy ? nil : self.process([], &state)
            }
            if state.busy {
                if state.inbox.count < Self.inboxLimit {
                    state.inbox.append(envelope)
                } else {
                    // Everything in the inbox is in the store too: read it from there afterwards.
                    state.inbox = []
                    state.resyncWanted = true
                }
                return nil
            }
            if self.receiver.isBacklogged {
                // The client is behind: this and what follows stay in the store until it has room.
                state.busy = true
                return .catchUp
            }
            return self.process(state.ordering.live(envelope)[...], &state)
        }
        if let read { Task { await self.perform(read) } }
    }

    /// Nothing to replay after `after` (the head of the timeline): `synced` at once.
    func startLive(after: Int64) {
        self.state.withLock { state in
            state.ordering = EndpointOrdering(after: after)
            guard !state.finished else { return }
            // No gap can come from an empty replay buffer.
            _ = self.process(state.ordering.replayFinished(truncated: false)[...], &state)
        }
    }

    /// Replays the timeline after `after`, emits `synced`, then the live envelopes that waited.
    func replay(after: Int64) async {
        let store = self.service.store
        self.state.withLock { $0.ordering = EndpointOrdering(after: after) }
        do {
            var truncated = false
            var first = true
            while true {
                await self.receiver.waitForRoom()
                var page = try await self.service.catchUps.run {
                    let last = self.state.withLock { $0.ordering.last }
                    return try await store.timeline(of: self.user, after: last, limit: Self.replayPageSize)
                }
                if first {
                    if page.isEmpty {
                        // None kept after `after`: pruned up to the latest seq. Read again after
                        // reading the head, so an entry committed meanwhile is replayed, not
                        // taken for pruned.
                        let latest = try await store.timelineHead(of: self.user).latest
                        page = try await self.service.catchUps.run {
                            try await store.timeline(of: self.user, after: after, limit: Self.replayPageSize)
                        }
                        if page.isEmpty { self.state.withLock { $0.ordering.pruned(upTo: latest) } }
                        truncated = page.first.map { $0.seq > after + 1 } ?? (latest > after)
                    } else {
                        // Entries after `after` were pruned if the first kept one is further on.
                        truncated = page[0].seq > after + 1
                    }
                    first = false
                }
                let stop = self.state.withLock { state -> Bool in
                    guard !state.finished else { return true }
                    // A replayed page only delivers; gaps come from live entries.
                    _ = self.process(state.ordering.replayed(page.map(Self.entry))[...], &state, drainInbox: false)
                    return false
                }
                if stop { return }
                if page.count < Self.replayPageSize { break }
            }
            let read = self.state.withLock { state -> StoreRead? in
                guard !state.finished else { return nil }
                return self.process(state.ordering.replayFinished(truncated: truncated)[...], &state)
            }
            if let read { try await self.performReads(from: read) }
        } catch {
            self.failed(error)
        }
    }

    private func perform(_ read: StoreRead) async {
        do {
            try await self.performReads(from: read)
        } catch {
            self.failed(error)
        }
    }

    /// Reads the store for `read`, delivers what it found and goes on with what waited, until
    /// no read is needed (the endpoint is no longer busy) or the endpoint finished.
    private func performReads(from read: StoreRead) async throws {
        let store = self.service.store
        var next: StoreRead? = read
        while let read = next {
            await self.receiver.waitForRoom()
            switch read {
            case .gap(let after, let pending, let rest):
                let limit = Int(min(pending.seq - after - 1, Int64(Self.gapPageSize)))
                let missing = try await store.timeline(of: self.user, after: after, limit: limit)
                next = self.state.withLock { state -> StoreRead? in
                    guard !state.finished else { return nil }
                    if missing.count == limit, let last = missing.last, last.seq < pending.seq - 1 {
                        // More is missing than one read brings: deliver this part and read on.
                        _ = self.process(state.ordering.replayed(missing.map(Self.entry))[...], &state, drainInbox: false)
                        return .gap(after: state.ordering.last, pending: pending, rest: rest)
                    }
                    return self.process(state.ordering.gapFilled(missing.map(Self.entry), pending: pending)[...] + rest, &state)
                }
            case .catchUp:
                let page = try await self.service.catchUps.run {
                    let last = self.state.withLock { $0.ordering.last }
                    return try await store.timeline(of: self.user, after: last, limit: Self.replayPageSize)
                }
                next = self.state.withLock { state -> StoreRead? in
                    guard !state.finished else { return nil }
                    // Entries after `last`, in seq order, as a replay delivers them; a full page means more.
                    let delivered = state.ordering.replayed(page.map(Self.entry))[...]
                    if page.count == Self.replayPageSize {
                        _ = self.process(delivered, &state, drainInbox: false)
                        return .catchUp
                    }
                    return self.process(delivered, &state)
                }
            }
        }
    }

    /// Performs `actions`, then (when `drainInbox`) the live envelopes that waited and a wanted
    /// catch-up, until the store must be read: then the endpoint stays busy and the read is returned.
    private func process(_ actions: ArraySlice<EndpointOrdering.Action>, _ state: inout State, drainInbox: Bool = true) -> StoreRead? {
        var queue = actions
        while true {
            while let action = queue.popFirst() {
                switch action {
                case .deliver(let delivery):
                    self.receiver.deliver(delivery)
                case .fillGap(let after, let pending):
                    state.busy = true
                    return .gap(after: after, pending: pending, rest: queue)
                }
            }
            guard drainInbox else { return nil }
            guard !state.inbox.isEmpty else {
                if state.resyncWanted, case .live = state.ordering.state {
                    state.resyncWanted = false
                    state.busy = true
                    return .catchUp
                }
                state.busy = false
                return nil
            }
            queue = state.ordering.live(state.inbox.removeFirst())[...]
        }
    }

    private func failed(_ error: any Error) {
        self.service.logger.error("endpoint replay failed", metadata: ["user": "\(self.user)", "error": "\(error)"])
        let wasLive = self.state.withLock { state -> Bool in
            defer {
                state.finished = true
                state.inbox = []
            }
            return !state.finished
        }
        if wasLive { self.receiver.endpointFailed() }
    }

    private static func entry(_ stored: TimelineEntry) -> EndpointOrdering.Entry {
        .init(seq: stored.seq, event: stored.event, payload: stored.wirePayload)
    }
}
