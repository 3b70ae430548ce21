import Hummingbird
import NIOCore

/// An HTTP error answer of the Engine.IO endpoint, as the reference server sends it:
/// `{"code":N,"message":"..."}` with status 400 (403 for `forbidden`, 413 for `payloadTooLarge`).
public struct EngineHTTPError: Error, Sendable, Hashable {
    /// The Engine.IO error code (0…5), or nil for answers without a JSON body.
    public let code: Int?
    /// The message of the JSON body.
    public let message: String
    /// The HTTP status.
    public let status: HTTPResponse.Status

    /// 400, code 0.
    public static let unknownTransport = EngineHTTPError(code: 0, message: "Transport unknown", status: .badRequest)
    /// 400, code 1.
    public static let unknownSession = EngineHTTPError(code: 1, message: "Session ID unknown", status: .badRequest)
    /// 400, code 2.
    public static let badHandshakeMethod = EngineHTTPError(code: 2, message: "Bad handshake method", status: .badRequest)
    /// 400, code 3.
    public static let badRequest = EngineHTTPError(code: 3, message: "Bad request", status: .badRequest)
    /// 403, code 4.
    public static let forbidden = EngineHTTPError(code: 4, message: "Forbidden", status: .forbidden)
    /// 400, code 5.
    public static let unsupportedProtocolVersion = EngineHTTPError(code: 5, message: "Unsupported protocol version", status: .badRequest)
    /// 429, code 4: a handshake the handler did not admit for now (``EngineIOHandler/admit(_:)``);
    /// `message` is put in the JSON body as it is, so it holds no `"` or `\`.
    public static func tooManyRequests(_ message: String) -> EngineHTTPError {
        EngineHTTPError(code: 4, message: message, status: .tooManyRequests)
    }
    /// 413, a POST body over `maxPayload`.
    public static let payloadTooLarge = EngineHTTPError(code: nil, message: "Payload Too Large", status: .contentTooLarge)

    /// The HTTP response with its JSON body.
    func response(headers extra: HTTPFields = [:]) -> Response {
        var headers = extra
        var body = ByteBuffer()
        if let code {
            headers[.contentType] = "application/json"
            body.writeString(#"{"code":\#(code),"message":"\#(self.message)"}"#)
        } else {
            headers[.contentType] = "text/plain"
            body.writeString(self.message)
        }
        if self.status == .tooManyRequests { headers[.retryAfter] = "1" }
        return Response(status: self.status, headers: headers, body: .init(byteBuffer: body))
    }
}
