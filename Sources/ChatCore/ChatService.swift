import Foundation
import Logging
import Synchronization

/// The chat domain: every rule of PROTOCOL.md §2-§4, over a `ChatStore` and a `Broker`.
///
/// It holds no mutable state of its own, so unrelated users never wait on each other here;
/// every event is appended to the recipients' timelines (store) before it is published (broker).
public final class ChatService: Sendable {
    let store: any ChatStore
    /// `store`, when it can queue writes without suspending.
    let immediateStore: (any ImmediateSubmitting)?
    let broker: any Broker
    /// The limits in force.
    public let configuration: ChatConfiguration
    let logger: Logger
    let clock: @Sendable () -> Int64
    /// Publishes committed entries of pipelined writes in commit order.
    let publisher = SerialJobs()
    /// Acks waiting to be written as one store operation.
    let acks = AckCoalescer()
    /// Bounds the endpoints reading the store at once to catch up after a broker outage: every
    /// connection of the node is told at the same moment (up to ~19,000).
    let catchUps = ConcurrencyLimit(16)

    /// Creates the service. `clock` returns "now" in ms since 1970 (inject a fixed one in tests).
    public init(store: some ChatStore, broker: some Broker, configuration: ChatConfiguration = .init(), logger: Logger,
                clock: @escaping @Sendable () -> Int64 = ChatService.wallClock) {
        self.store = store
        self.immediateStore = store as? any ImmediateSubmitting
        self.broker = broker
        self.configuration = configuration
        self.logger = logger
        self.clock = clock
    }

    /// The system clock in ms since 1970.
    public static let wallClock: @Sendable () -> Int64 = {
        Int64((Date().timeIntervalSince1970 * 1000).rounded(.down))
    }

    /// Runs a store call, passing its `ChatError`s through and turning anything else into `unavailable`.
    func storage<T>(_ what: String, _ body: () async throws -> T) async throws(ChatError) -> T {
        do {
            return try await body()
        } catch let error as ChatError {
            throw error
        } catch {
            logger.error("store failed", metadata: ["operation": "\(what)", "error": "\(error)"])
            throw .unavailable("storage unavailable")
        }
    }

    /// Publishes stored timeline entries to their users' endpoint channels.
    /// A failure is only logged: the entries are durable and come back on replay or gap fill.
    func publish(_ entries: [TimelineEntry]) async {
        for entry in entries {
            await publish(.timeline(seq: entry.seq, event: entry.event, payload: entry.wirePayload), to: [entry.user])
        }
    }

    /// Publishes the entries of a pipelined write from its completion, which the store calls in
    /// commit order, then runs `then`: one serial queue (`publisher`) keeps that order, so every
    /// user's entries reach their endpoints in seq order (no gap to fill from the store). It runs
    /// off the store's writer, the one serial resource of the message path; the queue holds a
    /// task only while jobs wait.
    func publishCommitted(_ entries: [TimelineEntry], then: @escaping @Sendable () -> Void) {
        publisher.enqueue {
            await self.publish(entries)
            then()
        }
    }

    /// Publishes an envelope, logging failures (ephemeral events are best effort).
    /// A broker that can hands it over without suspending (the in-process one: `publishNow`).
    func publish(_ envelope: BrokerEnvelope, to users: [UserID]) async {
        guard !users.isEmpty, !broker.publishNow(envelope, to: users) else { return }
        do {
            try await broker.publish(envelope, to: users)
        } catch {
            logger.warning("broker publish failed", metadata: ["error": "\(error)", "recipients": "\(users.count)"])
        }
    }

    /// What a readiness probe needs to know: `nil` when the store and the broker both answer
    /// within `deadline` in all, otherwise which of them does not (`"store"` or `"broker"`).
    /// A backend that stopped answering (a paused Redis, a hung endpoint) counts as
    /// unavailable once the deadline passes, not after its own timeouts and retries; its
    /// check goes on in the background.
    public func unavailableBackend(within deadline: Duration = .seconds(2)) async -> String? {
        let answer = Promise<String?, Never>()
        let checking = CheckedBackend()
        Task { answer.complete(.success(await checkBackends(checking))) }
        let timer = Task {
            try? await Task.sleep(for: deadline)
            guard !Task.isCancelled else { return }
            let backend = checking.name
            logger.warning("readiness: \(backend) did not answer within \(deadline.wholeMilliseconds) ms")
            answer.complete(.success(backend))
        }
        defer { timer.cancel() }
        return await answer.result.get()
    }

    private func checkBackends(_ checking: CheckedBackend) async -> String? {
        do {
            _ = try await store.users(withPrefix: "", limit: 1)
        } catch {
            logger.warning("readiness: store failed", metadata: ["error": "\(error)"])
            return "store"
        }
        checking.name = "broker"
        do {
            _ = try await broker.isOnline(Self.probeUser)
        } catch {
            logger.warning("readiness: broker failed", metadata: ["error": "\(error)"])
            return "broker"
        }
        return nil
    }

    private static let probeUser = UserID("readiness-probe")!

    /// The backend a readiness check is waiting for.
    private final class CheckedBackend: Sendable {
        private let current = Mutex("store")
        var name: String {
            get { current.withLock { $0 } }
            set { current.withLock { $0 = newValue } }
        }
    }

    /// Throws `not_found` unless `user` participates in `conversation` (current member for groups).
    func requireParticipant(_ user: UserID, in conversation: ConversationID) async throws(ChatError) {
        switch conversation.kind {
        case .direct:
            guard conversation.peer(of: user) != nil else { throw .notFound("no such conversation") }
        case .group(let id):
            _ = try await memberGroup(id, viewer: user)
        }
    }

    /// `not_found` for a direct conversation of `viewer`'s with a user who does not exist: one
    /// exists (empty until the first message) only with a user who does.
    func requirePeerExists(viewer: UserID, in conversation: ConversationID) async throws(ChatError) {
        guard let peer = conversation.peer(of: viewer) else { return }
        if try await storage("user", { try await store.user(peer) }) == nil { throw .notFound("no such conversation") }
    }

    /// The group, or `not_found` unless `viewer` is a current member (so ids don't leak).
    func memberGroup(_ id: GroupID, viewer: UserID) async throws(ChatError) -> Group {
        let group = try await storage("group") { try await store.group(id) }
        guard let group, group.members.contains(viewer) else { throw .notFound("no such group") }
        return group
    }
}
