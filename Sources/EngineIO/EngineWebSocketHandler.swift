import NIOCore
import NIOWebSocket
import Synchronization

/// One Engine.IO WebSocket as a channel handler behind NIO's frame decoder and encoder.
///
/// The connection needs no task: inbound frames are reassembled here and handed to the session on
/// the event loop, and the session's frames are written to the channel by ``ChannelWriter``.
final class EngineWebSocketHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = WebSocketFrame
    typealias OutboundOut = WebSocketFrame

    /// What the WebSocket is for.
    enum Role {
        /// A new session over this WebSocket.
        case open(EngineRequest, EngineAdmission)
        /// The upgrade of a polling session.
        case upgrade(EngineSession)
        /// Nothing: close it at once.
        case close
    }

    private let server: EngineIOServer
    private var role: Role?
    private var session: EngineSession?
    private var token = 0
    /// A fragmented message being reassembled.
    private var partial: (isText: Bool, data: ByteBuffer)?
    private var closeSent = false

    init(server: EngineIOServer, role: Role) {
        self.server = server
        self.role = role
    }

    func handlerAdded(context: ChannelHandlerContext) {
        guard let role = self.role else { return }
        self.role = nil
        let token = self.server.makeToken()
        switch role {
        case .open(let request, let admission):
            let session = self.server.openSession(request: request, transport: .webSocket, admission: admission)
            self.session = session
            self.token = token
            session.attachWebSocket(.init(token: token, writer: ChannelWriter(channel: context.channel, session: session)))
        case .upgrade(let session):
            guard session.attachProbe(.init(token: token, writer: ChannelWriter(channel: context.channel, session: session))) else {
                self.close(context: context, code: .normalClosure)
                return
            }
            self.session = session
            self.token = token
        case .close:
            self.close(context: context, code: .normalClosure)
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = self.unwrapInboundIn(data)
        guard self.session != nil, !self.closeSent else { return }
        // RFC 6455 §5.1: a client's frames are masked, and a server closes on one that is not.
        guard !frame.rsv1, !frame.rsv2, !frame.rsv3, frame.maskKey != nil else {
            self.close(context: context, code: .protocolError)
            return
        }
        switch frame.opcode {
        case .text, .binary:
            guard self.partial == nil else {
                self.close(context: context, code: .protocolError)
                return
            }
            self.append(frame, to: (frame.opcode == .text, ByteBuffer()), context: context)
        case .continuation:
            guard let partial = self.partial else {
                self.close(context: context, code: .protocolError)
                return
            }
            self.partial = nil
            self.append(frame, to: partial, context: context)
        case .ping:
            guard frame.fin else {
                self.close(context: context, code: .protocolError)
                return
            }
            context.writeAndFlush(self.wrapOutboundOut(WebSocketFrame(fin: true, opcode: .pong, data: frame.unmaskedData)), promise: nil)
        case .pong:
            break
        case .connectionClose:
            var data = frame.unmaskedData
            let code = data.readWebSocketErrorCode() ?? .normalClosure
            self.close(context: context, code: code)
        default:
            self.close(context: context, code: .protocolError)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.session?.webSocketEnded(token: self.token)
        self.session = nil
        context.fireChannelInactive()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? ChannelEvent, event == .inputClosed {
            context.close(promise: nil)
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }

    /// Adds a frame to a message; a complete one goes to the session, an oversized one closes.
    private func append(_ frame: WebSocketFrame, to message: (isText: Bool, data: ByteBuffer), context: ChannelHandlerContext) {
        var message = message
        var data = frame.unmaskedData
        if message.data.readableBytes == 0 {
            message.data = data
        } else {
            message.data.writeBuffer(&data)
        }
        guard message.data.readableBytes <= self.server.configuration.maxPayload else {
            self.close(context: context, code: .messageTooLarge)
            return
        }
        guard frame.fin else {
            self.partial = message
            return
        }
        guard let session = self.session else { return }
        if message.isText {
            // RFC 6455 §8.1: a text message that is not UTF-8 fails the connection (1007), as an
            // invalid polling payload does. ASCII (the usual case) is valid as it is.
            guard Self.isASCII(message.data) || Self.isUTF8(message.data) else {
                self.close(context: context, code: .dataInconsistentWithMessage)
                return
            }
            session.receive(webSocketText: message.data, token: self.token)
        } else {
            session.receive(webSocketBinary: message.data, token: self.token)
        }
    }

    private static func isASCII(_ buffer: ByteBuffer) -> Bool {
        buffer.withUnsafeReadableBytes { bytes in
            var combined: UInt8 = 0
            for byte in bytes { combined |= byte }
            return combined < 0x80
        }
    }

    private static func isUTF8(_ buffer: ByteBuffer) -> Bool {
        buffer.withUnsafeReadableBytes { bytes in String(validating: bytes, as: UTF8.self) != nil }
    }

    /// Sends a close frame (once) and closes the channel.
    private func close(context: ChannelHandlerContext, code: WebSocketErrorCode) {
        guard !self.closeSent else { return }
        self.closeSent = true
        var data = context.channel.allocator.buffer(capacity: 2)
        data.write(webSocketErrorCode: code)
        let channel = context.channel
        context.writeAndFlush(self.wrapOutboundOut(WebSocketFrame(fin: true, opcode: .connectionClose, data: data))).whenComplete { _ in
            channel.close(promise: nil)
        }
    }
}

extension EngineWebSocketHandler {
    /// Writes a session's frames to the channel, in the order the session wrote them.
    ///
    /// Frames queued before the event loop gets to them go out together with one flush (one
    /// `writev`), and only the first of them costs a task on the loop: a message, its ack and a
    /// receipt for the same connection often arrive together, and a flush per frame was a
    /// syscall per frame.
    final class ChannelWriter: EngineWebSocketWriter {
        private struct Pending {
            var frames: [WebSocketFrame] = []
            var byteCount = 0
            /// A flush task is queued on the loop.
            var scheduled = false
        }

        let channel: any Channel
        let session: EngineSession
        private let pending = Mutex(Pending())

        init(channel: any Channel, session: EngineSession) {
            self.channel = channel
            self.session = session
        }

        func write(_ frame: EngineSession.Frame) {
            let wsFrame = WebSocketFrame(fin: true, opcode: frame.isText ? .text : .binary, data: frame.data)
            let schedule = self.pending.withLock { pending -> Bool in
                pending.frames.append(wsFrame)
                pending.byteCount += frame.byteCount
                if pending.scheduled { return false }
                pending.scheduled = true
                return true
            }
            // Always through the loop's queue, never inline: writes from the loop and from other
            // threads then keep the order in which the session made them.
            if schedule { self.channel.eventLoop.execute { self.flush() } }
        }

        /// Writes what is pending and flushes once; the session hears of the bytes when the last is written.
        private func flush() {
            let (frames, byteCount) = self.pending.withLock { pending -> ([WebSocketFrame], Int) in
                defer { pending = Pending() }
                return (pending.frames, pending.byteCount)
            }
            guard let last = frames.last else { return }
            for frame in frames.dropLast() { self.channel.write(frame, promise: nil) }
            let session = self.session
            self.channel.writeAndFlush(last).whenComplete { _ in session.didWrite(byteCount: byteCount) }
        }

        func finish() {
            let channel = self.channel
            // Queued behind a pending flush, so the frames before it still go out.
            channel.eventLoop.execute {
                var data = channel.allocator.buffer(capacity: 2)
                data.write(webSocketErrorCode: .normalClosure)
                channel.writeAndFlush(WebSocketFrame(fin: true, opcode: .connectionClose, data: data)).whenComplete { _ in
                    channel.close(promise: nil)
                }
            }
        }
    }
}
