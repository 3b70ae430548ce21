import ChatCore
import Foundation
import Logging
import NIOCore
import Synchronization
import SocketIO

/// One authenticated Socket.IO connection: its event handlers, and the receiver of its
/// endpoint's deliveries, which it emits in order through a queue that holds a task only
/// while deliveries wait.
final class ClientConnection: EndpointReceiver {
    let socket: Socket
    let user: UserID
    let gateway: ChatGateway
    private let limiter: Mutex<RateLimiter>
    private let deliveries = SerialJobQueue()
    private let backlog = Mutex(Backlog())

    /// Deliveries queued behind the socket (it had no room, or at most `maxPendingAcks` of its
    /// events were unacknowledged), and the endpoint's reads waiting for fewer of them.
    private struct Backlog {
        var waiting = 0
        var readers: [CheckedContinuation<Void, Never>] = []
    }

    /// From this many queued deliveries the endpoint takes no more live events (``isBacklogged``).
    static let backlogLimit = 500
    /// The endpoint reads the store again once at most this many are queued.
    static let roomBelow = 100

    init(socket: Socket, user: UserID, gateway: ChatGateway) {
        self.socket = socket
        self.user = user
        self.gateway = gateway
        self.limiter = Mutex(RateLimiter(burst: gateway.configuration.rateBurst, perSecond: gateway.configuration.ratePerSecond))
    }

    private var chat: ChatService { gateway.chat }

    /// Emits at once when nothing waits before it and the socket can take it (the endpoint calls
    /// this under its lock, in order); else queues it behind the waiting ones.
    func deliver(_ delivery: EndpointDelivery) {
        let (event, onAck) = encode(delivery)
        if deliveries.isIdle, socket.tryEmit(event, onAck: onAck) { return }
        backlog.withLock { $0.waiting += 1 }
        deliveries.enqueue { [self] in
            await self.emit(event, onAck: onAck)
            self.dequeued()
        }
    }

    var isBacklogged: Bool { backlog.withLock { $0.waiting >= Self.backlogLimit } }

    func waitForRoom() async {
        await withCheckedContinuation { reader in
            let now = backlog.withLock { backlog -> Bool in
                guard backlog.waiting > Self.roomBelow else { return true }
                backlog.readers.append(reader)
                return false
            }
            if now { reader.resume() }
        }
    }

    /// One queued delivery was emitted (or failed: the socket is gone, and the rest fail as fast).
    private func dequeued() {
        let readers = backlog.withLock { backlog -> [CheckedContinuation<Void, Never>] in
            backlog.waiting -= 1
            guard backlog.waiting <= Self.roomBelow, !backlog.readers.isEmpty else { return [] }
            defer { backlog.readers = [] }
            return backlog.readers
        }
        for reader in readers { reader.resume() }
    }

    func endpointFailed() {
        deliveries.enqueue { [socket] in await socket.disconnect() }
    }

    /// Emits one delivery of the endpoint, after the ones before it, waiting for room.
    private func emit(_ event: EncodedEvent, onAck: Socket.ImmediateAckHandler?) async {
        do {
            if let onAck {
                try await socket.emit(event, onImmediateAck: onAck)
            } else {
                try await socket.emit(event)
            }
        } catch {
            gateway.logger.debug("endpoint forwarding ended", metadata: ["user": "\(user)", "error": "\(error)"])
            await socket.disconnect()
        }
    }

    /// The event of a delivery; timeline events ask for an ack, and the ack is what marks them delivered.
    private func encode(_ delivery: EndpointDelivery) -> (EncodedEvent, Socket.ImmediateAckHandler?) {
        switch delivery {
        case .timeline(let seq, let event, let payload):
            return (Self.encode(event, payload), onAck(seq: seq, event: event))
        case .synced(let payload):
            return (Self.encode("synced", payload), nil)
        case .ephemeral(let event, let payload):
            return (Self.encode(event, payload), nil)
        }
    }

    /// The ack of a timeline event marks it delivered; it joins the next batch of acks where it
    /// is read, without a task of its own.
    private func onAck(seq: Int64, event: String) -> Socket.ImmediateAckHandler {
        let chat = self.chat
        let user = self.user
        let acknowledged = gateway.metrics.deliveries
        return { _ in
            acknowledged.increment()
            chat.acknowledgeInBackground(user: user, seq: seq, event: event)
        }
    }

    private static func encode(_ event: String, _ payload: [UInt8]) -> EncodedEvent {
        EncodedEvent(event: event, rawJSONArguments: [ByteBuffer(bytes: payload)])
    }

    /// Routes every client event of this socket through ``handle(_:)``: one closure per
    /// connection, the per-event work being the shared ``routes`` table.
    func registerHandlers() {
        socket.onUnhandled { [self] incoming in await self.handle(incoming) }
        if chat.submitsSendsNow { socket.onImmediate { [self] incoming in self.handleNow(incoming) } }
    }

    /// The deferred part of a handler: it calls back once with the result, which becomes
    /// `{"ok":true,"<field>":<json>}`, or with the error (possibly on the store's writer, so no
    /// task waits per event).
    typealias Finish = @Sendable (_ done: @escaping @Sendable (Result<(field: String, json: [UInt8]), any Error>) -> Void) -> Void

    /// What a client event does.
    enum Route: Sendable {
        /// Answers with these fields (plus `"ok":true`).
        case now(@Sendable (ClientConnection, EventArguments) async throws -> [String: JSONValue])
        /// Does its ordered part on the socket's handler queue and returns the rest, which runs
        /// (and answers the ack) off the queue.
        case deferred(@Sendable (ClientConnection, EventArguments) async throws -> Finish)
    }

    enum Reply: Sendable {
        case now([String: JSONValue])
        case later(Finish)
    }

    /// The client events of PROTOCOL.md §4.
    static let routes: [String: Route] = [
        // The write is queued in event order, then the next event is handled while it commits;
        // the ack follows the commit.
        "message": .deferred { connection, args in
            let request = try SendRequest(args)
            let start = ContinuousClock.now
            return connection.answer(try await connection.chat.submitSend(from: connection.user, request), since: start)
        },
        "read": .now { connection, args in
            let conversation = try args.id("conversation", as: ConversationID.self)
            let ids = try args.strings("ids", max: connection.gateway.configuration.chat.maxReadIds)
            try await connection.chat.markRead(by: connection.user, conversation: conversation, ids: ids)
            return [:]
        },
        "typing": .now { connection, args in
            let target = try args.target()
            guard let typing = args["typing"]?.boolValue else { throw ChatError(.badRequest, "'typing' must be true or false") }
            try await connection.chat.typing(from: connection.user, to: target.to, group: target.group, typing: typing)
            return [:]
        },
        "group:create": .now { connection, args in
            let name = try args.string("name")
            let members = try args.userIDs("members", max: connection.gateway.configuration.chat.maxGroupMembers, optional: true)
            let group = try await connection.chat.createGroup(by: connection.user, name: name, members: members)
            return ["group": try JSONValue(encoding: group)]
        },
        "group:invite": .now { connection, args in
            let group = try args.id("group", as: GroupID.self)
            let members = try args.userIDs("members", max: connection.gateway.configuration.chat.maxGroupMembers)
            let updated = try await connection.chat.invite(by: connection.user, group: group, members: members)
            return ["group": try JSONValue(encoding: updated)]
        },
        "group:leave": .now { connection, args in
            let group = try args.id("group", as: GroupID.self)
            try await connection.chat.removeMember(by: connection.user, group: group, member: connection.user)
            return [:]
        },
    ]

    /// Handles one client event with the parts every event shares: counting, rate limiting
    /// (unknown events included, so they can't flood either), argument checks and the
    /// `{"ok":…}` ack; an unknown event is answered `bad_request`.
    private func handle(_ incoming: IncomingEvent) async {
        let route = Self.routes[incoming.name]
        switch admit(incoming, known: route != nil) {
        case .allow:
            break
        case .refuse:
            return
        case .disconnect:
            await socket.disconnect()
            return
        }
        let reply = await answer(incoming.name) { () async throws -> Reply in
            switch route {
            case .now(let body)?:
                return .now(try await body(self, try EventArguments(incoming.arguments)))
            case .deferred(let body)?:
                return .later(try await body(self, try EventArguments(incoming.arguments)))
            case nil:
                throw ChatError(.badRequest, "unknown event '\(incoming.name.prefix(64))'")
            }
        }
        send(reply, to: incoming)
    }

    /// A `message` where it is read (registered only when the store queues writes without
    /// suspending; the socket offers it only while none of its handlers is queued): no task
    /// between the socket and the store. Any other event is left to ``handle(_:)``.
    private func handleNow(_ incoming: IncomingEvent) -> Bool {
        guard incoming.name == "message" else { return false }
        switch admit(incoming, known: true) {
        case .allow:
            break
        case .refuse:
            return true
        case .disconnect:
            Task { await socket.disconnect() }
            return true
        }
        let start = ContinuousClock.now
        do {
            let request = try SendRequest(try EventArguments(incoming.arguments))
            guard let pending = try chat.submitSendNow(from: user, request) else { throw ChatError.unavailable("storage unavailable") }
            send(.later(answer(pending, since: start)), to: incoming)
        } catch {
            send(.now(failure(error, event: incoming.name)), to: incoming)
        }
        return true
    }

    /// The answer to a send, once it is durable and published.
    private func answer(_ pending: PendingSend, since start: ContinuousClock.Instant) -> Finish {
        let metrics = gateway.metrics
        return { done in
            pending.whenSent { result in
                done(result.map { sent in
                    metrics.messagesIn.increment()
                    metrics.sendLatency.recordInterval(since: start)
                    return (field: "message", json: sent.json)
                }.mapError { $0 })
            }
        }
    }

    private enum Admission {
        case allow, refuse, disconnect
    }

    /// Counts the event and applies the rate limit; a refusal is answered here.
    private func admit(_ incoming: IncomingEvent, known: Bool) -> Admission {
        gateway.metrics.countEvent(known ? incoming.name : "other")
        switch limiter.withLock({ $0.take(at: .now) }) {
        case .allow:
            return .allow
        case .limit:
            gateway.metrics.rateLimited.increment()
            incoming.ack?.send([.object(Self.failure(.rateLimited, "slow down: at most \(gateway.configuration.ratePerSecond) events per second"))])
            return .refuse
        case .disconnect:
            gateway.metrics.rateLimited.increment()
            gateway.logger.notice("disconnecting a flooding connection", metadata: ["user": "\(user)"])
            return .disconnect
        case .ignore:
            return .refuse
        }
    }

    /// Answers the event's ack with `reply`, now or when its deferred part calls back.
    private func send(_ reply: Reply, to incoming: IncomingEvent) {
        switch reply {
        case .now(let fields):
            incoming.ack?.send([.object(fields)])
        case .later(let finish):
            let ack = incoming.ack
            finish { [self] result in
                switch result {
                case .success(let (field, json)):
                    var reply = ByteBuffer()
                    reply.reserveCapacity(json.count + field.utf8.count + 16)
                    reply.writeStaticString(#"{"ok":true,""#)
                    reply.writeString(field)
                    reply.writeStaticString(#"":"#)
                    reply.writeBytes(json)
                    reply.writeStaticString("}")
                    ack?.send(rawJSONArguments: [reply])
                case .failure(let error):
                    ack?.send([.object(failure(error, event: incoming.name))])
                }
            }
        }
    }

    /// Runs `body`: `.now` fields gain `"ok":true`; an error becomes the failure reply.
    private func answer(_ name: String, _ body: () async throws -> Reply) async -> Reply {
        do {
            switch try await body() {
            case .now(var fields):
                fields["ok"] = .bool(true)
                return .now(fields)
            case .later(let finish):
                return .later(finish)
            }
        } catch {
            return .now(failure(error, event: name))
        }
    }

    /// The `{"ok":false,"error":…}` reply of an error; unexpected ones are logged, never shown.
    private func failure(_ error: any Error, event: String) -> [String: JSONValue] {
        switch error {
        case let error as ChatError:
            return Self.failure(error.code, error.message)
        case let error as APIError:
            return Self.failure(error.code, error.message)
        default:
            gateway.logger.error("event failed", metadata: ["event": "\(event)", "error": "\(error)"])
            return Self.failure(.internal, "internal error")
        }
    }

    private static func failure(_ code: ChatError.Code, _ message: String) -> [String: JSONValue] {
        ["ok": .bool(false), "error": .object(["code": .string(code.rawValue), "message": .string(message)])]
    }
}
