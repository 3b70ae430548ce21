import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle
import Synchronization

/// `--http-redirect-port`: a plain-HTTP listener beside the HTTPS one that sends every request
/// to the same host and target over HTTPS, and serves nothing else. The answer is 308, so a
/// POST stays a POST; it never says Strict-Transport-Security (RFC 6797 §7.2: not over plain
/// HTTP).
final class HTTPSRedirect: Sendable {
    /// Where HTTPS listens: the configured port until the server runs, then the bound one
    /// (they differ when the configuration asked for port 0).
    private let httpsPort: Atomic<Int>
    private let host: String
    private let port: Int

    /// Plain HTTP on `host`:`port`, to HTTPS on `httpsPort` (see ``httpsListening(on:)``).
    init(host: String, port: Int, httpsPort: Int) {
        self.host = host
        self.port = port
        self.httpsPort = Atomic(httpsPort)
    }

    /// Called with the HTTPS listener's port once it is bound.
    func httpsListening(on port: Int) {
        httpsPort.store(port, ordering: .relaxed)
    }

    /// The listener, as a service of the main application.
    func service(logger: Logger) -> any Service {
        Application(
            responder: CallbackResponder { [self] (request: Request, _: BasicRequestContext) in
                respond(to: request.head)
            },
            // A client that opens a connection and says nothing is not kept waiting on it.
            server: .http1(configuration: .init(idleTimeout: .seconds(30))),
            configuration: .init(address: .hostname(host, port: port), serverName: "webchat"),
            onServerRunning: { [host, port] channel in
                let bound = channel.localAddress?.port ?? port
                logger.info("redirecting http://\(host):\(bound) to https")
            },
            logger: logger
        )
    }

    private func respond(to head: HTTPRequest) -> Response {
        let plainText: HTTPFields = [.contentType: "text/plain; charset=utf-8"]
        guard let location = Self.location(authority: head.authority, target: head.path, httpsPort: httpsPort.load(ordering: .relaxed)) else {
            return Response(status: .badRequest, headers: plainText,
                            body: .init(byteBuffer: ByteBuffer(string: "This server answers over HTTPS; the request needs a Host header that names it.\n")))
        }
        var headers = plainText
        headers[.location] = location
        return Response(status: .permanentRedirect, headers: headers, body: .init(byteBuffer: ByteBuffer(string: "Moved to \(location)\n")))
    }

    /// Where a request for `target` (its path and query) with Host `authority` goes: the same
    /// host over HTTPS on `httpsPort` (no port in the URL for 443). Nil when the Host header is
    /// missing or not a host name, IPv4 address or bracketed IPv6 address with an optional
    /// port, or the target is not a path: nothing a client sends reaches the Location header
    /// but a host and a path.
    static func location(authority: String?, target: String?, httpsPort: Int) -> String? {
        guard let authority, let target, target.hasPrefix("/") else { return nil }
        let host: Substring
        let port: Substring
        if authority.hasPrefix("[") {
            guard let close = authority.firstIndex(of: "]") else { return nil }
            host = authority[...close]
            port = authority[authority.index(after: close)...]
            let inner = host.dropFirst().dropLast()
            guard !inner.isEmpty, inner.utf8.allSatisfy({ isHexDigit($0) || $0 == UInt8(ascii: ":") || $0 == UInt8(ascii: ".") }) else { return nil }
        } else {
            let colon = authority.firstIndex(of: ":") ?? authority.endIndex
            host = authority[..<colon]
            port = authority[colon...]
            guard !host.isEmpty, host.utf8.allSatisfy({ isAlphanumeric($0) || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "-") }) else { return nil }
        }
        if !port.isEmpty {
            let digits = port.dropFirst()
            guard port.first == ":", (1...5).contains(digits.count), digits.utf8.allSatisfy(isDigit) else { return nil }
        }
        return "https://\(host)\(httpsPort == 443 ? "" : ":\(httpsPort)")\(target)"
    }

    private static func isDigit(_ byte: UInt8) -> Bool { byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") }
    private static func isAlphanumeric(_ byte: UInt8) -> Bool {
        isDigit(byte) || (byte | 0x20 >= UInt8(ascii: "a") && byte | 0x20 <= UInt8(ascii: "z"))
    }
    private static func isHexDigit(_ byte: UInt8) -> Bool {
        isDigit(byte) || (byte | 0x20 >= UInt8(ascii: "a") && byte | 0x20 <= UInt8(ascii: "f"))
    }
}
