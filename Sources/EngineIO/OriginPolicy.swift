import HTTPTypes

/// Which browser origins may use an endpoint (CORS for polling, the `Origin` check for WebSocket).
///
/// Requests without an `Origin` header (non-browser clients) are always allowed.
public enum OriginPolicy: Sendable, Hashable {
    /// Only pages served by this host: the origin's `host[:port]` equals the request's `Host`.
    case sameOrigin
    /// Every origin.
    case any
    /// These origins exactly, e.g. `https://chat.example.com`, besides the same origin.
    case list([String])

    /// Whether a request with this `Origin` (nil when absent) and `Host` is allowed.
    public func allows(origin: String?, host: String?) -> Bool {
        guard let origin else { return true }
        switch self {
        case .any:
            return true
        case .list(let origins):
            // Listing other sites never locks out the server's own pages.
            return origins.contains(origin) || Self.isSameOrigin(origin, host: host)
        case .sameOrigin:
            return Self.isSameOrigin(origin, host: host)
        }
    }

    private static func isSameOrigin(_ origin: String, host: String?) -> Bool {
        guard let host, let range = origin.range(of: "://") else { return false }
        return origin[range.upperBound...].lowercased() == host.lowercased()
    }

    /// The CORS headers of an allowed request: the origin is echoed, credentials allowed.
    func corsHeaders(origin: String?) -> HTTPFields {
        guard let origin else { return [:] }
        var fields = HTTPFields()
        fields[.accessControlAllowOrigin] = origin
        fields[.accessControlAllowCredentials] = "true"
        fields[.vary] = "Origin"
        return fields
    }
}
