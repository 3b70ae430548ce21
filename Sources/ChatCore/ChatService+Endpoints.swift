import Synchronization

extension ChatService {
    /// Opens the delivery stream of one connection of `user`: replay after `since` (or after
    /// the acked mark), `synced`, then live events. Registers the connection for presence;
    /// the first connection across the cluster publishes `presence` online to the user's contacts.
    /// If the store fails during replay the stream finishes; the application should close the connection.
    public func openEndpoint(user: UserID, since: Int64?) async throws(ChatError) -> Endpoint {
        let connection = Self.connectionIDs.next()
        // Subscribe before reading the store so nothing committed meanwhile is missed.
        let subscription = try await brokerCall { try await broker.subscribe(user) }
        let head: TimelineHead
        do {
            head = try await storage("timelineHead") { try await store.timelineHead(of: user) }
        } catch {
            await subscription.cancel()
            throw error
        }
        let after = min(max(since ?? head.acked, 0), head.latest)
        let (deliveries, continuation) = AsyncStream<EndpointDelivery>.makeStream()
        let pump = Task {
            do {
                try await self.pump(user: user, after: after, subscription: subscription, into: continuation)
            } catch {
                self.logger.error("endpoint replay failed", metadata: ["user": "\(user)", "error": "\(error)"])
            }
            continuation.finish()
        }
        if (try? await broker.connectionOpened(user: user, connection: connection)) == true {
            await publishPresence(of: user, online: true, lastSeen: nil)
        }
        return Endpoint(user: user, connection: connection, deliveries: deliveries) {
            pump.cancel()
            await subscription.cancel()
            continuation.finish()
            await self.connectionClosed(user: user, connection: connection)
        }
    }

    private static let replayPageSize = 500
    private static let connectionIDs = ConnectionIDs()

    private func pump(user: UserID, after: Int64, subscription: BrokerSubscription,
                      into continuation: AsyncStream<EndpointDelivery>.Continuation) async throws {
        var ordering = EndpointOrdering(after: after)
        var truncated = false
        var first = true
        while true {
            let page = try await store.timeline(of: user, after: ordering.last, limit: Self.replayPageSize)
            if first {
                // Entries after `after` were pruned if the first kept one is further on, or none are kept.
                let latest = page.isEmpty ? try await store.timelineHead(of: user).latest : 0
                truncated = page.first.map { $0.seq > after + 1 } ?? (latest > after)
                first = false
            }
            try await perform(ordering.replayed(page.map(Self.entry)), ordering: &ordering, user: user, into: continuation)
            if page.count < Self.replayPageSize { break }
        }
        try await perform(ordering.replayFinished(truncated: truncated), ordering: &ordering, user: user, into: continuation)
        for await envelope in subscription.envelopes {
            try await perform(ordering.live(envelope), ordering: &ordering, user: user, into: continuation)
        }
    }

    private func perform(_ actions: [EndpointOrdering.Action], ordering: inout EndpointOrdering, user: UserID,
                         into continuation: AsyncStream<EndpointDelivery>.Continuation) async throws {
        var queue = actions[...]
        while let action = queue.popFirst() {
            switch action {
            case .deliver(let delivery):
                continuation.yield(delivery)
            case .fillGap(let after, let pending):
                let missing = try await store.timeline(of: user, after: after, limit: Int(min(pending.seq - after - 1, 10_000)))
                queue = ordering.gapFilled(missing.map(Self.entry), pending: pending)[...] + queue
            }
        }
    }

    private static func entry(_ stored: TimelineEntry) -> EndpointOrdering.Entry {
        .init(seq: stored.seq, event: stored.event, payload: stored.wirePayload)
    }

    private func connectionClosed(user: UserID, connection: String) async {
        do {
            guard try await broker.connectionClosed(user: user, connection: connection) else { return }
            let now = clock()
            try await store.setLastSeen(user, at: now)
            await publishPresence(of: user, online: false, lastSeen: now)
        } catch {
            logger.warning("presence update failed", metadata: ["user": "\(user)", "error": "\(error)"])
        }
    }

    private func publishPresence(of user: UserID, online: Bool, lastSeen: Int64?) async {
        do {
            // Publishing to every contact reaches exactly the online ones: offline users have no subscribers.
            let contacts = try await store.contacts(of: user)
            var lastSeen = lastSeen
            if lastSeen == nil { lastSeen = try await store.user(user)?.lastSeen }
            let payload = JSONPayload.encode(PresenceEvent(user: user, online: online, lastSeen: lastSeen))
            await publish(.ephemeral(event: "presence", payload: payload), to: contacts)
        } catch {
            logger.warning("presence publish failed", metadata: ["user": "\(user)", "error": "\(error)"])
        }
    }

    private func brokerCall<T>(_ body: () async throws -> T) async throws(ChatError) -> T {
        do {
            return try await body()
        } catch {
            logger.error("broker failed", metadata: ["error": "\(error)"])
            throw .unavailable("broker unavailable")
        }
    }
}

/// Process-unique connection ids for presence (the broker scopes them per node).
private final class ConnectionIDs: Sendable {
    private let counter = Atomic<UInt64>(0)
    private let node = GroupID.random().rawValue

    func next() -> String {
        "\(node)-\(counter.wrappingAdd(1, ordering: .relaxed).newValue)"
    }
}
