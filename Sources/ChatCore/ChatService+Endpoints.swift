import Synchronization

extension ChatService {
    /// Opens the delivery stream of one connection of `user`: replay after `since` (or after
    /// the acked mark), `synced`, then live events. Registers the connection for presence;
    /// the first connection across the cluster publishes `presence` online to the user's contacts.
    /// If the store fails during replay the stream finishes; the application should close the connection.
    public func openEndpoint(user: UserID, since: Int64?) async throws(ChatError) -> Endpoint {
        let (deliveries, continuation) = AsyncStream<EndpointDelivery>.makeStream()
        let push = try await openEndpoint(user: user, since: since, receiver: StreamReceiver(continuation: continuation))
        return Endpoint(user: user, connection: push.connection, deliveries: deliveries) {
            await push.close()
            continuation.finish()
        }
    }

    /// Opens one connection's endpoint that pushes its deliveries to `receiver` (see
    /// ``openEndpoint(user:since:)`` for what it delivers). An idle endpoint holds no task.
    public func openEndpoint(user: UserID, since: Int64?, receiver: some EndpointReceiver) async throws(ChatError) -> PushEndpoint {
        let endpoint = PushEndpoint(user: user, connection: Self.connectionIDs.next(), service: self, receiver: receiver)
        // Subscribe before reading the store so nothing committed meanwhile is missed.
        let subscription = try await brokerCall { try await broker.subscribe(user) { endpoint.receive($0) } }
        endpoint.subscribed(subscription)
        let head: TimelineHead
        do {
            head = try await storage("timelineHead") { try await store.timelineHead(of: user) }
        } catch {
            await subscription.cancel()
            throw error
        }
        if let since, since > head.acked, since <= head.latest {
            acknowledgeUnwritten(user: user, after: head.acked, through: since)
        }
        let after = min(max(since ?? head.acked, 0), head.latest)
        if after == head.latest {
            // Nothing to replay: whatever commits from now on was published after the subscription.
            endpoint.startLive(after: after)
        } else {
            Task { await endpoint.replay(after: after) }
        }
        if (try? await broker.connectionOpened(user: user, connection: endpoint.connection)) == true {
            await publishPresence(of: user, online: true, lastSeen: nil)
        }
        return endpoint
    }

    private static let connectionIDs = ConnectionIDs()

    func connectionClosed(user: UserID, connection: String) async {
        do {
            guard try await broker.connectionClosed(user: user, connection: connection) else { return }
        } catch {
            logger.warning("presence update failed", metadata: ["user": "\(user)", "error": "\(error)"])
            return
        }
        await wentOffline(user)
    }

    /// Users whose last connections the broker found gone without a close (the node holding
    /// them stopped or died): each goes offline as if that connection had closed, with
    /// `lastSeen` stored and `presence` sent to the contacts.
    public func connectionsLost(of users: [UserID]) async {
        for user in users { await wentOffline(user) }
    }

    /// Users whose presence the broker restored after losing it (Redis lost its data, or the
    /// node holding their connections was taken for dead and reported them offline): each is
    /// announced online to the contacts again, as on a first connection.
    public func connectionsRestored(of users: [UserID]) async {
        for user in users { await publishPresence(of: user, online: true, lastSeen: nil) }
    }

    /// Publishes timeline entries that were stored without being published (say, a fan-out
    /// another process left unfinished, which this one completed).
    public func publishRecovered(_ entries: [TimelineEntry]) async {
        await publish(entries)
    }

    private func wentOffline(_ user: UserID) async {
        let now = clock()
        do {
            try await store.setLastSeen(user, at: now)
        } catch {
            logger.warning("presence update failed", metadata: ["user": "\(user)", "error": "\(error)"])
        }
        await publishPresence(of: user, online: false, lastSeen: now)
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

/// Feeds a push endpoint's deliveries into an `AsyncStream`.
private struct StreamReceiver: EndpointReceiver {
    let continuation: AsyncStream<EndpointDelivery>.Continuation

    func deliver(_ delivery: EndpointDelivery) { continuation.yield(delivery) }
    func endpointFailed() { continuation.finish() }
}
