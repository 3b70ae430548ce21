import EngineIO

/// The mutable state of a ``Socket``.
struct SocketState {
    /// Where the socket stands.
    enum Phase {
        /// The connection handler runs; emits wait here until the CONNECT answer is sent.
        /// `leaving`: the server disconnected the socket meanwhile (the DISCONNECT is the last of
        /// the waiting messages), which takes effect once the handler accepted the client.
        case connecting([EngineMessage], leaving: Bool)
        /// The CONNECT answer is sent; the emits made before it follow a moment later (``Socket/accept()``).
        case accepted([EngineMessage])
        /// Connected.
        case connected
        /// Gone.
        case disconnected

        var isDisconnected: Bool {
            if case .disconnected = self { return true }
            return false
        }
    }

    /// One emit waiting for the client's ack.
    enum PendingAck {
        /// The id is taken; the waiter is being installed.
        case reserved
        /// ``Socket/emit(_:onAck:)``.
        case callback(Socket.AckHandler)
        /// ``Socket/tryEmit(_:onAck:)`` and ``Socket/emit(_:onImmediateAck:)``.
        case immediate(Socket.ImmediateAckHandler)
        /// ``Socket/emitWithAck(_:_:timeout:)``.
        case continuation(CheckedContinuation<[JSONValue], any Error>)
    }

    let maxPendingAcks: Int
    var phase = Phase.connecting([], leaving: false)
    var handlers: [String: Socket.EventHandler] = [:]
    var fallbackHandler: Socket.EventHandler?
    var immediateHandler: Socket.ImmediateEventHandler?
    var disconnectHandlers: [Socket.DisconnectHandler] = []
    var pendingAcks: [Int: PendingAck] = [:]
    var nextAckID = 0
    var ackSlotWaiters: [CheckedContinuation<Void, Never>] = []

    /// Takes the next ack id for `pending` (the caller checked `maxPendingAcks`).
    mutating func takeAckID(for pending: PendingAck) -> Int {
        let id = self.nextAckID
        self.nextAckID = id == SocketIOPacket.maxAckID ? 0 : id + 1
        self.pendingAcks[id] = pending
        return id
    }

    init(maxPendingAcks: Int) {
        self.maxPendingAcks = maxPendingAcks
    }
}
