@testable import ChatServer
import Testing

@Suite("Where the plain-HTTP redirect sends a request")
struct HTTPSRedirectTests {
    @Test("the same host and target over HTTPS; the port named unless it is 443", arguments: [
        ("chat.example.com", "/", 443, "https://chat.example.com/"),
        ("chat.example.com:80", "/api/v1/users?prefix=al", 443, "https://chat.example.com/api/v1/users?prefix=al"),
        ("chat.example.com", "/", 8443, "https://chat.example.com:8443/"),
        ("127.0.0.1:8080", "/index.html", 8443, "https://127.0.0.1:8443/index.html"),
        ("[::1]:80", "/", 443, "https://[::1]/"),
        ("[fe80::1]", "/x", 9000, "https://[fe80::1]:9000/x"),
        ("Chat-1.Example.COM.", "/", 443, "https://Chat-1.Example.COM./"),
    ])
    func location(_ authority: String, _ target: String, _ httpsPort: Int, _ expected: String) {
        #expect(HTTPSRedirect.location(authority: authority, target: target, httpsPort: httpsPort) == expected)
    }

    @Test("nothing but a host and a path reaches Location", arguments: [
        (nil, "/"), ("chat.example.com", nil), ("", "/"), ("chat.example.com", "*"), ("chat.example.com", "http://evil.example/"),
        ("evil.example/path", "/"), ("user@evil.example", "/"), ("a b", "/"), ("[::1", "/"), ("[]", "/"), ("[::1]x", "/"),
        ("[::1%eth0]", "/"), ("::1", "/"), ("chat.example.com:", "/"), ("chat.example.com:http", "/"), ("chat.example.com:123456", "/"),
        ("chat.example.com:80:80", "/"), ("chat.example.com\r\nSet-Cookie: x", "/"),
    ] as [(String?, String?)])
    func refused(_ authority: String?, _ target: String?) {
        #expect(HTTPSRedirect.location(authority: authority, target: target, httpsPort: 443) == nil)
    }
}
