import EngineIO
import Hummingbird

/// CORS for the REST API with the same `--cors-origins` policy as the sockets: an allowed
/// cross-origin request gets its origin echoed (and a preflight its answer), on error answers
/// too; others get no CORS headers, so browsers refuse to show them the answer. A request
/// that changes something (POST, PATCH, PUT, DELETE) from a refused origin is not run at all:
/// 403 `forbidden` (a page elsewhere could otherwise, say, create accounts through its
/// visitors' browsers). Same-origin and non-browser requests are untouched. Must run outside
/// `APIErrorMiddleware`, whose errors it answers.
struct CORSPolicyMiddleware<Context: RequestContext>: RouterMiddleware {
    let policy: OriginPolicy

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let origin = request.headers[.origin], !isSameOrigin(origin, request) else {
            return try await next(request, context)
        }
        guard policy.allows(origin: origin, host: request.head.authority) else {
            if Self.changesState(request) && request.uri.path.hasPrefix("/api/") {
                return try APIError(.forbidden, "origin \(origin) is not allowed").response(from: request, context: context)
            }
            return try await next(request, context)
        }
        var response: Response
        if request.method == .options, request.headers[.accessControlRequestMethod] != nil {
            response = Response(status: .noContent)
            response.headers[.accessControlAllowMethods] = "GET, POST, PATCH, DELETE, OPTIONS"
            response.headers[.accessControlAllowHeaders] = "Authorization, Content-Type"
            response.headers[.accessControlMaxAge] = "600"
        } else {
            do {
                response = try await next(request, context)
            } catch let error as any HTTPResponseError {
                response = try error.response(from: request, context: context)
            }
        }
        response.headers[.accessControlAllowOrigin] = origin
        response.headers[.vary] = "Origin"
        return response
    }

    private static func changesState(_ request: Request) -> Bool {
        ![.get, .head, .options].contains(request.method)
    }

    private func isSameOrigin(_ origin: String, _ request: Request) -> Bool {
        OriginPolicy.sameOrigin.allows(origin: origin, host: request.head.authority)
    }
}
