import EngineIO
import NIOCore
import Synchronization

/// The Socket.IO side of one Engine.IO session: its sockets by namespace, the reassembly of binary
/// packets, and the connect timeout. Any malformed input closes the session.
///
/// A session without an accepted socket is pending: the connect timeout runs, and it counts
/// toward its client's pending connections (`SocketIOServer.pending`). It is at first, and again
/// when its last socket leaves (a client that disconnected every namespace but keeps the session
/// would otherwise hold it, answering pings, for ever, counted nowhere).
final class ClientConnection: EngineSessionDelegate {
    private struct State {
        var sockets: [String: Socket] = [:]
        /// A binary packet waiting for its attachments, and their bytes so far.
        var partial: (packet: SocketIOPacket, attachments: [ByteBuffer], bytes: Int)?
        var connectTimer: Scheduled<Void>?
        /// A namespace accepted a socket that is still there: the connect timeout does not apply.
        var accepted = false
        /// Counted in `SocketIOServer.pending` under `clientKey`.
        var counted = false
        /// The session closed.
        var closed = false
    }

    let session: EngineSession
    private let server: SocketIOServer
    /// Who the session's handshake came from, for the pending count; nil when it is not counted.
    private let clientKey: String?
    private let state = Mutex(State())

    /// `clientKey`: the key the handshake was counted under (its admission kept), if any.
    init(session: EngineSession, server: SocketIOServer, clientKey: String?) {
        self.session = session
        self.server = server
        self.clientKey = clientKey
        self.state.withLock { $0.counted = clientKey != nil }
    }

    /// Adds `delta` to this client's pending count.
    private func count(_ delta: Int) {
        guard let key = self.clientKey else { return }
        self.server.countPending(delta, for: key)
    }

    /// Starts the connect timeout: a session in which no namespace accepted a socket in time is
    /// closed (as the reference server: refused or pending CONNECTs do not count).
    func startConnectTimer() {
        let timer = self.session.schedule(after: self.server.configuration.connectTimeout) { [weak self] in
            guard let self else { return }
            if !self.state.withLock({ $0.accepted }) { self.session.close() }
        }
        self.state.withLock { $0.connectTimer = timer }
    }

    /// A namespace accepted a socket: stops the connect timeout and the pending count.
    func accepted() {
        let (timer, wasCounted) = self.state.withLock { state -> (Scheduled<Void>?, Bool) in
            state.accepted = true
            defer {
                state.connectTimer = nil
                state.counted = false
            }
            return (state.connectTimer, state.counted)
        }
        timer?.cancel()
        if wasCounted { self.count(-1) }
    }

    func session(_ session: EngineSession, didReceive message: EngineMessage) {
        do {
            switch message {
            case .text(let text):
                try self.receive(text: text)
            case .binary(let bytes):
                try self.receive(attachment: bytes)
            }
        } catch {
            self.server.logger.debug("closing Socket.IO connection", metadata: ["sid": "\(session.id)", "error": "\(error)"])
            session.close()
        }
    }

    func sessionDidClose(_ session: EngineSession, reason: EngineCloseReason) {
        let (sockets, wasCounted) = self.state.withLock { state -> ([Socket], Bool) in
            state.connectTimer?.cancel()
            state.connectTimer = nil
            state.partial = nil
            state.closed = true
            defer { state.counted = false }
            return (Array(state.sockets.values), state.counted)
        }
        if wasCounted { self.count(-1) }
        for socket in sockets { socket.closed(reason: DisconnectReason(reason)) }
    }

    /// Forgets a socket that disconnected. The last one of an open session leaves it pending again.
    func remove(_ socket: Socket) {
        let pendingAgain = self.state.withLock { state -> Bool in
            if state.sockets[socket.namespace] === socket { state.sockets[socket.namespace] = nil }
            guard state.sockets.isEmpty, state.accepted, !state.closed else { return false }
            state.accepted = false
            // Counted under the lock, so that a close meanwhile finds it counted and uncounts it.
            if self.clientKey != nil, !state.counted {
                state.counted = true
                self.count(1)
            }
            return true
        }
        if pendingAgain { self.startConnectTimer() }
    }

    private func receive(text: ByteBuffer) throws(SocketIOError) {
        guard self.state.withLock({ $0.partial == nil }) else { throw .unexpectedAttachment }
        let packet = try SocketIOPacket.decode(text, maxAttachments: self.server.configuration.maxAttachments)
        if packet.attachmentCount > 0 {
            self.state.withLock { $0.partial = (packet, [], 0) }
        } else {
            try self.handle(packet.reconstructed(with: []))
        }
    }

    private func receive(attachment: ByteBuffer) throws(SocketIOError) {
        let complete = try self.state.withLock { state throws(SocketIOError) -> (SocketIOPacket, [ByteBuffer])? in
            guard var partial = state.partial else { throw .unexpectedAttachment }
            partial.bytes += attachment.readableBytes
            guard partial.bytes <= self.server.configuration.maxPayload else { throw .attachmentsTooLarge }
            partial.attachments.append(attachment)
            if partial.attachments.count == partial.packet.attachmentCount {
                state.partial = nil
                return (partial.packet, partial.attachments)
            }
            state.partial = partial
            return nil
        }
        if let (packet, attachments) = complete {
            try self.handle(packet.reconstructed(with: attachments))
        }
    }

    private func handle(_ packet: SocketIOPacket) throws(SocketIOError) {
        let socket = self.state.withLock { $0.sockets[packet.namespace] }
        switch (packet.kind, socket) {
        case (.connect, nil):
            self.connect(namespace: packet.namespace, auth: packet.data)
        case (.disconnect, let socket?):
            socket.closed(reason: .clientNamespaceDisconnect)
        case (.event, let socket?):
            guard case .array(let elements)? = packet.data, case .string(let name)? = elements.first else {
                throw .invalidPacket
            }
            socket.receive(event: name, arguments: Array(elements.dropFirst()), ackID: packet.ackID)
        case (.ack, let socket?):
            guard let id = packet.ackID, case .array(let arguments)? = packet.data else { throw .invalidPacket }
            socket.resolveAck(id, with: .success(arguments))
        default:
            // As the reference server: a packet for a namespace in the wrong state ends the connection.
            throw .invalidPacket
        }
    }

    private func connect(namespace name: String, auth: JSONValue?) {
        guard let namespace = self.server.existingNamespace(name) else {
            var body = ByteBuffer()
            JSONValue.object(["message": "Invalid namespace"]).write(to: &body)
            self.session.send(EncodedEvent.messages(body: body, attachments: [], kind: .connectError, namespace: name, ackID: nil))
            return
        }
        let socket = Socket(
            id: SessionID.make(),
            namespace: name,
            connection: self,
            maxPendingAcks: self.server.configuration.maxPendingAcks
        )
        self.state.withLock { $0.sockets[name] = socket }
        let handshake = self.session.request  // unpacked on each read: once here
        let request = ConnectRequest(auth: auth, headers: handshake.headers, query: handshake.query)
        let handler = namespace.connectionHandler
        socket.queue.enqueue {
            do {
                try await handler?(socket, request)
                socket.accept()
            } catch let error as ConnectError {
                socket.refuse(error)
            } catch {
                socket.refuse(ConnectError(message: "\(error)"))
            }
        }
    }
}
