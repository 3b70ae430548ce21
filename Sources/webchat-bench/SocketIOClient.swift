import NIOCore
import NIOHTTP1
import NIOPosix
import NIOWebSocket
import SocketIO

/// What a scenario does with one client's traffic. Called on the client's event loop.
protocol SocketIOClientDelegate: AnyObject {
    /// The namespace CONNECT was accepted.
    func clientConnected(_ client: SocketIOClient)
    /// A server event; `ackID` is set when the server expects an ack.
    func client(_ client: SocketIOClient, event name: String, arguments: ArraySlice<JSONValue>, ackID: Int?)
    /// The server answered one of this client's acks.
    func client(_ client: SocketIOClient, ack id: Int, arguments: [JSONValue])
    /// CONNECT_ERROR, a protocol error or the connection closed.
    func clientClosed(_ client: SocketIOClient, error: String?)
    /// The events of one socket read were handed over (a moment to write what they caused).
    func clientReadComplete(_ client: SocketIOClient)
    /// An event or ack offered before it is decoded: true when the delegate handled it from the
    /// raw JSON; false has it decoded and delivered to the methods above.
    func client(_ client: SocketIOClient, raw packet: RawPacket) -> Bool
}

extension SocketIOClientDelegate {
    func clientReadComplete(_ client: SocketIOClient) {}
    func client(_ client: SocketIOClient, raw packet: RawPacket) -> Bool { false }
}

/// A Socket.IO event or ack of the main namespace, undecoded (see `RawJSON`).
struct RawPacket {
    enum Kind { case event, ack }
    let kind: Kind
    let ackID: Int?
    /// The packet's data: `["name", arguments...]` for an event, `[arguments...]` for an ack.
    let json: RawJSON
}

/// One Socket.IO v5 client over a direct Engine.IO v4 WebSocket, as a NIO handler.
///
/// It answers heartbeats itself and hands events and acks to its delegate. Everything
/// happens on the channel's event loop; nothing here is touched from another thread.
final class SocketIOClient: ChannelInboundHandler, @unchecked Sendable {
    // @unchecked Sendable: created inside the channel initializer and used only on that
    // channel's event loop afterwards (the bootstrap closures just need to carry it there).
    typealias InboundIn = WebSocketFrame
    typealias OutboundOut = WebSocketFrame

    /// The CONNECT auth payload, as JSON text.
    let authJSON: String
    /// Scenario data: which user, which pair or slot.
    let index: Int
    weak var delegate: (any SocketIOClientDelegate)?
    private var context: ChannelHandlerContext?
    /// The client's channel, set in `handlerAdded` on its event loop before `connect` hands the
    /// client out (the promise orders that write before any other thread's read), and never
    /// changed after: other threads use it to reach the loop and to close.
    private var channel: (any Channel)?
    private var nextAckID = 0
    private(set) var isConnected = false
    private var closed = false
    private var closeReason: String?
    private var lastPacket = ""
    /// Inside `channelRead`: frames written meanwhile are flushed once, at `channelReadComplete`
    /// (an ack, a receipt's ack and the next message share one syscall, as a real client's would).
    private var reading = false
    private var flushPending = false
    private var maskState = UInt64.random(in: 1 ... .max)

    init(authJSON: String, index: Int, delegate: any SocketIOClientDelegate) {
        self.authJSON = authJSON
        self.index = index
        self.delegate = delegate
    }

    /// Connects to `ws://host:port/socket.io/?EIO=4&transport=websocket` on `eventLoop`,
    /// optionally from `source` (a local address, to spread ephemeral ports).
    static func connect(
        host: String, port: Int, path: String, on eventLoop: any EventLoop, source: SocketAddress?,
        makeClient: @escaping @Sendable () -> SocketIOClient
    ) -> EventLoopFuture<SocketIOClient> {
        let ready = eventLoop.makePromise(of: SocketIOClient.self)
        var bootstrap = ClientBootstrap(group: eventLoop)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .connectTimeout(.seconds(10))
        if let source {
            bootstrap = bootstrap.bind(to: source)
        }
        let requestHead = path
        bootstrap = bootstrap.channelInitializer { channel in
            let writer = UpgradeRequestWriter(host: host, port: port, path: requestHead, failed: ready)
            let upgrader = NIOWebSocketClientUpgrader(maxFrameSize: 1 << 24) { channel, _ in
                let client = makeClient()
                return channel.pipeline.removeHandler(writer).flatMapThrowing {
                    try channel.pipeline.syncOperations.addHandlers([
                        NIOWebSocketFrameAggregator(minNonFinalFragmentSize: 0, maxAccumulatedFrameCount: 1 << 16, maxAccumulatedFrameSize: 1 << 24),
                        client,
                    ])
                    ready.succeed(client)
                }
            }
            let config: NIOHTTPClientUpgradeSendableConfiguration = (upgraders: [upgrader], completionHandler: { _ in })
            return channel.pipeline.addHTTPClientHandlers(leftOverBytesStrategy: .forwardBytes, withClientUpgrade: config).flatMap {
                channel.pipeline.addHandler(writer)
            }
        }
        bootstrap.connect(host: host, port: port).whenFailure { ready.fail($0) }
        return ready.futureResult
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        self.channel = context.channel
    }

    func channelInactive(context: ChannelHandlerContext) {
        finish(error: isConnected ? closeReason : "closed before connect (\(closeReason ?? "no close frame"), last packet \(lastPacket))")
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        finish(error: "\(error)")
        context.close(promise: nil)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        endBatch()
        delegate?.clientReadComplete(self)
        context.fireChannelReadComplete()
    }

    /// Runs `body` with this client's writes held back, then flushes them with one syscall
    /// (for writes caused by another client's read).
    func batchingWrites(_ body: () -> Void) {
        guard !reading else { return body() }
        reading = true
        body()
        endBatch()
    }

    /// Stops holding writes back and flushes what was held.
    private func endBatch() {
        reading = false
        if flushPending, let context {
            flushPending = false
            context.flush()
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        reading = true
        let frame = unwrapInboundIn(data)
        switch frame.opcode {
        case .text:
            handleEnginePacket(frame.unmaskedData)
        case .binary:
            break
        case .connectionClose:
            var data = frame.unmaskedData
            let code = data.readInteger(as: UInt16.self).map(String.init) ?? "none"
            closeReason = "close frame \(code) \(data.readString(length: data.readableBytes) ?? "")"
            context.close(promise: nil)
        case .ping:
            send(frame.unmaskedData, opcode: .pong)
        default:
            break
        }
    }

    private func handleEnginePacket(_ payload: ByteBuffer) {
        var payload = payload
        if !isConnected { lastPacket = String(buffer: payload) }
        guard let type = payload.readInteger(as: UInt8.self) else { return }
        switch type {
        case UInt8(ascii: "0"):  // open: join the main namespace
            sendText("40" + authJSON)
        case UInt8(ascii: "2"):  // ping
            sendText("3")
        case UInt8(ascii: "4"):
            handleSocketIOPacket(payload)
        case UInt8(ascii: "1"):
            close()
        default:
            break
        }
    }

    private func handleSocketIOPacket(_ payload: ByteBuffer) {
        if isConnected, let delegate, offerRaw(payload, to: delegate) { return }
        let packet: SocketIOPacket
        do {
            packet = try SocketIOPacket.decode(payload, maxAttachments: 0)
        } catch {
            finish(error: "bad packet: \(error)")
            close()
            return
        }
        switch packet.kind {
        case .connect:
            isConnected = true
            delegate?.clientConnected(self)
        case .event:
            guard case .array(let elements)? = packet.data, let name = elements.first?.stringValue else { return }
            delegate?.client(self, event: name, arguments: elements.dropFirst(), ackID: packet.ackID)
        case .ack:
            guard let id = packet.ackID else { return }
            delegate?.client(self, ack: id, arguments: packet.data?.arrayValue ?? [])
        case .connectError:
            finish(error: "connect error: \(packet.data.map { $0.jsonString } ?? "")")
            close()
        case .disconnect:
            close()
        default:
            break
        }
    }

    /// Offers an event or ack of the main namespace to the delegate's raw handler; false for
    /// anything else (other packets, namespaces, binary) or what the delegate leaves alone.
    private func offerRaw(_ payload: ByteBuffer, to delegate: any SocketIOClientDelegate) -> Bool {
        payload.withUnsafeReadableBytes { bytes in
            guard let type = bytes.first else { return false }
            let kind: RawPacket.Kind
            switch type {
            case UInt8(ascii: "2"): kind = .event
            case UInt8(ascii: "3"): kind = .ack
            default: return false
            }
            var index = 1
            var ackID: Int?
            while index < bytes.count, index < 18, bytes[index] >= UInt8(ascii: "0"), bytes[index] <= UInt8(ascii: "9") {
                ackID = (ackID ?? 0) * 10 + Int(bytes[index] - UInt8(ascii: "0"))
                index += 1
            }
            guard index < bytes.count, bytes[index] == UInt8(ascii: "[") else { return false }
            let json = RawJSON(bytes: UnsafeRawBufferPointer(rebasing: bytes[index...]))
            return delegate.client(self, raw: RawPacket(kind: kind, ackID: ackID, json: json))
        }
    }

    /// Emits an event whose JSON array `[name, arguments...]` `writeArray` writes straight into
    /// the frame's buffer (about `capacity` bytes); returns the ack id when `withAck`.
    @discardableResult
    func emit(withAck: Bool, capacity: Int, writeArray: (inout ByteBuffer) -> Void) -> Int? {
        guard let context else { return nil }
        var buffer = context.channel.allocator.buffer(capacity: capacity + 24)
        buffer.writeStaticString("42")
        var id: Int?
        if withAck {
            nextAckID += 1
            id = nextAckID
            buffer.writeDecimal(UInt64(nextAckID))
        }
        writeArray(&buffer)
        send(buffer, opcode: .text)
        return id
    }

    /// Emits `[name, argumentJSON]`; returns the ack id when `withAck`.
    @discardableResult
    func emit(_ name: String, argumentJSON: String, withAck: Bool) -> Int? {
        emit(withAck: withAck, capacity: name.utf8.count + argumentJSON.utf8.count) { buffer in
            buffer.writeStaticString("[\"")
            buffer.writeString(name)
            buffer.writeStaticString("\",")
            buffer.writeString(argumentJSON)
            buffer.writeStaticString("]")
        }
    }

    /// Acknowledges a server event with no arguments (`43<id>[]`): one per message and receipt
    /// received, written into the frame's buffer like `emit`'s.
    func ack(_ id: Int) {
        guard let context else { return }
        var buffer = context.channel.allocator.buffer(capacity: 24)
        buffer.writeStaticString("43")
        buffer.writeDecimal(UInt64(id))
        buffer.writeStaticString("[]")
        send(buffer, opcode: .text)
    }

    func close() {
        guard let context else { return }
        context.close(promise: nil)
    }

    /// The event loop of this client's channel, once it is in a pipeline. From any thread.
    var eventLoop: (any EventLoop)? { channel?.eventLoop }

    /// Closes the client from any thread (`Channel.close` hops to the channel's event loop;
    /// `context` may only be touched there). The future completes once the channel is closed
    /// and its handlers (this one's `clientClosed` too) have seen it.
    @discardableResult
    func channelClose() -> EventLoopFuture<Void>? {
        guard let channel else { return nil }
        channel.close(promise: nil)
        return channel.closeFuture
    }

    private func sendText(_ text: String) {
        guard let context else { return }
        var buffer = context.channel.allocator.buffer(capacity: text.utf8.count)
        buffer.writeString(text)
        send(buffer, opcode: .text)
    }

    private func send(_ buffer: ByteBuffer, opcode: WebSocketOpcode) {
        guard let context, !closed else { return }
        let frame = WebSocketFrame(fin: true, opcode: opcode, maskKey: nextMaskKey(), data: buffer)
        if reading {
            context.write(wrapOutboundOut(frame), promise: nil)
            flushPending = true
        } else {
            context.writeAndFlush(wrapOutboundOut(frame), promise: nil)
        }
    }

    /// Masking keys from a per-client xorshift generator seeded at random: `.random()` read the
    /// system generator (a `getrandom` call) per frame. A client's keys only have to be
    /// unpredictable to other parties on the path (RFC 6455 §10.3), not cryptographically strong,
    /// for a load generator on loopback.
    private func nextMaskKey() -> WebSocketMaskingKey {
        maskState ^= maskState << 13
        maskState ^= maskState >> 7
        maskState ^= maskState << 17
        return withUnsafeBytes(of: UInt32(truncatingIfNeeded: maskState)) { WebSocketMaskingKey($0)! }
    }

    private func finish(error: String?) {
        guard !closed else { return }
        closed = true
        delegate?.clientClosed(self, error: error)
    }
}

/// Closes `clients` and waits until every one is closed (their `clientClosed` calls made).
func closeAll(_ clients: [SocketIOClient?]) async {
    for future in clients.compactMap({ $0?.channelClose() }) {
        try? await future.get()
    }
}

/// Sends the HTTP GET that the WebSocket upgrader turns into an upgrade request.
private final class UpgradeRequestWriter: ChannelInboundHandler, RemovableChannelHandler, Sendable {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundOut = HTTPClientRequestPart

    let host: String
    let port: Int
    let path: String
    let failed: EventLoopPromise<SocketIOClient>

    init(host: String, port: Int, path: String, failed: EventLoopPromise<SocketIOClient>) {
        self.host = host
        self.port = port
        self.path = path
        self.failed = failed
    }

    func channelActive(context: ChannelHandlerContext) {
        var headers = HTTPHeaders()
        headers.add(name: "Host", value: "\(host):\(port)")
        headers.add(name: "Content-Length", value: "0")
        let head = HTTPRequestHead(version: .http1_1, method: .GET, uri: path, headers: headers)
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        // A plain HTTP answer means the upgrade was refused.
        if case .head(let head) = unwrapInboundIn(data) {
            failed.fail(BenchError("websocket upgrade refused: \(head.status.code)"))
        }
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        failed.fail(BenchError("connection closed during upgrade"))
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        failed.fail(error)
        context.close(promise: nil)
    }
}

/// A bench failure with a message for the operator.
struct BenchError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
