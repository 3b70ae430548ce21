import Hummingbird

/// What every answer, error answers included, gets for browsers' sake, and paths no file may
/// have (runs outside `APIErrorMiddleware`):
/// - a path that decodes to a NUL is refused (`/app.js%00.html` would be served as the file
///   before the NUL, with the type of the name after it);
/// - `X-Content-Type-Options: nosniff`, so browsers do not guess content types;
/// - a Content-Security-Policy allowing only this origin's scripts, styles and connections
///   (the web client builds its DOM with text nodes; this is the second line if that slips);
/// - with `--hsts-max-age` (HTTPS only), Strict-Transport-Security.
struct HardeningMiddleware<Context: RequestContext>: RouterMiddleware {
    /// The Strict-Transport-Security value, if any.
    var strictTransportSecurity: String? = nil

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var response: Response
        // The HTTP parser refuses a raw NUL in the request line, so only its escape can bring one.
        if request.uri.path.contains("%00") {
            response = try APIError.badRequest("the path must not contain U+0000").response(from: request, context: context)
        } else {
            do {
                response = try await next(request, context)
            } catch let error as any HTTPResponseError {
                // Error answers too (`APIErrorMiddleware`, inside this one, made them `APIError`s).
                response = try error.response(from: request, context: context)
            }
        }
        response.headers[HardeningHeaders.contentTypeOptions] = "nosniff"
        response.headers[HardeningHeaders.contentSecurityPolicy] = Self.policy(host: request.head.authority)
        if let strictTransportSecurity { response.headers[HardeningHeaders.strictTransportSecurity] = strictTransportSecurity }
        return response
    }

    /// `'self'` covers WebSockets to this host in current browsers; they are named too for the
    /// others, when the Host header is a plain host[:port].
    static func policy(host: String?) -> String {
        var connect = "'self'"
        if let host, !host.isEmpty, host.utf8.allSatisfy({ b in
            (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || b == 0x2E || b == 0x2D || b == 0x3A || b == 0x5B || b == 0x5D
        }) {
            connect += " ws://\(host) wss://\(host)"
        }
        return "default-src 'self'; connect-src \(connect); img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
    }
}

/// The header names, made once (a generic type has no stored statics).
private enum HardeningHeaders {
    static let contentTypeOptions = HTTPFields.Element.Name("X-Content-Type-Options")!
    static let contentSecurityPolicy = HTTPFields.Element.Name("Content-Security-Policy")!
    static let strictTransportSecurity = HTTPFields.Element.Name("Strict-Transport-Security")!
}
