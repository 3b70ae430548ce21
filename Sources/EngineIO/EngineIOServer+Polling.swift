import Hummingbird
import NIOCore
import ServiceLifecycle

extension EngineIOServer {
    /// Registers the HTTP long-polling endpoint (every method, so wrong ones get the reference's answers)
    /// on `configuration.path`. Other routes of the router are untouched.
    public func addRoutes<Context: RequestContext>(to router: Router<Context>) {
        let path = RouterPath(stringLiteral: self.configuration.path)
        for method: HTTPRequest.Method in [.get, .post, .options, .put, .delete, .patch, .head] {
            router.on(path, method: method) { request, context in
                await self.respond(to: request, remoteAddress: (context as? any RemoteAddressRequestContext)?.remoteAddress)
            }
        }
    }

    /// Answers one polling request, which came from `remoteAddress`.
    public func respond(to request: Request, remoteAddress: SocketAddress? = nil) async -> Response {
        let engineRequest = EngineRequest(request.head, remoteAddress: remoteAddress)
        let origin = request.headers[.origin]
        let allowed = self.configuration.allowedOrigins.allows(origin: origin, host: engineRequest.authority)
        let cors = allowed ? self.configuration.allowedOrigins.corsHeaders(origin: origin) : [:]
        if request.method == .options {
            guard allowed else { return EngineHTTPError.forbidden.response() }
            var headers = cors
            headers[.accessControlAllowMethods] = "GET, POST, OPTIONS"
            headers[.accessControlAllowHeaders] = request.headers[.accessControlRequestHeaders] ?? "Content-Type"
            headers[.accessControlMaxAge] = "86400"
            return Response(status: .noContent, headers: headers)
        }
        do {
            switch try self.verify(engineRequest, isUpgrade: false) {
            case .handshake(_, let admission):
                let session = self.openSession(request: engineRequest, transport: .polling, admission: admission)
                return Self.payloadResponse([session.openPacket(upgrades: self.configuration.allowUpgrades)], cors: cors)
            case .session(let session, _):
                return try await self.respond(to: request, session: session, cors: cors)
            }
        } catch {
            return error.response(headers: cors)
        }
    }

    private func respond(to request: Request, session: EngineSession, cors: HTTPFields) async throws(EngineHTTPError) -> Response {
        // As the reference server: a polling request for a session on a WebSocket is refused,
        // and the session carries on.
        guard !session.isOnWebSocket else { throw .badRequest }
        switch request.method {
        case .get:
            let watch = Self.requestConnectionEnded.map { PollConnectionWatch(connectionEnded: $0, session: session) }
            // A long poll must not hold up the server's graceful shutdown: close the session,
            // which answers the poll with a close packet.
            let polled = await withGracefulShutdownHandler {
                do throws(EngineHTTPError) {
                    return Result<_, EngineHTTPError>.success(try await session.poll())
                } catch {
                    return .failure(error)
                }
            } onGracefulShutdown: {
                session.close()
            }
            guard case .success(let packets) = polled else {
                watch?.disarm()
                return try Self.payloadResponse(polled.get(), cors: cors)
            }
            return Self.payloadResponse(packets, cors: cors, written: { watch?.disarm() })
        case .post:
            guard session.beginPost() else {
                session.close()
                throw .badRequest
            }
            defer { session.endPost() }
            var request = request
            let body: ByteBuffer
            do {
                body = try await request.collectBody(upTo: self.configuration.maxPayload)
            } catch {
                session.close()
                throw .payloadTooLarge
            }
            guard session.receive(payload: body) else { throw .badRequest }
            var headers = cors
            headers[.contentType] = "text/html"
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: "ok")))
        default:
            throw .badRequest
        }
    }

    /// `written` runs once the whole payload is written to the connection.
    private static func payloadResponse(_ packets: [EnginePacket], cors: HTTPFields, written: (@Sendable () -> Void)? = nil) -> Response {
        var headers = cors
        headers[.contentType] = "text/plain; charset=UTF-8"
        let payload = EnginePayload.encode(packets)
        guard let written else { return Response(status: .ok, headers: headers, body: .init(byteBuffer: payload)) }
        return Response(status: .ok, headers: headers, body: .init(contentLength: payload.readableBytes) { writer in
            try await writer.write(payload)
            try await writer.finish(nil)
            written()
        })
    }
}
