import ChatCore
import ChatSQLite
import Foundation
import Hummingbird
import HummingbirdWebSocket
import Logging
import NIOCore
import ServiceLifecycle
import SocketIO

/// Builds the webchat application: REST API, Socket.IO gateway, web client and the
/// services they need, ready for `runService()`.
///
/// `onServerRunning` is given the listening channel (its `localAddress` tells the port
/// when the configuration asked for port 0).
public func buildApplication(
    configuration: ServerConfiguration,
    logger: Logger,
    onServerRunning: @escaping @Sendable (any Channel) async -> Void = { _ in }
) async throws -> some ApplicationProtocol {
    // The certificate first: a wrong file stops the server before it opens any storage.
    try configuration.checkTLSSettings()
    let tls = try configuration.tls.map { try ServerTLS($0, logger: logger) }
    let redirect = configuration.httpRedirectPort.map { HTTPSRedirect(host: configuration.host, port: $0, httpsPort: configuration.port) }
    let now: @Sendable () -> Int64 = { Int64(Date().timeIntervalSince1970 * 1000) }
    let metrics = ServerMetrics()
    let backends = try await Backends.open(configuration, metrics: metrics, logger: logger)
    let chat = ChatService(store: backends.store, broker: backends.broker, configuration: configuration.chat, logger: logger)
    let accounts = Accounts(chat: chat, configuration: configuration, now: now)

    if configuration.auth == .open {
        logger.warning("""
            AUTH MODE IS 'open': anyone can sign in as any user without a password. \
            Use this for development, tests and benchmarks only; never expose this server.
            """)
    }

    let socketIO = SocketIOServer(configuration: socketIOConfiguration(configuration), logger: logger)
    let gateway = ChatGateway(chat: chat, accounts: accounts, configuration: configuration, metrics: metrics, logger: logger)
    gateway.install(on: socketIO)

    let router = Router(context: AppRequestContext.self)
    router.add(middleware: CORSPolicyMiddleware(policy: originPolicy(configuration.corsOrigins)))
    router.add(middleware: HardeningMiddleware(
        strictTransportSecurity: configuration.hstsMaxAgeSeconds > 0 ? "max-age=\(configuration.hstsMaxAgeSeconds)" : nil))
    let routeMethods = RouteMethods()
    router.add(middleware: APIErrorMiddleware(routes: routeMethods))
    if let publicDirectory = configuration.publicDirectory ?? locatePublicDirectory() {
        // webchat's --public-dir refuses such a folder at start; other callers hear of it here.
        if !FileManager.default.fileExists(atPath: URL(fileURLWithPath: publicDirectory).appendingPathComponent("index.html").path) {
            logger.warning("the web client folder has no index.html: / answers 404", metadata: ["folder": "\(publicDirectory)"])
        }
        router.add(middleware: FileMiddleware(publicDirectory, searchForIndexHtml: true, logger: logger))
    } else {
        logger.warning("no web client folder found; set --public-dir to serve it")
    }
    socketIO.addRoutes(to: router)
    addOperationalRoutes(to: router, chat: chat, metrics: metrics)

    let api = router.group("api/v1")
    let sessions = SessionController(accounts: accounts, trustedProxies: configuration.trustedProxies)
    sessions.addPublicRoutes(to: api)
    LimitsController(configuration: configuration.chat).addPublicRoutes(to: api)
    let authenticated = api.group().add(middleware: TokenAuthenticator(accounts: accounts))
    sessions.addAuthenticatedRoutes(to: authenticated)
    UserController(chat: chat).addRoutes(to: authenticated)
    ConversationController(chat: chat).addRoutes(to: authenticated)
    GroupController(chat: chat).addRoutes(to: authenticated)
    routeMethods.load(from: router)

    return Application(
        router: router,
        server: tls.map { tls in socketIO.httpServerBuilder(wrapping: tls.wrap) } ?? socketIO.httpServerBuilder(),
        configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "webchat"),
        services: backends.services(for: chat, logger: logger) + [
            RetentionService(chat: chat, logger: logger),
            SocketShutdownService(socketIO: socketIO, gateway: gateway, logger: logger),
            MemoryTrimService { [setupLimit = gateway.setupLimit] in setupLimit.finishedCount },
            TokenRecheckService(sockets: accounts.sockets, chat: chat, interval: .milliseconds(configuration.tokenRecheckMS), logger: logger),
            SIGHUPService(tls: tls, logger: logger),
        ] + (redirect.map { [$0.service(logger: logger)] } ?? []),
        onServerRunning: { channel in
            let port = channel.localAddress?.port ?? configuration.port
            redirect?.httpsListening(on: port)
            logger.info("webchat listening on \(configuration.tls == nil ? "http" : "https")://\(configuration.host):\(port)")
            await onServerRunning(channel)
        },
        logger: logger
    )
}

private func socketIOConfiguration(_ configuration: ServerConfiguration) -> SocketIOConfiguration {
    var socketIO = SocketIOConfiguration()
    socketIO.pingInterval = .milliseconds(configuration.pingIntervalMS)
    socketIO.pingTimeout = .milliseconds(configuration.pingTimeoutMS)
    socketIO.maxPayload = configuration.maxPayloadBytes
    socketIO.connectTimeout = .milliseconds(configuration.connectTimeoutMS)
    socketIO.allowedOrigins = originPolicy(configuration.corsOrigins)
    socketIO.maxPendingConnectionsPerClient = configuration.maxPendingConnectionsPerAddress
    socketIO.clientKey = { [trusted = configuration.trustedProxies] handshake in
        ClientAddress.resolve(peer: handshake.remoteAddress, forwardedFor: handshake.headers[values: .xForwardedFor], trusted: trusted)
    }
    return socketIO
}

/// `--cors-origins`: none means same origin only, `*` any origin, otherwise the list.
private func originPolicy(_ origins: [String]) -> OriginPolicy {
    switch origins {
    case []: .sameOrigin
    case ["*"]: .any
    default: .list(origins)
    }
}

/// `Public/` in the working directory, or beside this source tree (for `swift run` and tests).
private func locatePublicDirectory() -> String? {
    let candidates = [
        FileManager.default.currentDirectoryPath + "/Public",
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Public").path,
    ]
    return candidates.first { FileManager.default.fileExists(atPath: $0 + "/index.html") }
}

private func addOperationalRoutes(to router: Router<AppRequestContext>, chat: ChatService, metrics: ServerMetrics) {
    router.get("healthz") { _, _ in ["status": "ok"] }
    // As /healthz's, which Hummingbird's JSON encoder sets.
    let json: HTTPFields = [.contentType: "application/json; charset=utf-8"]
    router.get("readyz") { _, _ -> Response in
        guard let backend = await chat.unavailableBackend() else {
            return Response(status: .ok, headers: json, body: .init(byteBuffer: ByteBuffer(string: #"{"status":"ready"}"#)))
        }
        return Response(status: .serviceUnavailable, headers: json,
                        body: .init(byteBuffer: ByteBuffer(string: #"{"status":"\#(backend) unavailable"}"#)))
    }
    router.get("metrics") { _, _ -> Response in
        Response(
            status: .ok,
            headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
            body: .init(byteBuffer: ByteBuffer(bytes: metrics.exposition()))
        )
    }
    router.get("openapi.yaml") { _, _ -> Response in
        Response(
            status: .ok,
            headers: [.contentType: "application/yaml; charset=utf-8"],
            body: .init(byteBuffer: ByteBuffer(string: OpenAPIDocument.yaml))
        )
    }
}

/// Drops timeline events older than the retention period, hourly, until shutdown: on one node
/// of a cluster (``ChatService/pruneExpired(oncePer:)``).
struct RetentionService: Service, CustomStringConvertible {
    let chat: ChatService
    let logger: Logger
    var description: String { "RetentionService" }
    static let interval = Duration.seconds(3600)

    func run() async throws {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            do {
                if try await !chat.pruneExpired(oncePer: Self.interval) {
                    logger.debug("retention: another node holds the job this hour")
                }
            } catch {
                logger.error("retention pruning failed", metadata: ["error": "\(error)"])
            }
            try? await gracefulShutdownSleep(for: Self.interval)
        }
    }
}

/// On graceful shutdown, closes every Engine.IO session with a close packet, so clients
/// learn at once that the server is going (and reconnect elsewhere) instead of waiting
/// for a heartbeat to time out; then waits (up to 5 s) until their endpoints have closed, so
/// that their users' presence is updated while the broker and the store still run (they stop
/// after this service).
struct SocketShutdownService: Service, CustomStringConvertible {
    let socketIO: SocketIOServer
    let gateway: ChatGateway
    let logger: Logger
    var description: String { "SocketShutdownService" }

    func run() async throws {
        try? await gracefulShutdown()
        logger.info("closing client sessions")
        socketIO.engine.closeAll()
        await gateway.waitUntilEndpointsClosed(atMost: .seconds(5))
    }
}

/// Sleeps, returning early on graceful shutdown or cancellation.
private func gracefulShutdownSleep(for duration: Duration) async throws {
    try await cancelWhenGracefulShutdown {
        try await Task.sleep(for: duration)
    }
}
