import EngineIO
import Hummingbird
import HummingbirdCore
import HummingbirdWebSocket
import Logging
import Synchronization

/// A Socket.IO v5 server over Engine.IO v4, mounted on a Hummingbird application.
///
/// ```swift
/// let io = SocketIOServer(configuration: .init(), logger: logger)
/// io.namespace("/").onConnection { socket, request in
///     socket.on("ping") { event in event.ack?.send(["pong"]) }
/// }
/// let router = Router()
/// io.addRoutes(to: router)
/// let app = Application(router: router, server: io.httpServerBuilder())
/// ```
public final class SocketIOServer: Sendable {
    /// The server's settings.
    public let configuration: SocketIOConfiguration
    let logger: Logger
    private let namespaces: Mutex<[String: Namespace]>
    private let engineBox = Mutex<EngineIOServer?>(nil)
    /// Per client key, its connections that no namespace has accepted yet.
    let pending = Mutex<[String: Int]>([:])

    /// Creates a server with the main namespace `/`.
    public init(configuration: SocketIOConfiguration = .init(), logger: Logger) {
        self.configuration = configuration
        self.logger = logger
        self.namespaces = Mutex(["/": Namespace(name: "/")])
        let engine = EngineIOServer(configuration: configuration.engine, logger: logger, handler: EngineHandler(server: self))
        self.engineBox.withLock { $0 = engine }
    }

    /// The Engine.IO endpoint underneath.
    public var engine: EngineIOServer {
        self.engineBox.withLock { $0! }
    }

    /// The namespace `name`, created on first use; clients connecting to a namespace never created
    /// here get CONNECT_ERROR "Invalid namespace".
    public func namespace(_ name: String) -> Namespace {
        self.namespaces.withLock { namespaces in
            if let namespace = namespaces[name] { return namespace }
            let namespace = Namespace(name: name)
            namespaces[name] = namespace
            return namespace
        }
    }

    func existingNamespace(_ name: String) -> Namespace? {
        self.namespaces.withLock { $0[name] }
    }

    /// Registers the HTTP long-polling endpoint on `configuration.path`; other routes keep working.
    public func addRoutes<Context: RequestContext>(to router: Router<Context>) {
        self.engine.addRoutes(to: router)
    }

    /// The WebSocket upgrade decision for a request head, for an app's own
    /// `.http1WebSocketUpgrade(shouldUpgrade:)`: nil when the path is not this server's (ask your other
    /// WebSocket endpoints), `.dontUpgrade` when refused (the polling route then answers with the error).
    public func webSocketUpgrade(for head: HTTPRequest) -> ShouldUpgradeResult<EngineIOServer.WebSocketHandler>? {
        self.engine.webSocketUpgrade(for: head)
    }

    /// A ready-made server builder for apps whose only WebSocket endpoint is this server:
    /// `Application(router: router, server: io.httpServerBuilder())`.
    /// `wrapping` puts something in front of each connection's channel, e.g. TLS.
    public func httpServerBuilder(wrapping: @escaping EngineIOServer.ChildChannelWrapper = { $0 }) -> HTTPServerBuilder {
        self.engine.httpServerBuilder(wrapping: wrapping)
    }

    /// The number of open Engine.IO connections.
    public var connectionCount: Int {
        self.engine.sessionCount
    }
}

/// Turns each Engine.IO session into a ``ClientConnection``.
private struct EngineHandler: EngineIOHandler {
    /// Strong on purpose: the routes hold the engine, not the server, so the server must live as long
    /// as the engine does; the cycle lasts as long as the process's server does anyway.
    let server: SocketIOServer

    func admit(_ handshake: EngineRequest) throws(EngineHTTPError) {
        let limit = self.server.configuration.maxPendingConnectionsPerClient
        guard limit > 0, let key = self.server.configuration.clientKey(handshake) else { return }
        // Read, not taken: the count rises when the session opens, right after (a few
        // handshakes admitted at once may each take the last slot).
        if self.server.pending.withLock({ $0[key, default: 0] }) >= limit {
            throw .tooManyRequests("Too many connections opening from this address")
        }
    }

    func sessionDidOpen(_ session: EngineSession, handshake: EngineRequest) -> any EngineSessionDelegate {
        let key = self.server.configuration.maxPendingConnectionsPerClient > 0 ? self.server.configuration.clientKey(handshake) : nil
        if let key { self.server.pending.withLock { $0[key, default: 0] += 1 } }
        let connection = ClientConnection(session: session, server: self.server, pendingKey: key)
        connection.startConnectTimer()
        return connection
    }
}
