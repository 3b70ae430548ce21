import EngineIO
import NIOCore

extension Socket {
    /// Sends messages in order unless the socket is disconnected; while connecting they wait.
    func send(_ messages: [EngineMessage]) {
        _ = try? self.sendOrThrow(messages)
    }

    func sendOrThrow(_ messages: [EngineMessage]) throws(SocketIOError) {
        // Sent under the socket's lock so that the CONNECT answer and buffered emits keep their order.
        try self.state.withLock { state throws(SocketIOError) in
            switch state.phase {
            case .disconnected:
                throw .socketClosed
            case .connecting(_, leaving: true):
                throw .socketClosed
            case .connecting(var buffered, leaving: false):
                buffered += messages
                state.phase = .connecting(buffered, leaving: false)
            case .accepted(var buffered):
                buffered += messages
                state.phase = .accepted(buffered)
            case .connected:
                guard self.connection.session.send(messages) else { throw .socketClosed }
            }
        }
    }

    func waitUntilWritable() async throws(SocketIOError) {
        guard self.isConnected else { throw .socketClosed }
        await self.connection.session.waitUntilWritable()
        guard self.isConnected else { throw .socketClosed }
    }

    /// Takes the next ack id, suspending while `maxPendingAcks` are in flight.
    func reserveAck(_ pending: SocketState.PendingAck) async throws(SocketIOError) -> Int {
        while true {
            let id = try self.state.withLock { state throws(SocketIOError) -> Int? in
                guard !state.phase.isDisconnected else { throw .socketClosed }
                guard state.pendingAcks.count < state.maxPendingAcks else { return nil }
                return state.takeAckID(for: pending)
            }
            if let id { return id }
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let waiting = self.state.withLock { state -> Bool in
                    guard !state.phase.isDisconnected, state.pendingAcks.count >= state.maxPendingAcks else { return false }
                    state.ackSlotWaiters.append(continuation)
                    return true
                }
                if !waiting { continuation.resume() }
            }
        }
    }

    /// Ends a pending ack: the client answered, it timed out, or sending failed.
    func resolveAck(_ id: Int, with result: Result<[JSONValue], any Error>) {
        let (pending, waiters) = self.state.withLock { state -> (SocketState.PendingAck?, [CheckedContinuation<Void, Never>]) in
            guard let pending = state.pendingAcks.removeValue(forKey: id) else { return (nil, []) }
            let waiters = state.ackSlotWaiters
            state.ackSlotWaiters = []
            return (pending, waiters)
        }
        for waiter in waiters { waiter.resume() }
        switch pending {
        case .callback(let handler)?:
            if case .success(let arguments) = result {
                self.queue.enqueue { await handler(arguments) }
            }
        case .immediate(let handler)?:
            if case .success(let arguments) = result { handler(arguments) }
        case .continuation(let continuation)?:
            continuation.resume(with: result)
        case .reserved?, nil:
            break
        }
    }

    /// The connection handler accepted the client: answer CONNECT, then flush what was emitted meanwhile.
    ///
    /// The emits follow a moment later, not in the same write: clients that register their next
    /// listener only after handling the CONNECT answer (the public test suite does) would miss a
    /// message coalesced into the same TCP read. The reference server has the same gap (it writes the
    /// next packet on the transport's drain).
    func accept() {
        let answer = JSONValue.object(["sid": .string(self.id)])
        var body = ByteBuffer()
        answer.write(to: &body)
        let connect = EncodedEvent.messages(body: body, attachments: [], kind: .connect, namespace: self.namespace, ackID: nil)
        let (wasConnecting, hasBuffered, leaving) = self.state.withLock { state -> (Bool, Bool, Bool) in
            guard case .connecting(let buffered, let leaving) = state.phase else { return (false, false, false) }
            self.connection.session.send(connect)
            if leaving {
                // Disconnected by the server while the handler ran: the client gets its CONNECT
                // answer, what was emitted, and the DISCONNECT, at once.
                self.connection.session.send(buffered)
                state.phase = .connected
            } else {
                state.phase = buffered.isEmpty ? .connected : .accepted(buffered)
            }
            return (true, !buffered.isEmpty, leaving)
        }
        guard wasConnecting else { return }
        self.connection.accepted()
        if leaving { return self.closed(reason: .serverNamespaceDisconnect) }
        guard hasBuffered else { return }
        _ = self.connection.session.schedule(after: Self.connectFlushDelay) { [self] in
            self.state.withLock { state in
                guard case .accepted(let buffered) = state.phase else { return }
                state.phase = .connected
                self.connection.session.send(buffered)
            }
        }
    }

    /// The gap between the CONNECT answer and the emits made by the connection handler.
    static let connectFlushDelay = Duration.milliseconds(2)

    /// The connection handler refused the client: CONNECT_ERROR, and the socket is gone without
    /// running disconnect handlers.
    func refuse(_ error: ConnectError) {
        var body = ByteBuffer()
        error.payload.write(to: &body)
        let messages = EncodedEvent.messages(body: body, attachments: [], kind: .connectError, namespace: self.namespace, ackID: nil)
        let wasConnecting = self.state.withLock { state -> Bool in
            guard case .connecting = state.phase else { return false }
            state.phase = .disconnected
            return true
        }
        guard wasConnecting else { return }
        self.connection.session.send(messages)
        self.connection.remove(self)
    }

    /// An event from the client, handled after the ones before it (even when the socket disconnects
    /// meanwhile: what the client sent before leaving is still handled).
    func receive(event name: String, arguments: [JSONValue], ackID: Int?) {
        let ack = ackID.map { Ack(socket: self, id: $0) }
        // A connection delivers its events one at a time (one reader, or one polling request at a
        // time), and only this method queues them: when the queue is idle, no earlier event waits.
        if let immediate = self.state.withLock({ $0.immediateHandler }), self.queue.isIdle,
           immediate(IncomingEvent(name: name, arguments: arguments, ack: ack)) {
            return
        }
        self.queue.enqueue {
            guard let handler = self.state.withLock({ $0.handlers[name] ?? $0.fallbackHandler }) else { return }
            await handler(IncomingEvent(name: name, arguments: arguments, ack: ack))
        }
    }

    /// The socket is gone: fail what waits on it, then, after the handlers already queued (the
    /// connection handler among them), run the disconnect handlers once.
    func closed(reason: DisconnectReason) {
        let taken = self.state.withLock { state -> ([SocketState.PendingAck], [CheckedContinuation<Void, Never>])? in
            guard !state.phase.isDisconnected else { return nil }
            state.phase = .disconnected
            defer {
                state.pendingAcks = [:]
                state.ackSlotWaiters = []
            }
            return (Array(state.pendingAcks.values), state.ackSlotWaiters)
        }
        guard let (pending, waiters) = taken else { return }
        self.connection.remove(self)
        for waiter in waiters { waiter.resume() }
        for case .continuation(let continuation) in pending {
            continuation.resume(throwing: SocketIOError.socketClosed)
        }
        self.queue.enqueue {
            let handlers = self.state.withLock { state -> [DisconnectHandler] in
                defer {
                    state.disconnectHandlers = []
                    state.handlers = [:]
                }
                return state.disconnectHandlers
            }
            for handler in handlers { await handler(reason) }
        }
    }
}
