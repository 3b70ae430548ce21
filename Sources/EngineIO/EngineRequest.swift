import Foundation
import HTTPTypes
import NIOCore

/// What the Engine.IO endpoint knows of an HTTP request: method, path, query and headers.
public struct EngineRequest: Sendable {
    /// The transports Engine.IO v4 knows.
    public enum Transport: String, Sendable {
        case polling
        case webSocket = "websocket"
    }

    /// The request method.
    public var method: HTTPRequest.Method
    /// The path without the query.
    public var path: Substring
    /// The decoded query parameters (the last one wins on repetition).
    public var query: [String: String]
    /// The request headers.
    public var headers: HTTPFields
    /// The `Host` of the request (HTTP/1's `Host` header).
    public var authority: String?
    /// The peer of the connection the request came on, when the transport knows it (a
    /// session's ``EngineSession/request`` does not keep it).
    public var remoteAddress: SocketAddress?

    /// A request from its parts.
    init(method: HTTPRequest.Method, path: Substring, query: [String: String], headers: HTTPFields, authority: String?) {
        self.method = method
        self.path = path
        self.query = query
        self.headers = headers
        self.authority = authority
    }

    /// Parses the request head of a connection from `remoteAddress`.
    public init(_ head: HTTPRequest, remoteAddress: SocketAddress? = nil) {
        self.remoteAddress = remoteAddress
        self.method = head.method
        self.headers = head.headerFields
        self.authority = head.authority
        let target = head.path ?? "/"
        let parts = target.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)
        self.path = parts.first ?? "/"
        var query: [String: String] = [:]
        if parts.count > 1 {
            for pair in parts[1].split(separator: "&") {
                let keyValue = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                let key = Self.decode(keyValue[0])
                query[key] = keyValue.count > 1 ? Self.decode(keyValue[1]) : ""
            }
        }
        self.query = query
    }

    /// The `transport` query parameter when it names a known transport.
    var transport: Transport? { self.query["transport"].flatMap(Transport.init(rawValue:)) }

    /// Whether the request's path is `path`, with or without its trailing slash.
    func matches(path: String) -> Bool {
        self.path == path || (path.hasSuffix("/") && self.path == path.dropLast())
    }

    private static func decode(_ text: Substring) -> String {
        let plain = text.replacingOccurrences(of: "+", with: " ")
        return plain.removingPercentEncoding ?? plain
    }
}
