import Logging
import NIOCore
import NIOPosix
import Synchronization
import WSCore

/// One Engine.IO session: the I/O around an ``EngineSessionStateMachine``.
///
/// It holds no task of its own: polls park as continuations, timers are event-loop scheduled tasks,
/// and a WebSocket's writes go to that connection's ``EngineWebSocketWriter``.
public final class EngineSession: Sendable {
    /// A frame for the WebSocket writer; its size counts for back-pressure.
    struct Frame: Sendable {
        /// A text frame (an encoded packet), else a binary one (an attachment).
        var isText: Bool
        var data: ByteBuffer

        var byteCount: Int { self.data.readableBytes }
    }

    /// One attached WebSocket: its writer and a token that tells it apart from a later one.
    struct WebSocketLink: Sendable {
        var token: Int
        var writer: any EngineWebSocketWriter
    }

    private struct Inner: Sendable {
        var machine: EngineSessionStateMachine
        var pendingPoll: CheckedContinuation<Result<[EnginePacket], EngineHTTPError>, Never>?
        var webSocket: WebSocketLink?
        var probe: WebSocketLink?
        var webSocketBytes = 0
        var timer: Scheduled<Void>?
        var delegate: (any EngineSessionDelegate)?
        var writableWaiters: [CheckedContinuation<Void, Never>] = []
        var postInFlight = false
    }

    /// The session id (`sid`).
    public let id: String
    /// The handshake request: its headers and query (unpacked on each read).
    public var request: EngineRequest { self.packedRequest.request }
    private let packedRequest: PackedRequest
    let configuration: EngineIOConfiguration
    private let eventLoop: any EventLoop
    private let inner: Mutex<Inner>
    private let onClose: @Sendable (EngineSession) -> Void

    init(
        id: String,
        request: EngineRequest,
        transport: EngineRequest.Transport,
        configuration: EngineIOConfiguration,
        onClose: @escaping @Sendable (EngineSession) -> Void
    ) {
        self.id = id
        self.packedRequest = PackedRequest(request)
        self.configuration = configuration
        self.eventLoop = MultiThreadedEventLoopGroup.singleton.any()
        self.inner = Mutex(Inner(machine: EngineSessionStateMachine(transport: transport)))
        self.onClose = onClose
    }

    /// Installs the delegate and starts the heartbeat.
    func start(delegate: any EngineSessionDelegate) {
        self.inner.withLock { $0.delegate = delegate }
        self.scheduleHeartbeat(after: self.configuration.pingInterval)
    }

    /// The handshake's `open` packet.
    func openPacket(upgrades: Bool) -> EnginePacket {
        let json = #"{"sid":"\#(self.id)","upgrades":[\#(upgrades ? #""websocket""# : "")],"pingInterval":\#(self.configuration.pingInterval.milliseconds),"pingTimeout":\#(self.configuration.pingTimeout.milliseconds),"maxPayload":\#(self.configuration.maxPayload)}"#
        return .open(ByteBuffer(string: json))
    }

    // MARK: Application side

    /// Whether the session is closed.
    public var isClosed: Bool {
        self.inner.withLock { $0.machine.state == .closed }
    }

    /// Sends messages in order; returns false when the session is closed.
    @discardableResult
    public func send(_ messages: [EngineMessage]) -> Bool {
        self.send(packets: messages.map { .message($0) })
    }

    /// Sends one message; returns false when the session is closed.
    @discardableResult
    public func send(_ message: EngineMessage) -> Bool {
        self.send(packets: [.message(message)])
    }

    /// Whether ``waitUntilWritable()`` would return at once.
    public var isWritable: Bool {
        self.inner.withLock { self.isWritable($0) }
    }

    /// Suspends while more than `outboundHighWatermark` bytes wait to be sent; returns at once when closed.
    public func waitUntilWritable() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let ready = self.inner.withLock { inner -> Bool in
                if self.isWritable(inner) { return true }
                inner.writableWaiters.append(continuation)
                return false
            }
            if ready { continuation.resume() }
        }
    }

    /// Closes the session (pending poll answered with `close`, WebSocket closed).
    public func close() {
        self.close(reason: .serverClose)
    }

    // MARK: Transport side

    /// A GET poll: returns the packets to answer with, or throws the HTTP error to answer with.
    func poll() async throws(EngineHTTPError) -> [EnginePacket] {
        var graceTimer = false
        let result = await withCheckedContinuation { (continuation: CheckedContinuation<Result<[EnginePacket], EngineHTTPError>, Never>) in
            var effects = Effects()
            let action = self.inner.withLock { inner -> EngineSessionStateMachine.PollAction in
                let action = inner.machine.pollRequested()
                switch action {
                case .park, .parkDuringUpgrade:
                    inner.pendingPoll = continuation
                case .respond:
                    self.drainWaiters(&inner, into: &effects)
                case .reject:
                    break
                case .rejectDuplicate(let close):
                    effects = self.closeLocked(&inner, close)
                }
                return action
            }
            effects.perform(self)
            switch action {
            case .park:
                break
            case .parkDuringUpgrade:
                graceTimer = true
            case .respond(let packets):
                continuation.resume(returning: .success(packets))
            case .reject(let error):
                continuation.resume(returning: .failure(error))
            case .rejectDuplicate:
                continuation.resume(returning: .failure(.badRequest))
            }
            if graceTimer {
                _ = self.schedule(after: Self.upgradeGrace) { [weak self] in self?.upgradeGraceEnded() }
            }
        }
        return try result.get()
    }

    /// How long a poll that arrives during an upgrade waits for the upgrade to complete.
    static let upgradeGrace = Duration.milliseconds(100)

    private func upgradeGraceEnded() {
        let answer = self.inner.withLock { inner -> (CheckedContinuation<Result<[EnginePacket], EngineHTTPError>, Never>, [EnginePacket])? in
            guard let packets = inner.machine.upgradeGraceEnded(), let poll = inner.pendingPoll else { return nil }
            inner.pendingPoll = nil
            return (poll, packets)
        }
        if let (poll, packets) = answer { poll.resume(returning: .success(packets)) }
    }

    /// Marks the start of a POST; false when another one is in flight (which the reference refuses).
    func beginPost() -> Bool {
        self.inner.withLock { inner in
            if inner.postInFlight { return false }
            inner.postInFlight = true
            return true
        }
    }

    /// Marks the end of a POST.
    func endPost() {
        self.inner.withLock { $0.postInFlight = false }
    }

    /// A POST body: returns false (after closing the session) when it is malformed.
    func receive(payload: ByteBuffer) -> Bool {
        let packets: [EnginePacket]
        do {
            packets = try EnginePayload.decode(payload)
        } catch {
            self.close(reason: .parseError)
            return false
        }
        for packet in packets {
            if case .close = packet {
                // A client closing its session: answered "ok", as the reference server does.
                let wasOpen = !self.isClosed
                self.receive(packet, over: .polling)
                return wasOpen
            }
            self.receive(packet, over: .polling)
        }
        return !self.isClosed
    }

    /// Attaches the WebSocket of a session opened directly over WebSocket and sends the handshake.
    func attachWebSocket(_ link: WebSocketLink) {
        let open = self.openPacket(upgrades: false)
        self.inner.withLock { inner in
            inner.webSocket = link
            Self.write([open], to: link, &inner)
        }
    }

    /// Attaches a WebSocket that wants to upgrade this polling session; false when it may not.
    func attachProbe(_ link: WebSocketLink) -> Bool {
        self.inner.withLock { inner in
            guard inner.machine.webSocketAttached() else { return false }
            inner.probe = link
            return true
        }
    }

    /// Whether the session runs over a WebSocket (opened there, or upgraded).
    var isOnWebSocket: Bool {
        self.inner.withLock { inner in
            if case .webSocket = inner.machine.state { return true }
            return false
        }
    }

    /// Whether a WebSocket could start an upgrade now.
    var canUpgrade: Bool {
        self.inner.withLock { inner in
            if case .polling(let polling) = inner.machine.state, polling.upgrade == .none { return true }
            return false
        }
    }

    /// A WebSocket message from the connection `token` (Hummingbird's WebSocket handler).
    func receive(webSocket message: WebSocketMessage, token: Int) {
        switch message {
        case .text(let text):
            self.receive(webSocketText: ByteBuffer(string: text), token: token)
        case .binary(let bytes):
            self.receive(webSocketBinary: bytes, token: token)
        }
    }

    /// A text message (an encoded packet) from the WebSocket `token`.
    func receive(webSocketText text: ByteBuffer, token: Int) {
        let packet: EnginePacket
        do {
            packet = try EnginePacket.decode(text: text)
        } catch {
            self.close(reason: .parseError)
            return
        }
        self.receive(packet, over: .webSocket)
    }

    /// A binary message (an attachment) from the WebSocket `token`.
    func receive(webSocketBinary bytes: ByteBuffer, token: Int) {
        self.receive(.message(.binary(bytes)), over: .webSocket)
    }

    /// The WebSocket `token` ended.
    func webSocketEnded(token: Int) {
        let isMain = self.inner.withLock { inner -> Bool in
            if inner.probe?.token == token {
                inner.probe = nil
                inner.machine.webSocketDetached()
                return false
            }
            return inner.webSocket?.token == token
        }
        if isMain { self.close(reason: .transportClose) }
    }

    /// The connection of a long poll closed before the poll's answer was written
    /// (``PollConnectionWatch``): the session closes, unless it moved to a WebSocket meanwhile.
    func pollConnectionClosed() {
        guard !self.isOnWebSocket else { return }
        self.close(reason: .transportClose)
    }

    /// A frame of `byteCount` bytes has been written to the WebSocket.
    func didWrite(byteCount: Int) {
        var effects = Effects()
        self.inner.withLock { inner in
            inner.webSocketBytes -= byteCount
            self.drainWaiters(&inner, into: &effects)
        }
        effects.perform(self)
    }

    // MARK: Internals

    private func receive(_ packet: EnginePacket, over transport: EngineRequest.Transport) {
        var delivery: (any EngineSessionDelegate, EngineMessage)?
        var restart = false
        let effects = self.inner.withLock { inner -> Effects in
            var effects = Effects()
            switch inner.machine.received(packet, over: transport) {
            case .none:
                break
            case .deliver(let message):
                if let delegate = inner.delegate { delivery = (delegate, message) }
            case .restartHeartbeat:
                restart = true
            case .answerProbe(let poll):
                if let probe = inner.probe { Self.write([.pong(EnginePacket.probeData)], to: probe, &inner) }
                if let poll { effects.poll = (inner.pendingPoll, .success(poll)); inner.pendingPoll = nil }
            case .upgraded(let poll, let reject, let flush):
                if let poll { effects.poll = (inner.pendingPoll, .success(poll)); inner.pendingPoll = nil }
                if reject { effects.poll = (inner.pendingPoll, .failure(.badRequest)); inner.pendingPoll = nil }
                inner.webSocket = inner.probe
                inner.probe = nil
                if let link = inner.webSocket { Self.write(flush, to: link, &inner) }
            case .close(let close):
                effects = self.closeLocked(&inner, close)
            }
            return effects
        }
        effects.perform(self)
        if restart { self.scheduleHeartbeat(after: self.configuration.pingInterval) }
        if let (delegate, message) = delivery { delegate.session(self, didReceive: message) }
    }

    private func send(packets: [EnginePacket]) -> Bool {
        let (sent, effects) = self.inner.withLock { inner -> (Bool, Effects) in
            var effects = Effects()
            let sent = self.apply(inner.machine.send(packets), &inner, &effects)
            return (sent, effects)
        }
        effects.perform(self)
        return sent
    }

    private func apply(_ action: EngineSessionStateMachine.SendAction, _ inner: inout Inner, _ effects: inout Effects) -> Bool {
        switch action {
        case .buffered:
            return true
        case .completePoll(let packets):
            effects.poll = (inner.pendingPoll, .success(packets))
            inner.pendingPoll = nil
            self.drainWaiters(&inner, into: &effects)
            return true
        case .writeWebSocket(let packets):
            if let link = inner.webSocket { Self.write(packets, to: link, &inner) }
            return true
        case .dropped:
            return false
        }
    }

    private func close(reason: EngineCloseReason) {
        let effects = self.inner.withLock { inner -> Effects in
            guard let close = inner.machine.close(reason: reason) else { return Effects() }
            return self.closeLocked(&inner, close)
        }
        effects.perform(self)
    }

    private func closeLocked(_ inner: inout Inner, _ close: EngineSessionStateMachine.CloseAction) -> Effects {
        var effects = Effects()
        if let packets = close.completePoll {
            effects.poll = (inner.pendingPoll, .success(packets))
        }
        inner.pendingPoll = nil
        inner.webSocket?.writer.finish()
        inner.probe?.writer.finish()
        inner.webSocket = nil
        inner.probe = nil
        inner.timer?.cancel()
        inner.timer = nil
        effects.waiters = inner.writableWaiters
        inner.writableWaiters = []
        effects.closed = (inner.delegate, close.reason)
        inner.delegate = nil
        return effects
    }

    private static func write(_ packets: [EnginePacket], to link: WebSocketLink, _ inner: inout Inner) {
        for packet in packets {
            let frame: Frame
            switch packet {
            case .message(.binary(let bytes)):
                frame = Frame(isText: false, data: bytes)
            default:
                // Sized for the packet: an empty buffer grew twice for it (its first byte, then the data).
                var buffer = ByteBufferAllocator().buffer(capacity: packet.byteCount)
                packet.encodeText(into: &buffer)
                frame = Frame(isText: true, data: buffer)
            }
            inner.webSocketBytes += frame.byteCount
            link.writer.write(frame)
        }
    }

    private func isWritable(_ inner: Inner) -> Bool {
        inner.machine.state == .closed
            || inner.machine.bufferedBytes + inner.webSocketBytes < self.configuration.outboundHighWatermark
    }

    private func drainWaiters(_ inner: inout Inner, into effects: inout Effects) {
        guard !inner.writableWaiters.isEmpty, self.isWritable(inner) else { return }
        effects.waiters += inner.writableWaiters
        inner.writableWaiters = []
    }

    private func scheduleHeartbeat(after delay: Duration) {
        let scheduled = self.schedule(after: delay) { [weak self] in
            self?.heartbeatFired()
        }
        let previous = self.inner.withLock { inner -> Scheduled<Void>? in
            let previous = inner.timer
            inner.timer = inner.machine.state == .closed ? nil : scheduled
            return previous
        }
        previous?.cancel()
        if self.isClosed { scheduled.cancel() }
    }

    private func heartbeatFired() {
        var sendPing = false
        let effects = self.inner.withLock { inner -> Effects in
            var effects = Effects()
            switch inner.machine.heartbeatTimerFired() {
            case .none:
                break
            case .sendPing(let action):
                _ = self.apply(action, &inner, &effects)
                sendPing = true
            case .close(let close):
                effects = self.closeLocked(&inner, close)
            }
            return effects
        }
        effects.perform(self)
        if sendPing { self.scheduleHeartbeat(after: self.configuration.pingTimeout) }
    }

    /// What to do once the lock is released.
    private struct Effects {
        var poll: (CheckedContinuation<Result<[EnginePacket], EngineHTTPError>, Never>?, Result<[EnginePacket], EngineHTTPError>)?
        var waiters: [CheckedContinuation<Void, Never>] = []
        var closed: ((any EngineSessionDelegate)?, EngineCloseReason)?

        func perform(_ session: EngineSession) {
            if let (continuation, result) = self.poll { continuation?.resume(returning: result) }
            for waiter in self.waiters { waiter.resume() }
            if let (delegate, reason) = self.closed {
                session.onClose(session)
                delegate?.sessionDidClose(session, reason: reason)
            }
        }
    }
}

extension EngineSession {
    /// Runs `work` after `delay` on the session's event loop (no task is created); cancel the
    /// returned handle to stop it.
    public func schedule(after delay: Duration, _ work: @escaping @Sendable () -> Void) -> Scheduled<Void> {
        let amount = TimeAmount.milliseconds(delay.milliseconds)
        return self.eventLoop.scheduleTask(in: amount) { work() }
    }
}
