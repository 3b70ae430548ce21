import Foundation
import ChatCore
import Hummingbird
import HTTPTypes
import NIOCore

/// The request context of the webchat API: Hummingbird's core storage plus the user that
/// the bearer token identified (set by `TokenAuthenticator`).
struct AppRequestContext: RequestContext, RemoteAddressRequestContext {
    var coreContext: CoreRequestContextStorage
    /// The authenticated user, when the route is behind `TokenAuthenticator`.
    var user: UserID?
    /// The hash of the bearer token that authenticated this request.
    var tokenHash: String?
    /// The peer of the connection (a proxy's, behind one: see `ClientAddress`).
    let remoteAddress: SocketAddress?

    init(source: Source) {
        self.coreContext = .init(source: source)
        self.remoteAddress = source.channel.remoteAddress
    }

    /// JSON bodies are small; anything larger is refused before it is read.
    var maxUploadSize: Int { 64 * 1024 }

    /// JSON bodies are checked as the Socket.IO side checks event payloads.
    var requestDecoder: StrictJSONRequestDecoder { StrictJSONRequestDecoder() }

    /// The authenticated user, or a 401.
    func requireUser() throws -> UserID {
        guard let user else { throw APIError.unauthorized() }
        return user
    }
}

extension AppRequestContext {
    /// A path parameter, percent-decoded: clients may encode the `:` of conversation ids.
    func pathParameter(_ name: String) throws -> String {
        let raw = try parameters.require(name)
        return raw.removingPercentEncoding ?? raw
    }
}

extension HTTPField.Name {
    /// Where a proxy says a request came from (`ClientAddress`).
    static let xForwardedFor = HTTPField.Name("X-Forwarded-For")!
}
