import ChatCore
import Foundation
import Hummingbird

/// An error answered to a REST client as `{"error":{"code","message"}}` with the matching status.
struct APIError: HTTPResponseError {
    let code: ChatError.Code
    let message: String
    /// Set for 405: the methods the path answers (the `Allow` header).
    let allowedMethods: [HTTPRequest.Method]?

    init(_ code: ChatError.Code, _ message: String) {
        self.code = code
        self.message = message
        self.allowedMethods = nil
    }

    /// 405 for `method` on a path that answers only `allowed`.
    private init(method: HTTPRequest.Method, allowed: [HTTPRequest.Method]) {
        self.code = .badRequest
        self.message = "\(method.rawValue) is not allowed here; this path answers \(allowed.map(\.rawValue).joined(separator: ", "))"
        self.allowedMethods = allowed
    }

    static func methodNotAllowed(_ method: HTTPRequest.Method, allowed: [HTTPRequest.Method]) -> APIError {
        APIError(method: method, allowed: allowed)
    }

    init(_ error: ChatError) {
        self.init(error.code, error.message)
    }

    var status: HTTPResponse.Status {
        if allowedMethods != nil { return .methodNotAllowed }
        return switch code {
        case .badRequest: .badRequest
        case .unauthorized: .unauthorized
        case .forbidden: .forbidden
        case .notFound: .notFound
        case .conflict: .conflict
        case .tooLarge: .contentTooLarge
        case .rateLimited: .tooManyRequests
        case .unavailable: .serviceUnavailable
        case .internal: .internalServerError
        }
    }

    func response(from request: Request, context: some RequestContext) throws -> Response {
        let body = ErrorBody(error: .init(code: code.rawValue, message: message))
        var response = try JSONEncoder().encode(body, from: request, context: context)
        response.status = status
        if code == .unauthorized {
            response.headers[.wwwAuthenticate] = "Bearer"
        }
        if let allowedMethods {
            response.headers[.allow] = allowedMethods.map(\.rawValue).joined(separator: ", ")
        }
        return response
    }

    static func unauthorized(_ message: String = "missing or invalid token") -> APIError {
        APIError(.unauthorized, message)
    }

    static func badRequest(_ message: String) -> APIError {
        APIError(.badRequest, message)
    }

    static func notFound(_ message: String) -> APIError {
        APIError(.notFound, message)
    }
}

private struct ErrorBody: Encodable {
    struct Detail: Encodable {
        let code: String
        let message: String
    }
    let error: Detail
}

/// Turns every error a handler throws into the JSON error shape of PROTOCOL.md §2, so no
/// client ever sees Hummingbird's plain-text errors or an internal error's details.
struct APIErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    /// The REST routes' methods: the router's 404 for a known path asked with another method
    /// becomes 405 with `Allow`.
    var routes: RouteMethods?

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as APIError {
            throw error
        } catch let error as ChatError {
            throw APIError(error)
        } catch let error as HTTPError {
            if error.status == .notFound, let allowed = routes?.allowed(forPath: request.uri.path), !allowed.isEmpty,
               !allowed.contains(request.method) {
                throw APIError.methodNotAllowed(request.method, allowed: allowed)
            }
            throw APIError(Self.code(for: error.status), error.body ?? error.status.reasonPhrase)
        } catch let error as DecodingError {
            throw APIError.badRequest("invalid JSON body: \(Self.describe(error))")
        } catch let error as any HTTPResponseError {
            throw APIError(Self.code(for: error.status), error.status.reasonPhrase)
        } catch {
            context.logger.error("request failed", metadata: ["error": "\(error)"])
            throw APIError(.internal, "internal error")
        }
    }

    private static func code(for status: HTTPResponse.Status) -> ChatError.Code {
        switch status.code {
        case 401: .unauthorized
        case 403: .forbidden
        case 404: .notFound
        case 409: .conflict
        case 413: .tooLarge
        case 429: .rateLimited
        case 503: .unavailable
        case 400..<500: .badRequest
        default: .internal
        }
    }

    private static func describe(_ error: DecodingError) -> String {
        switch error {
        case .keyNotFound(let key, _): "missing field '\(key.stringValue)'"
        case .typeMismatch(_, let context), .valueNotFound(_, let context):
            "wrong type at '\(context.codingPath.map(\.stringValue).joined(separator: "."))'"
        case .dataCorrupted(let context):
            context.codingPath.isEmpty ? "not valid JSON" : "bad value at '\(context.codingPath.map(\.stringValue).joined(separator: "."))'"
        @unknown default: "undecodable"
        }
    }
}
