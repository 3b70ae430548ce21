import HTTPTypes
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import NIOHTTP1
import NIOHTTPTypes
import NIOHTTPTypesHTTP1
import NIOWebSocket

/// Hummingbird's HTTP/1 server connection with the Engine.IO WebSocket upgrade done in channel
/// handlers: once a connection is upgraded its task returns, and the WebSocket lives on in the
/// channel's pipeline (``EngineWebSocketHandler``) without a task or stream buffers of its own.
/// Requests that are not upgraded run through the router as with `.http1WebSocketUpgrade`.
struct EngineIOChildChannel: ServerChildChannel, HTTPChannelHandler {
    /// How the connection's HTTP/1 upgrade ended.
    enum UpgradeResult: Sendable {
        /// The channel is a WebSocket now; its handlers run it.
        case webSocket
        /// Plain HTTP; `ended` completes when the client closes its side (or the connection goes).
        case notUpgraded(NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>, ended: EventLoopFuture<Void>)
        /// A WebSocket upgrade was asked for and refused, for this reason.
        case failedUpgrade(NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>, EngineHTTPError)
    }

    /// The connection, with the outcome of its upgrade.
    struct Value: ServerChildChannelValue {
        let upgradeResult: EventLoopFuture<UpgradeResult>
        let channel: any Channel
    }

    let responder: HTTPChannelHandler.Responder
    /// The endpoints, asked in turn for each WebSocket upgrade.
    let servers: [EngineIOServer]
    let http1: HTTP1Channel.Configuration
    /// How long a new connection may take to send its first request head.
    let firstHeadTimeout: TimeAmount
    /// How long a request may take to arrive whole once its head is in (``RequestDeadline``).
    let requestTimeout: TimeAmount

    init(responder: @escaping HTTPChannelHandler.Responder, servers: [EngineIOServer], http1: HTTP1Channel.Configuration,
         firstHeadTimeout: TimeAmount, requestTimeout: TimeAmount) {
        self.responder = Self.redirectingLateUpgrades(responder)
        self.servers = servers
        self.http1 = http1
        self.firstHeadTimeout = firstHeadTimeout
        self.requestTimeout = requestTimeout
    }

    /// Receive buffers start at 512 bytes instead of NIO's 2,048 and grow with what arrives. Every
    /// channel keeps its last receive buffer for reuse, so on an idle WebSocket this is most of
    /// what the transport costs; upgrade requests and chat frames are mostly smaller than this.
    static let receiveBuffers = AdaptiveRecvByteBufferAllocator(minimum: 64, initial: 512, maximum: 65536)

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        channel.eventLoop.makeCompletedFuture {
            try channel.syncOptions?.setOption(ChannelOptions.recvAllocator, value: Self.receiveBuffers)
            let servers = self.servers
            let http1 = self.http1
            let requestTimeout = self.requestTimeout
            // Set by `shouldUpgrade`, read by the pipeline setup that follows on the same loop.
            let decision = NIOLoopBoundBox<(EngineIOServer, EngineIOServer.WebSocketDecision)?>(nil, eventLoop: channel.eventLoop)
            let upgrader = NIOTypedWebSocketServerUpgrader<UpgradeResult>(
                maxFrameSize: max(servers.map(\.configuration.maxPayload).max() ?? 0, 1 << 14),
                shouldUpgrade: { channel, head in
                    let request = try? HTTPRequest(head, secure: false, splitCookie: false)
                    let verdict = request.flatMap { request in
                        servers.lazy.compactMap { server in
                            server.webSocketDecision(for: request, remoteAddress: channel.remoteAddress).map { (server, $0) }
                        }.first
                    }
                    decision.value = verdict ?? (servers[0], .refuse(.badRequest))
                    if case .refuse = decision.value?.1 { return channel.eventLoop.makeSucceededFuture(nil) }
                    return channel.eventLoop.makeSucceededFuture(HTTPHeaders())
                },
                upgradePipelineHandler: { channel, _ in
                    channel.eventLoop.makeCompletedFuture {
                        guard let (server, verdict) = decision.value else { throw ChannelError.inappropriateOperationForState }
                        let role: EngineWebSocketHandler.Role
                        switch verdict {
                        case .open(let request, let admission): role = .open(request, admission)
                        case .upgrade(let session): role = .upgrade(session)
                        case .acceptAndClose, .refuse: role = .close
                        }
                        decision.value = nil
                        try channel.pipeline.syncOperations.addHandler(EngineWebSocketHandler(server: server, role: role))
                        return UpgradeResult.webSocket
                    }
                }
            )
            let upgrades = NIOTypedHTTPServerUpgradeConfiguration<UpgradeResult>(
                upgraders: [upgrader],
                notUpgradingCompletionHandler: { channel in
                    channel.eventLoop.makeCompletedFuture {
                        let operations = channel.pipeline.syncOperations
                        let ended = ConnectionEndWatcher(channel.eventLoop)
                        try operations.addHandler(ended, position: .first)
                        try operations.addHandler(HTTP1ToHTTPServerCodec(secure: false))
                        try operations.addHandler(RequestDeadline(limit: requestTimeout))
                        try operations.addHandlers(http1.additionalChannelHandlers())
                        try operations.addHandler(HTTPConnectionStateHandler(idleTimeout: http1.idleTimeout.map { .init($0) }, logger: logger))
                        let asyncChannel = try NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>(
                            wrappingChannelSynchronously: channel,
                            configuration: .init(isOutboundHalfClosureEnabled: true)
                        )
                        guard let (_, verdict) = decision.value else { return .notUpgraded(asyncChannel, ended: ended.future) }
                        guard case .refuse(let error) = verdict else { return .failedUpgrade(asyncChannel, .badRequest) }
                        return .failedUpgrade(asyncChannel, error)
                    }
                }
            )
            var configuration = NIOUpgradableHTTPServerPipelineConfiguration<UpgradeResult>(upgradeConfiguration: upgrades)
            configuration.enablePipelining = false
            configuration.enableErrorHandling = false
            configuration.enableResponseHeaderValidation = false
            configuration.decoderConfiguration.maxHeaderFieldSize = http1.httpDecoder.maxHeaderFieldSize
            configuration.decoderConfiguration.maxHeaderListSize = http1.httpDecoder.maxHeaderListSize
            configuration.decoderConfiguration.maxHeaderFieldCount = http1.httpDecoder.maxHeaderFieldCount
            let result = try channel.pipeline.syncOperations.configureUpgradableHTTPServerPipeline(configuration: configuration)
            let parseErrors = AnsweringFirstRequestParseErrors()
            try channel.pipeline.syncOperations.addHandler(parseErrors)
            // A connection that has not sent a whole first request head by then is closed
            // (a client trickling a header a byte at a time would otherwise hold it for ever).
            let headTimeout = channel.eventLoop.scheduleTask(in: self.firstHeadTimeout) { channel.close(promise: nil) }
            result.whenComplete { _ in
                headTimeout.cancel()
                parseErrors.firstRequestDone = true
                // Not kept for the life of the connection (an idle WebSocket's memory counts).
                channel.pipeline.syncOperations.removeHandler(parseErrors, promise: nil)
            }
            return Value(upgradeResult: result, channel: channel)
        }
    }

    func handle(value: Value, logger: Logger) async {
        do {
            switch try await value.upgradeResult.get() {
            case .webSocket:
                // The pipeline runs the WebSocket; this connection's task ends here.
                return
            case .notUpgraded(let http1, let ended):
                // Long polls watch it (``PollConnectionWatch``).
                await EngineIOServer.$requestConnectionEnded.withValue(ended) {
                    await self.handleHTTP(asyncChannel: http1, logger: logger)
                }
            case .failedUpgrade(let http1, let error):
                await Self.answerFailedUpgrade(http1, error, logger: logger)
            }
        } catch let error as ChannelError where error == .inputClosed {
            logger.trace("upgrade failed as input was closed")
        } catch {
            logger.debug("error handling the upgrade", metadata: ["error": "\(error)"])
        }
    }

    /// As the reference server's refused upgrade: 400 with the reason's message as text (for a
    /// refused `Origin` too, where polling answers 403), and the connection closes.
    private static func answerFailedUpgrade(_ channel: NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>, _ error: EngineHTTPError,
                                            logger: Logger) async {
        do {
            try await channel.executeThenClose { _, outbound in
                let body = ByteBuffer(string: error.message)
                let head = HTTPResponse(status: .badRequest, headerFields: [
                    .connection: "close", .contentType: "text/html", .contentLength: "\(body.readableBytes)",
                ])
                try await outbound.write(contentsOf: [.head(head), .body(body), .end(nil)])
            }
        } catch {
            logger.trace("could not answer a failed upgrade", metadata: ["error": "\(error)"])
        }
    }

    /// As `.http1WebSocketUpgrade`: NIO upgrades only a connection's first request, so a later
    /// request asking for a WebSocket is redirected to the same URI on a new connection.
    private static func redirectingLateUpgrades(_ responder: @escaping HTTPChannelHandler.Responder) -> HTTPChannelHandler.Responder {
        struct RedirectedUpgrade: Error {}
        return { request, writer, channel in
            guard request.headers[.upgrade] == "websocket" else {
                try await responder(request, writer, channel)
                return
            }
            var location = request.uri.path
            if let query = request.uri.query { location += "?\(query)" }
            try await writer.writeResponse(HTTPResponse(status: .temporaryRedirect, headerFields: [.connection: "close", .location: location]))
            throw RedirectedUpgrade()
        }
    }
}

extension EngineIOServer {
    /// How long a new connection may take to send its whole first request head before it is
    /// closed (a client trickling a header a byte at a time would otherwise hold it for ever).
    public static let defaultFirstHeadTimeout = TimeAmount.seconds(30)

    /// The HTTP/1 settings of ``httpServerBuilder(http1:firstHeadTimeout:requestTimeout:wrapping:)`` unless given:
    /// a connection idle for 30 s between requests, or in the middle of reading one (a body that
    /// stopped arriving, a later request head trickled in), is closed; otherwise every such
    /// connection would hold a file descriptor for ever, and a client could open them until the
    /// process has none left. A long poll waiting for packets is not idle: its request has been
    /// read and its answer is due, and Hummingbird leaves such a connection alone.
    public static let defaultHTTP1 = HTTP1Channel.Configuration(idleTimeout: .seconds(30))

    /// How long a request may take to arrive whole (its body) once its head is in, before its
    /// connection is closed: the idle timeout alone lets a body trickled in a byte at a time
    /// hold a connection for ever, each byte counting as activity.
    public static let defaultRequestTimeout = TimeAmount.seconds(60)

    /// A ready-made server builder for apps whose only WebSocket endpoint is this one: HTTP/1 through
    /// the router, and the WebSocket transport in channel handlers (no task per idle connection).
    /// `wrapping` puts something in front of each connection's channel, e.g. TLS.
    public func httpServerBuilder(http1: HTTP1Channel.Configuration = defaultHTTP1,
                                  firstHeadTimeout: TimeAmount = defaultFirstHeadTimeout,
                                  requestTimeout: TimeAmount = defaultRequestTimeout,
                                  wrapping: @escaping ChildChannelWrapper = { $0 }) -> HTTPServerBuilder {
        Self.httpServerBuilder(for: [self], http1: http1, firstHeadTimeout: firstHeadTimeout, requestTimeout: requestTimeout, wrapping: wrapping)
    }

    /// Puts something in front of each connection's channel (TLS, say): given the Engine.IO and
    /// HTTP channel, returns the one the server runs.
    public typealias ChildChannelWrapper = @Sendable (any ServerChildChannel) throws -> any ServerChildChannel

    /// A server builder for several Engine.IO endpoints (on different paths) on one server: each
    /// WebSocket upgrade goes to the first endpoint whose path it asks for; others are refused.
    public static func httpServerBuilder(for endpoints: [EngineIOServer], http1: HTTP1Channel.Configuration = defaultHTTP1,
                                         firstHeadTimeout: TimeAmount = defaultFirstHeadTimeout,
                                         requestTimeout: TimeAmount = defaultRequestTimeout,
                                         wrapping: @escaping ChildChannelWrapper = { $0 }) -> HTTPServerBuilder {
        precondition(!endpoints.isEmpty, "no Engine.IO endpoint")
        return HTTPServerBuilder { responder in
            try wrapping(EngineIOChildChannel(responder: responder, servers: endpoints, http1: http1, firstHeadTimeout: firstHeadTimeout,
                                              requestTimeout: requestTimeout))
        }
    }
}

/// Answers a first request that cannot be parsed with 400 and closes the connection: until the
/// upgrade handler has seen a whole head nothing else would, and the connection stayed open
/// with no answer. Later requests are Hummingbird's to answer. Touched only on the channel's
/// event loop.
private final class AnsweringFirstRequestParseErrors: ChannelInboundHandler, RemovableChannelHandler, @unchecked Sendable {
    typealias InboundIn = NIOAny
    typealias OutboundOut = HTTPServerResponsePart
    var firstRequestDone = false

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard !self.firstRequestDone, error is HTTPParserError else {
            context.fireErrorCaught(error)
            return
        }
        self.firstRequestDone = true
        let head = HTTPResponseHead(version: .http1_1, status: .badRequest, headers: ["Connection": "close", "Content-Length": "0"])
        context.write(self.wrapOutboundOut(.head(head)), promise: nil)
        context.writeAndFlush(self.wrapOutboundOut(.end(nil))).assumeIsolated().whenComplete { _ in context.close(promise: nil) }
    }
}

/// Completes `future` when the client closes its side of the connection (the server allows
/// half-closure, so that alone does not close the channel) or the connection goes. Touched only
/// on the channel's event loop.
private final class ConnectionEndWatcher: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = NIOAny
    private let promise: EventLoopPromise<Void>
    var future: EventLoopFuture<Void> { promise.futureResult }

    init(_ eventLoop: any EventLoop) {
        self.promise = eventLoop.makePromise()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case .inputClosed = event as? ChannelEvent { promise.succeed() }
        context.fireUserInboundEventTriggered(event)
    }

    func channelInactive(context: ChannelHandlerContext) {
        promise.succeed()
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        promise.succeed()
    }
}
