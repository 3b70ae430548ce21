import EngineIO
import Hummingbird
import HummingbirdCore
import HummingbirdWebSocket
import Logging
import NIOCore
import SocketIO

/// Builds the application the public Engine.IO and Socket.IO test suites expect (PROTOCOL.md §1.3):
/// pingInterval 300 ms, pingTimeout 200 ms, maxPayload 1e6, connectTimeout 1 s, any origin;
/// `/engine.io/` echoes every message; `/socket.io/` serves namespaces `/` and `/custom`.
/// `request-ack` makes the server emit `ack-me` with an ack, then `ack-result` with the client's answer;
/// `request-immediate-ack` the same through `tryEmit` and an immediate ack callback (`immediate-ack-result`).
/// `slow` answers `order` "slow" after 100 ms; `quick` answers `order` "quick" from the immediate
/// handler where it is read, or "quick-queued" from a queued handler when one was queued before it.
func buildConformanceApplication(
    configuration: ApplicationConfiguration,
    logger: Logger,
    firstHeadTimeout: TimeAmount = EngineIOServer.defaultFirstHeadTimeout,
    http1: HTTP1Channel.Configuration = EngineIOServer.defaultHTTP1,
    requestTimeout: TimeAmount = EngineIOServer.defaultRequestTimeout,
    onServerRunning: @escaping @Sendable (any Channel) async -> Void = { _ in }
) -> some ApplicationProtocol {
    var engineConfiguration = EngineIOConfiguration(
        path: "/engine.io/",
        pingInterval: .milliseconds(300),
        pingTimeout: .milliseconds(200),
        maxPayload: 1_000_000,
        allowedOrigins: .any
    )
    engineConfiguration.allowUpgrades = true
    let echo = EngineIOServer(configuration: engineConfiguration, logger: logger, handler: EchoHandler())

    var ioConfiguration = SocketIOConfiguration()
    ioConfiguration.pingInterval = .milliseconds(300)
    ioConfiguration.pingTimeout = .milliseconds(200)
    ioConfiguration.maxPayload = 1_000_000
    ioConfiguration.connectTimeout = .milliseconds(1000)
    ioConfiguration.allowedOrigins = .any
    let io = SocketIOServer(configuration: ioConfiguration, logger: logger)
    for name in ["/", "/custom"] {
        io.namespace(name).onConnection { socket, request in
            try await socket.emit("auth", [request.auth ?? .object([:])])
            socket.on("message") { event in
                try? await socket.emit("message-back", event.arguments)
            }
            socket.on("message-with-ack") { event in
                event.ack?.send(event.arguments)
            }
            // Beyond the public suites: a server-to-client ack, used by the python live tests.
            socket.on("request-ack") { event in
                let reply = (try? await socket.emitWithAck("ack-me", event.arguments, timeout: .seconds(5))) ?? []
                try? await socket.emit("ack-result", reply)
            }
            // The same without suspending: `tryEmit`, and the answer sent from the immediate ack callback.
            socket.on("request-immediate-ack") { event in
                let sent = socket.tryEmit(EncodedEvent(event: "ack-me", arguments: event.arguments)) { reply in
                    _ = socket.tryEmit(EncodedEvent(event: "immediate-ack-result", arguments: reply))
                }
                if !sent { try? await socket.emit("immediate-ack-result", ["not sent"]) }
            }
            // Events handled where they are read must not overtake the ones queued before them.
            socket.on("slow") { _ in
                try? await Task.sleep(for: .milliseconds(100))
                try? await socket.emit("order", ["slow"])
            }
            socket.on("quick") { _ in try? await socket.emit("order", ["quick-queued"]) }
            socket.onImmediate { event in
                event.name == "quick" && socket.tryEmit(EncodedEvent(event: "order", arguments: ["quick"]))
            }
        }
    }

    let router = Router()
    router.get("/health") { _, _ in "ok" }
    echo.addRoutes(to: router)
    io.addRoutes(to: router)
    return Application(
        router: router,
        server: EngineIOServer.httpServerBuilder(for: [echo, io.engine], http1: http1, firstHeadTimeout: firstHeadTimeout,
                                                 requestTimeout: requestTimeout),
        configuration: configuration,
        onServerRunning: onServerRunning,
        logger: logger
    )
}

/// The raw Engine.IO endpoint's behaviour: every message goes back as it came.
struct EchoHandler: EngineIOHandler, EngineSessionDelegate {
    func sessionDidOpen(_ session: EngineSession, handshake: EngineRequest, admission: EngineAdmission) -> any EngineSessionDelegate { self }

    func session(_ session: EngineSession, didReceive message: EngineMessage) {
        session.send(message)
    }

    func sessionDidClose(_ session: EngineSession, reason: EngineCloseReason) {}
}
