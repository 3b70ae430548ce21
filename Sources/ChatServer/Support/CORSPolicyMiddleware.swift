import EngineIO
import Hummingbird

/// CORS for the REST API with the same `--cors-origins` policy as the sockets: an allowed
/// cross-origin request gets its origin echoed (and a preflight its answer); others get no
/// CORS headers, so browsers refuse them. Same-origin and non-browser requests are
/// untouched.
struct CORSPolicyMiddleware<Context: RequestContext>: RouterMiddleware {
    let policy: OriginPolicy

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let origin = request.headers[.origin], !isSameOrigin(origin, request),
              policy.allows(origin: origin, host: request.head.authority)
        else {
            return try await next(request, context)
        }
        var response: Response
        if request.method == .options, request.headers[.accessControlRequestMethod] != nil {
            response = Response(status: .noContent)
            response.headers[.accessControlAllowMethods] = "GET, POST, PATCH, DELETE, OPTIONS"
            response.headers[.accessControlAllowHeaders] = "Authorization, Content-Type"
            response.headers[.accessControlMaxAge] = "600"
        } else {
            response = try await next(request, context)
        }
        response.headers[.accessControlAllowOrigin] = origin
        response.headers[.vary] = "Origin"
        return response
    }

    private func isSameOrigin(_ origin: String, _ request: Request) -> Bool {
        OriginPolicy.sameOrigin.allows(origin: origin, host: request.head.authority)
    }
}
