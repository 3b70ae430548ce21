import Foundation
import Hummingbird

/// Refuses a path that decodes to a NUL (`/app.js%00.html` would be served as the file before
/// the NUL, with the type of the name after it) and tells browsers not to guess content types.
struct RequestPathGuard<Context: RequestContext>: RouterMiddleware {
    private static var contentTypeOptions: HTTPFields.Element.Name { .init("X-Content-Type-Options")! }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        if request.uri.path.contains("%00") || request.uri.path.removingPercentEncoding?.utf8.contains(0) == true {
            throw APIError.badRequest("the path must not contain U+0000")
        }
        var response = try await next(request, context)
        response.headers[Self.contentTypeOptions] = "nosniff"
        return response
    }
}
