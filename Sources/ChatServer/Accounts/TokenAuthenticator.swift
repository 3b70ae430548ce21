import Hummingbird

/// Resolves `Authorization: Bearer <token>` to a user, or answers 401.
struct TokenAuthenticator: RouterMiddleware {
    typealias Context = AppRequestContext
    let accounts: Accounts

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let header = request.headers[.authorization] else {
            throw APIError.unauthorized("missing Authorization: Bearer token")
        }
        let parts = header.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else {
            throw APIError.unauthorized("Authorization must be 'Bearer <token>'")
        }
        let token = String(parts[1])
        guard let found = try await accounts.user(forToken: token) else {
            throw APIError.unauthorized("invalid, expired or revoked token")
        }
        var context = context
        context.user = found.user
        context.tokenHash = found.tokenHash
        return try await next(request, context)
    }
}
