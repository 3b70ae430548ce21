import Hummingbird
import HummingbirdWebSocket
import Logging
import NIOCore
import Synchronization

/// An Engine.IO v4 endpoint: the session registry, request checks, and both transports.
///
/// Mount it with ``addRoutes(to:)`` (HTTP long-polling) and ``webSocketUpgrade(for:)`` in the
/// application's `.http1WebSocketUpgrade` server (WebSocket); see docs/SOCKETIO.md.
public final class EngineIOServer: Sendable {
    /// The endpoint's settings.
    public let configuration: EngineIOConfiguration
    let handler: any EngineIOHandler
    let logger: Logger
    private let sessions = Mutex<[String: EngineSession]>([:])
    private let nextToken = Atomic<Int>(0)

    /// Creates an endpoint whose sessions are handed to `handler`.
    public init(configuration: EngineIOConfiguration, logger: Logger, handler: any EngineIOHandler) {
        self.configuration = configuration
        self.logger = logger
        self.handler = handler
    }

    /// The number of open sessions.
    public var sessionCount: Int {
        self.sessions.withLock { $0.count }
    }

    /// What a request is, once checked.
    enum Verdict {
        /// A new session over this transport, admitted.
        case handshake(EngineRequest.Transport, EngineAdmission)
        /// A request of an existing session.
        case session(EngineSession, EngineRequest.Transport)
    }

    /// Checks a request the way the reference server does, in the same order.
    func verify(_ request: EngineRequest, isUpgrade: Bool) throws(EngineHTTPError) -> Verdict {
        guard let transport = request.transport else { throw .unknownTransport }
        guard self.configuration.allowedOrigins.allows(origin: request.headers[.origin], host: request.authority) else {
            throw .forbidden
        }
        if transport == .webSocket && !isUpgrade { throw .badRequest }
        if let sid = request.query["sid"] {
            guard let session = self.sessions.withLock({ $0[sid] }) else { throw .unknownSession }
            return .session(session, transport)
        }
        guard request.method == .get else { throw .badHandshakeMethod }
        guard request.query["EIO"] == "4" else { throw .unsupportedProtocolVersion }
        return .handshake(transport, try self.handler.admit(request))
    }

    /// Opens a session and hands it to the handler.
    func openSession(request: EngineRequest, transport: EngineRequest.Transport, admission: EngineAdmission) -> EngineSession {
        let session = EngineSession(
            id: SessionID.make(),
            request: request,
            transport: transport,
            configuration: self.configuration
        ) { [weak self] session in
            _ = self?.sessions.withLock { $0.removeValue(forKey: session.id) }
        }
        self.sessions.withLock { $0[session.id] = session }
        session.start(delegate: self.handler.sessionDidOpen(session, handshake: request, admission: admission))
        return session
    }

    /// A token that tells one WebSocket connection from another.
    func makeToken() -> Int {
        self.nextToken.wrappingAdd(1, ordering: .relaxed).newValue
    }

    /// Closes every session (at shutdown).
    public func closeAll() {
        let all = self.sessions.withLock { Array($0.values) }
        for session in all { session.close() }
    }
}

/// Random session and socket ids: 20 characters of base64url, 120 bits.
package enum SessionID {
    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)

    /// A new random id.
    package static func make() -> String {
        var generator = SystemRandomNumberGenerator()
        var bytes = [UInt8](repeating: 0, count: 20)
        for index in bytes.indices {
            bytes[index] = alphabet[Int(generator.next() & 63)]
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
