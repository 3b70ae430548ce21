import NIOCore

/// The protocol state of one Engine.IO session, free of I/O: each input is a mutating method that
/// returns what the caller must do (answer a poll, write to the WebSocket, close…).
///
/// Timers are the caller's: it calls ``heartbeatTimerFired()`` after `pingInterval` and, when that
/// returned a ping, again after `pingTimeout`; ``received(_:over:)`` says when to restart it.
public struct EngineSessionStateMachine: Sendable {
    /// Where the session stands.
    public enum State: Sendable, Equatable {
        /// Packets travel over HTTP long-polling.
        case polling(PollingState)
        /// Packets travel over the WebSocket.
        case webSocket
        /// The session is over.
        case closed
    }

    /// The polling transport's own state.
    public struct PollingState: Sendable, Equatable {
        /// A GET poll is parked, waiting for packets.
        public var pollPending = false
        /// The parked poll arrived while a WebSocket was attached: it ends with `noop` after a grace
        /// period, or with 400 when the upgrade completes first (as the reference server, whose
        /// WebSocket frames are handled before a later HTTP request).
        public var pollDuringUpgrade = false
        /// The progress of an upgrade to WebSocket.
        public var upgrade = UpgradeState.none
    }

    /// The progress of an upgrade from polling to WebSocket.
    public enum UpgradeState: Sendable, Equatable {
        /// No WebSocket is attached.
        case none
        /// A WebSocket with this session's id is open; it has not sent `2probe` yet.
        case attached
        /// The probe is answered: polls get `noop` until the client sends `upgrade`.
        case probed
    }

    /// What to do with a GET poll.
    public enum PollAction: Sendable, Equatable {
        /// Answer it now with these packets.
        case respond([EnginePacket])
        /// Park it until packets arrive (``SendAction/completePoll(_:)``).
        case park
        /// Park it, and call ``upgradeGraceEnded()`` after a short grace period.
        case parkDuringUpgrade
        /// Answer it with this HTTP error.
        case reject(EngineHTTPError)
        /// A second concurrent poll: answer it with 400 and perform `close`, whose pending poll gets `close`.
        case rejectDuplicate(CloseAction)
    }

    /// What to do with outbound packets.
    public enum SendAction: Sendable, Equatable {
        /// They wait in the outbox for the next poll.
        case buffered
        /// Answer the parked poll with these packets (the outbox included).
        case completePoll([EnginePacket])
        /// Write them to the WebSocket.
        case writeWebSocket([EnginePacket])
        /// The session is closed; they are dropped.
        case dropped
    }

    /// What to do after a packet from the client.
    public enum ReceiveAction: Sendable, Equatable {
        /// Nothing.
        case none
        /// Hand the message to the application.
        case deliver(EngineMessage)
        /// The pong arrived: schedule the next ping after `pingInterval`.
        case restartHeartbeat
        /// Write `3probe` to the probing WebSocket, and end the parked poll, if any, with these packets.
        case answerProbe(completePoll: [EnginePacket]?)
        /// The upgrade is done: end the parked poll, if any (with 400 when `rejectPoll`), and write
        /// `flush` to the WebSocket.
        case upgraded(completePoll: [EnginePacket]?, rejectPoll: Bool, flush: [EnginePacket])
        /// Close the session.
        case close(CloseAction)
    }

    /// What to do when the session closes.
    public struct CloseAction: Sendable, Equatable {
        /// Why it closes.
        public var reason: EngineCloseReason
        /// Answer the parked poll, if any, with these packets.
        public var completePoll: [EnginePacket]?
    }

    /// What to do when the heartbeat timer fires.
    public enum HeartbeatAction: Sendable, Equatable {
        /// Nothing (the session is closed).
        case none
        /// Deliver the ping as `send` says, then fire again after `pingTimeout`.
        case sendPing(SendAction)
        /// No pong came in time.
        case close(CloseAction)
    }

    /// The current state.
    public private(set) var state: State
    /// Whether a ping is out and its pong not yet received.
    public private(set) var awaitingPong = false
    /// The bytes waiting in the outbox (polling) for back-pressure.
    public private(set) var bufferedBytes = 0
    private var outbox: [EnginePacket] = []

    /// A new session, opened over `transport`.
    public init(transport: EngineRequest.Transport) {
        self.state = transport == .polling ? .polling(PollingState()) : .webSocket
    }

    /// A GET poll arrived.
    public mutating func pollRequested() -> PollAction {
        switch self.state {
        case .closed:
            return .reject(.unknownSession)
        case .webSocket:
            return .reject(.badRequest)
        case .polling(var polling):
            if polling.pollPending {
                return .rejectDuplicate(self.close(reason: .transportError, pollAnswer: [.close])!)
            }
            if !self.outbox.isEmpty {
                return .respond(self.takePollBatch())
            }
            polling.pollPending = true
            polling.pollDuringUpgrade = polling.upgrade != .none
            self.state = .polling(polling)
            return polling.pollDuringUpgrade ? .parkDuringUpgrade : .park
        }
    }

    /// The grace period of a poll parked during an upgrade ended: answer it with `noop` if still parked.
    public mutating func upgradeGraceEnded() -> [EnginePacket]? {
        guard case .polling(var polling) = self.state, polling.pollPending, polling.pollDuringUpgrade else { return nil }
        polling.pollPending = false
        polling.pollDuringUpgrade = false
        self.state = .polling(polling)
        return [.noop]
    }

    /// The parked poll ended without an answer (its connection went away).
    public mutating func pollAbandoned() {
        guard case .polling(var polling) = self.state else { return }
        polling.pollPending = false
        self.state = .polling(polling)
    }

    /// The application sends packets.
    public mutating func send(_ packets: [EnginePacket]) -> SendAction {
        switch self.state {
        case .closed:
            return .dropped
        case .webSocket:
            return .writeWebSocket(packets)
        case .polling(var polling):
            self.outbox.append(contentsOf: packets)
            self.bufferedBytes += packets.reduce(0) { $0 + $1.byteCount }
            guard polling.pollPending else { return .buffered }
            polling.pollPending = false
            self.state = .polling(polling)
            return .completePoll(self.takePollBatch())
        }
    }

    /// A packet arrived from the client over `transport`.
    public mutating func received(_ packet: EnginePacket, over transport: EngineRequest.Transport) -> ReceiveAction {
        switch self.state {
        case .closed:
            return .none
        case .webSocket:
            guard transport == .webSocket else { return .close(self.close(reason: .transportError)!) }
            return self.receivedOnActiveTransport(packet)
        case .polling(var polling):
            if transport == .polling {
                return self.receivedOnActiveTransport(packet)
            }
            // A packet on the WebSocket that probes the upgrade.
            switch (packet, polling.upgrade) {
            case (.ping(EnginePacket.probeData), .attached):
                polling.upgrade = .probed
                // The poll parked before the WebSocket came ends now, so that the client can pause polling.
                let endPoll = polling.pollPending && !polling.pollDuringUpgrade
                if endPoll { polling.pollPending = false }
                self.state = .polling(polling)
                return .answerProbe(completePoll: endPoll ? [.noop] : nil)
            case (.upgrade, .probed):
                let poll: [EnginePacket]? = polling.pollPending && !polling.pollDuringUpgrade ? [.noop] : nil
                let reject = polling.pollPending && polling.pollDuringUpgrade
                self.state = .webSocket
                return .upgraded(completePoll: poll, rejectPoll: reject, flush: self.takeOutbox())
            default:
                return .close(self.close(reason: .parseError)!)
            }
        }
    }

    private mutating func receivedOnActiveTransport(_ packet: EnginePacket) -> ReceiveAction {
        switch packet {
        case .message(let message):
            return .deliver(message)
        case .pong:
            guard self.awaitingPong else { return .none }
            self.awaitingPong = false
            return .restartHeartbeat
        case .close:
            return .close(self.close(reason: .clientClose, pollAnswer: [.noop])!)
        case .noop:
            return .none
        case .open, .ping, .upgrade:
            return .close(self.close(reason: .parseError)!)
        }
    }

    /// A WebSocket with this session's id wants to join (the start of an upgrade).
    /// Returns false when the session cannot be upgraded (already upgraded, upgrading or closed).
    public mutating func webSocketAttached() -> Bool {
        guard case .polling(var polling) = self.state, polling.upgrade == .none else { return false }
        polling.upgrade = .attached
        self.state = .polling(polling)
        return true
    }

    /// The probing WebSocket went away before the upgrade completed: stay on polling.
    public mutating func webSocketDetached() {
        guard case .polling(var polling) = self.state else { return }
        polling.upgrade = .none
        self.state = .polling(polling)
    }

    /// The heartbeat timer fired.
    public mutating func heartbeatTimerFired() -> HeartbeatAction {
        if case .closed = self.state { return .none }
        if self.awaitingPong {
            return .close(self.close(reason: .pingTimeout)!)
        }
        self.awaitingPong = true
        return .sendPing(self.send([.ping(ByteBuffer())]))
    }

    /// Closes the session; nil when it was closed already.
    public mutating func close(reason: EngineCloseReason) -> CloseAction? {
        self.close(reason: reason, pollAnswer: [.close])
    }

    private mutating func close(reason: EngineCloseReason, pollAnswer: [EnginePacket]) -> CloseAction? {
        let pollPending: Bool
        switch self.state {
        case .closed:
            return nil
        case .webSocket:
            pollPending = false
        case .polling(let polling):
            pollPending = polling.pollPending
        }
        self.state = .closed
        self.outbox = []
        self.bufferedBytes = 0
        return CloseAction(reason: reason, completePoll: pollPending ? pollAnswer : nil)
    }

    /// At most this many packets answer one poll: python-engineio refuses a payload of more
    /// (its `max_decode_packets`), and would reconnect for ever on a backlog. The rest wait for
    /// the next poll, which a client sends as soon as it has the answer.
    public static let maxPacketsPerPoll = 16

    /// The outbox's first `maxPacketsPerPoll` packets, for a poll.
    private mutating func takePollBatch() -> [EnginePacket] {
        guard self.outbox.count > Self.maxPacketsPerPoll else { return self.takeOutbox() }
        let batch = Array(self.outbox.prefix(Self.maxPacketsPerPoll))
        self.outbox.removeFirst(Self.maxPacketsPerPoll)
        self.bufferedBytes -= batch.reduce(0) { $0 + $1.byteCount }
        return batch
    }

    /// Empties the outbox.
    private mutating func takeOutbox() -> [EnginePacket] {
        let packets = self.outbox
        self.outbox = []
        self.bufferedBytes = 0
        return packets
    }
}
