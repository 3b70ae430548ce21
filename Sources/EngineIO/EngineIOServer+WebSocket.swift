import Hummingbird
import HummingbirdCore
import HummingbirdWebSocket
import Logging
import NIOCore

extension EngineIOServer {
    /// The handler type Hummingbird's `.http1WebSocketUpgrade(shouldUpgrade:)` expects.
    public typealias WebSocketHandler = WebSocketDataHandler<HTTP1WebSocketUpgradeChannel.Context>

    /// The WebSocket upgrade decision for a request head: nil when the path is not this endpoint's;
    /// `.dontUpgrade` when the request is refused (the HTTP route then answers it with the reference's
    /// error, e.g. 403 for a refused `Origin`); otherwise the upgrade and its connection handler.
    public func webSocketUpgrade(for head: HTTPRequest, remoteAddress: SocketAddress? = nil) -> ShouldUpgradeResult<WebSocketHandler>? {
        switch self.webSocketDecision(for: head, remoteAddress: remoteAddress) {
        case nil:
            return nil
        case .refuse:
            return .dontUpgrade
        case .open(let request, let admission):
            return .upgrade([:]) { inbound, outbound, _ in
                let session = self.openSession(request: request, transport: .webSocket, admission: admission)
                await self.run(session: session, inbound: inbound, outbound: outbound) { link in
                    session.attachWebSocket(link)
                    return true
                }
            }
        case .upgrade(let session):
            return .upgrade([:]) { inbound, outbound, _ in
                await self.run(session: session, inbound: inbound, outbound: outbound) { link in
                    session.attachProbe(link)
                }
            }
        case .acceptAndClose:
            return .upgrade([:]) { _, _, _ in }
        }
    }

    /// What to do with a WebSocket upgrade request.
    enum WebSocketDecision {
        /// Open a new session over the WebSocket (the admission is given back if it never opens).
        case open(EngineRequest, EngineAdmission)
        /// Probe the upgrade of this polling session.
        case upgrade(EngineSession)
        /// As the reference server: a WebSocket for a session that cannot upgrade (upgraded already,
        /// or upgrading) is accepted and closed at once.
        case acceptAndClose
        /// Refuse the upgrade, for this reason.
        case refuse(EngineHTTPError)
    }

    /// The decision for a WebSocket upgrade request from `remoteAddress`; nil when the path is
    /// not this endpoint's.
    func webSocketDecision(for head: HTTPRequest, remoteAddress: SocketAddress? = nil) -> WebSocketDecision? {
        let request = EngineRequest(head, remoteAddress: remoteAddress)
        guard request.matches(path: self.configuration.path) else { return nil }
        let verdict: Verdict
        do {
            verdict = try self.verify(request, isUpgrade: true)
        } catch {
            return .refuse(error)
        }
        switch verdict {
        case .handshake(.webSocket, let admission):
            return .open(request, admission)
        case .session(let session, .webSocket) where session.canUpgrade && self.configuration.allowUpgrades:
            return .upgrade(session)
        case .session(_, .webSocket):
            return .acceptAndClose
        default:
            return .refuse(.badRequest)
        }
    }

    /// The HTTP/WebSocket channel settings the endpoint needs: frames up to `maxPayload`, no
    /// WebSocket-level pings (Engine.IO has its own heartbeat).
    public static func webSocketConfiguration(maxPayload: Int) -> HTTP1WebSocketUpgradeChannel.Configuration {
        .init(ws: .init(maxFrameSize: max(maxPayload, 1 << 14), autoPing: .disabled))
    }

    /// Runs one WebSocket connection: a writer draining the session's frames and a reader feeding it.
    /// Either side ending ends both, which closes the WebSocket.
    private func run(
        session: EngineSession,
        inbound: WebSocketInboundStream,
        outbound: WebSocketOutboundWriter,
        attach: (EngineSession.WebSocketLink) -> Bool
    ) async {
        let (frames, writer) = AsyncStream.makeStream(of: EngineSession.Frame.self)
        let token = self.makeToken()
        guard attach(EngineSession.WebSocketLink(token: token, writer: writer)) else { return }
        let maxPayload = self.configuration.maxPayload
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                for await frame in frames {
                    do {
                        if frame.isText {
                            try await outbound.write(.custom(.init(fin: true, opcode: .text, data: frame.data)))
                        } else {
                            try await outbound.write(.binary(frame.data))
                        }
                    } catch {
                        break
                    }
                    session.didWrite(byteCount: frame.byteCount)
                }
            }
            group.addTask {
                do {
                    for try await message in inbound.messages(maxSize: maxPayload) {
                        session.receive(webSocket: message, token: token)
                    }
                } catch {
                    // A protocol error or an oversized message ends the connection like a close.
                }
            }
            await group.next()
            group.cancelAll()
        }
        writer.finish()
        session.webSocketEnded(token: token)
    }
}
