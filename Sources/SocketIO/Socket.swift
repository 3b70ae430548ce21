import EngineIO
import NIOCore
import Synchronization

/// A client's connection to one namespace.
///
/// Handlers of one socket run one at a time, in packet order (the connection handler first).
public final class Socket: Sendable, Hashable, Identifiable {
    /// An event handler.
    public typealias EventHandler = @Sendable (IncomingEvent) async -> Void
    /// A disconnect handler.
    public typealias DisconnectHandler = @Sendable (DisconnectReason) async -> Void
    /// An ack callback of ``emit(_:onAck:)``.
    public typealias AckHandler = @Sendable ([JSONValue]) async -> Void
    /// An ack callback run where the ack is read, on an I/O thread, ahead of the socket's queued
    /// handlers: it must be short and must not block.
    public typealias ImmediateAckHandler = @Sendable ([JSONValue]) -> Void
    /// A handler offered each event where it is read, on an I/O thread, when no handler of the
    /// socket is queued or running (so events stay in order): it returns true when it handled the
    /// event, false to have it queued for the other handlers. It must be short and must not block.
    public typealias ImmediateEventHandler = @Sendable (IncomingEvent) -> Bool

    /// The socket id (sent to the client in the CONNECT answer).
    public let id: String
    /// The namespace's name.
    public let namespace: String
    let connection: ClientConnection
    let queue = SerialJobQueue()
    let state: Mutex<SocketState>

    init(id: String, namespace: String, connection: ClientConnection, maxPendingAcks: Int) {
        self.id = id
        self.namespace = namespace
        self.connection = connection
        self.state = Mutex(SocketState(maxPendingAcks: maxPendingAcks))
    }

    /// Registers the handler of an event, replacing an earlier one.
    public func on(_ event: String, _ handler: @escaping EventHandler) {
        self.state.withLock { $0.handlers[event] = handler }
    }

    /// Registers the handler of every event that has no handler of its own (for example to
    /// answer its ack with an error); without one, such events are dropped.
    public func onUnhandled(_ handler: @escaping EventHandler) {
        self.state.withLock { $0.fallbackHandler = handler }
    }

    /// Registers the handler offered every event before it is queued (see ``ImmediateEventHandler``),
    /// replacing an earlier one.
    public func onImmediate(_ handler: @escaping ImmediateEventHandler) {
        self.state.withLock { $0.immediateHandler = handler }
    }

    /// Registers a handler run once when the socket disconnects, after its pending event handlers.
    public func onDisconnect(_ handler: @escaping DisconnectHandler) {
        self.state.withLock { $0.disconnectHandlers.append(handler) }
    }

    /// Whether the socket is still connected (or connecting).
    public var isConnected: Bool {
        self.state.withLock { !$0.phase.isDisconnected }
    }

    /// Emits an event. Suspends while the connection's outbound buffer is full; throws
    /// ``SocketIOError/socketClosed`` when the socket is disconnected.
    public func emit(_ event: String, _ arguments: [JSONValue]) async throws {
        try await self.emit(EncodedEvent(event: event, arguments: arguments))
    }

    /// Emits a pre-encoded event (see ``emit(_:_:)``).
    public func emit(_ event: EncodedEvent) async throws {
        try await self.waitUntilWritable()
        try self.sendOrThrow(event.messages(kind: .event, namespace: self.namespace, ackID: nil))
    }

    /// Emits an event expecting the client's ack; `onAck` runs with its arguments (in this socket's
    /// handler order) and is not awaited here. At most `maxPendingAcks` may be in flight: beyond that
    /// this suspends until some are answered. Unanswered ones are dropped when the socket disconnects.
    public func emit(_ event: EncodedEvent, onAck: @escaping AckHandler) async throws {
        try await self.emit(event, expecting: .callback(onAck))
    }

    /// ``emit(_:onAck:)`` with an ack callback that runs where the ack is read.
    public func emit(_ event: EncodedEvent, onImmediateAck: @escaping ImmediateAckHandler) async throws {
        try await self.emit(event, expecting: .immediate(onImmediateAck))
    }

    private func emit(_ event: EncodedEvent, expecting pending: SocketState.PendingAck) async throws {
        try await self.waitUntilWritable()
        let id = try await self.reserveAck(pending)
        try self.sendOrThrow(event.messages(kind: .event, namespace: self.namespace, ackID: id))
    }

    /// Emits an event at once if nothing has to wait: connected, room in the outbound buffer
    /// and, with `onAck`, an ack id free. `false`: nothing was sent (use an async `emit`).
    /// It does not suspend, so a caller that must keep its events in order can emit from a lock.
    public func tryEmit(_ event: EncodedEvent, onAck: ImmediateAckHandler? = nil) -> Bool {
        self.state.withLock { state in
            guard case .connected = state.phase, self.connection.session.isWritable else { return false }
            var ackID: Int?
            if let onAck {
                guard state.pendingAcks.count < state.maxPendingAcks else { return false }
                ackID = state.takeAckID(for: .immediate(onAck))
            }
            guard self.connection.session.send(event.messages(kind: .event, namespace: self.namespace, ackID: ackID)) else {
                if let ackID { state.pendingAcks[ackID] = nil }
                return false
            }
            return true
        }
    }

    /// Emits an event and waits for the client's ack; throws ``SocketIOError/ackTimeout`` after `timeout`.
    public func emitWithAck(_ event: String, _ arguments: [JSONValue], timeout: Duration) async throws -> [JSONValue] {
        try await self.waitUntilWritable()
        let encoded = EncodedEvent(event: event, arguments: arguments)
        let id = try await self.reserveAck(.reserved)
        let timer = Task {
            try await Task.sleep(for: timeout)
            self.resolveAck(id, with: .failure(SocketIOError.ackTimeout))
        }
        defer { timer.cancel() }
        return try await withCheckedThrowingContinuation { continuation in
            let installed = self.state.withLock { state -> Bool in
                guard state.pendingAcks[id] != nil else { return false }
                state.pendingAcks[id] = .continuation(continuation)
                return true
            }
            guard installed else {
                continuation.resume(throwing: SocketIOError.socketClosed)
                return
            }
            do {
                try self.sendOrThrow(encoded.messages(kind: .event, namespace: self.namespace, ackID: id))
            } catch {
                self.resolveAck(id, with: .failure(error))
            }
        }
    }

    /// Leaves the namespace: the client gets DISCONNECT, the disconnect handlers run. Called
    /// while the connection handler still runs, it takes effect once the handler returns: the
    /// client gets the CONNECT answer and then the DISCONNECT (or CONNECT_ERROR if the handler
    /// refuses), and the handler's disconnect handlers run.
    public func disconnect() async {
        let now = self.state.withLock { state -> Bool in
            switch state.phase {
            case .connecting(var buffered, leaving: false):
                buffered += EncodedEvent.disconnect(namespace: self.namespace)
                state.phase = .connecting(buffered, leaving: true)
                return false
            case .connecting(_, leaving: true):
                return false
            case .accepted(let buffered):
                // The CONNECT answer is out: what waited for it goes now, before the DISCONNECT.
                state.phase = .connected
                self.connection.session.send(buffered)
                return true
            case .connected, .disconnected:
                return true
            }
        }
        guard now else { return }
        self.send(EncodedEvent.disconnect(namespace: self.namespace))
        self.closed(reason: .serverNamespaceDisconnect)
    }

    public static func == (lhs: Socket, rhs: Socket) -> Bool { lhs === rhs }

    public func hash(into hasher: inout Hasher) { hasher.combine(ObjectIdentifier(self)) }
}

extension EncodedEvent {
    /// The messages of a DISCONNECT packet.
    static func disconnect(namespace: String) -> [EngineMessage] {
        messages(body: ByteBuffer(), attachments: [], kind: .disconnect, namespace: namespace, ackID: nil)
    }
}
