import EngineIO
import Hummingbird
import HummingbirdCore
import HummingbirdWebSocket
import Logging
import NIOCore
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
    /// `remoteAddress`: the connection's peer, which ``SocketIOConfiguration/clientKey`` reads by default.
    public func webSocketUpgrade(for head: HTTPRequest, remoteAddress: SocketAddress? = nil) -> ShouldUpgradeResult<EngineIOServer.WebSocketHandler>? {
        self.engine.webSocketUpgrade(for: head, remoteAddress: remoteAddress)
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

extension SocketIOServer {
    /// Adds `delta` to the pending connections of the client `key`.
    func countPending(_ delta: Int, for key: String) {
        self.pending.withLock { pending in
            let count = pending[key, default: 0] + delta
            pending[key] = count > 0 ? count : nil
        }
    }
}

/// Turns each Engine.IO session into a ``ClientConnection``.
private struct EngineHandler: EngineIOHandler {
    /// Strong on purpose: the routes hold the engine, not the server, so the server must live as long
    /// as the engine does; the cycle lasts as long as the process's server does anyway.
    let server: SocketIOServer

    /// Counts the handshake toward its client's pending connections at once, so that handshakes
    /// arriving together cannot all take the last place (a WebSocket opens its session only
    /// after the upgrade is answered). The place goes to the session, or back if none opens.
    func admit(_ handshake: EngineRequest) throws(EngineHTTPError) -> EngineAdmission {
        guard let key = self.countedKey(handshake) else { return EngineAdmission() }
        let limit = self.server.configuration.maxPendingConnectionsPerClient
        let admitted = self.server.pending.withLock { pending -> Bool in
            guard pending[key, default: 0] < limit else { return false }
            pending[key, default: 0] += 1
            return true
        }
        guard admitted else { throw .tooManyRequests("Too many connections opening from this address") }
        return EngineAdmission { [server] in server.countPending(-1, for: key) }
    }

    /// The key a handshake counts under, when there is a limit.
    private func countedKey(_ handshake: EngineRequest) -> String? {
        self.server.configuration.maxPendingConnectionsPerClient > 0 ? self.server.configuration.clientKey(handshake) : nil
    }

    func sessionDidOpen(_ session: EngineSession, handshake: EngineRequest, admission: EngineAdmission) -> any EngineSessionDelegate {
        admission.keep()
        let connection = ClientConnection(session: session, server: self.server, clientKey: self.countedKey(handshake))
        connection.startConnectTimer()
        return connection
    }
}
