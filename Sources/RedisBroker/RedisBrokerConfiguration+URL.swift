extension RedisBrokerConfiguration {
    /// The form ``parse(_:)`` reads, for messages.
    static let urlForm = "redis[s]://[[user]:password@]host[:port][/database][?prefix=name:&heartbeat-interval-ms=N&heartbeat-timeout-ms=N&ca-file=PEM&cert-file=PEM&key-file=PEM]"

    /// Reads `redis://[[user]:password@]host[:port][/database][?prefix=name:]` (user, password and
    /// prefix percent-encoded where needed), and optionally `heartbeat-interval-ms` and
    /// `heartbeat-timeout-ms` (how often a node says it is alive, and after how long without
    /// that it counts as dead: 5,000 and 15,000); everything not in the URL keeps its default.
    /// `rediss://` is the same over TLS, verifying Redis's certificate against the system's
    /// certificate authorities or those in `ca-file` (a PEM file); `cert-file` and `key-file`
    /// (PEM files, both or neither) are the client certificate Redis asks for by default
    /// (`tls-auth-clients yes`).
    ///
    /// The credentials end at the last `@`, so a password may hold `/`, `?` and `@` as they are;
    /// an `@` in the database or the query must be written `%40`.
    ///
    /// Throws a ``RedisError`` naming the part that is wrong (never repeating the password).
    public static func parse(_ url: String) throws -> RedisBrokerConfiguration {
        guard let schemeEnd = url.firstRange(of: "://") else {
            throw invalid("it must start with redis://")
        }
        let scheme = url[..<schemeEnd.lowerBound].lowercased()
        // Anything but a scheme before :// (say, credentials without one) is not repeated.
        guard !scheme.isEmpty, scheme.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "+-.".contains($0)) }) else {
            throw invalid("it must start with redis://")
        }
        guard scheme == "redis" || scheme == "rediss" else { throw invalid("the scheme must be redis:// or rediss://, not \(scheme)://") }
        var configuration = RedisBrokerConfiguration()
        if scheme == "rediss" { configuration.tls = TLS() }
        var rest = url[schemeEnd.upperBound...]
        // The credentials first: a password may hold the / and ? that end the host.
        if let at = rest.lastIndex(of: "@") {
            try configuration.readCredentials(rest[..<at])
            rest = rest[rest.index(after: at)...]
        }
        if let question = rest.firstIndex(of: "?") {
            try configuration.readQuery(rest[rest.index(after: question)...])
            rest = rest[..<question]
        }
        if let slash = rest.firstIndex(of: "/") {
            configuration.database = try database(rest[rest.index(after: slash)...])
            rest = rest[..<slash]
        }
        try configuration.readHostAndPort(rest)
        return configuration
    }

    /// Reads `[user]:password`; its errors never repeat any of it.
    private mutating func readCredentials(_ credentials: Substring) throws {
        guard let colon = credentials.firstIndex(of: ":") else {
            throw Self.invalid("the credentials before @ must be :password or user:password (an @ elsewhere is written %40)")
        }
        let user = try Self.decode(credentials[..<colon], "user name")
        let password = try Self.decode(credentials[credentials.index(after: colon)...], "password")
        self.username = user.isEmpty ? nil : user
        self.password = password.isEmpty ? nil : password
    }

    private mutating func readHostAndPort(_ text: Substring) throws {
        var port: Substring?
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { throw Self.invalid("the IPv6 address has no closing ]") }
            self.host = String(text[text.index(after: text.startIndex)..<close])
            let after = text[text.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":") else { throw Self.invalid("unexpected '\(after)' after the IPv6 address") }
                port = after.dropFirst()
            }
        } else {
            let parts = text.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
            guard parts.count <= 2 else { throw Self.invalid("an IPv6 host must be written in brackets, [::1]") }
            self.host = String(parts[0])
            port = parts.count == 2 ? parts[1] : nil
        }
        guard !self.host.isEmpty else { throw Self.invalid("no host") }
        if let port {
            guard let number = Int(port), (1...65535).contains(number) else {
                throw Self.invalid("the port '\(port)' is not a number from 1 to 65535")
            }
            self.port = number
        }
    }

    private mutating func readQuery(_ query: Substring) throws {
        var seen: Set<Substring> = []
        for parameter in query.split(separator: "&") {
            let pair = parameter.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let name = pair[0]
            let value = try Self.decode(pair.count == 2 ? pair[1] : "", String(name))
            guard seen.insert(name).inserted else { throw Self.invalid("the parameter \(name) is given twice") }
            switch name {
            case "prefix": self.prefix = value
            case "heartbeat-interval-ms": self.heartbeatInterval = try Self.milliseconds(value, name)
            case "heartbeat-timeout-ms": self.heartbeatTimeout = try Self.milliseconds(value, name)
            case "ca-file", "cert-file", "key-file":
                guard self.tls != nil else { throw Self.invalid("\(name) is for TLS: use rediss://") }
                guard !value.isEmpty else { throw Self.invalid("\(name) needs the path of a PEM file") }
                switch name {
                case "ca-file": self.tls?.caFile = value
                case "cert-file": self.tls?.certificateFile = value
                default: self.tls?.keyFile = value
                }
            default:
                throw Self.invalid("unknown parameter '\(name)' (known: prefix, heartbeat-interval-ms, heartbeat-timeout-ms, ca-file, cert-file, key-file)")
            }
        }
        if let tls, (tls.certificateFile == nil) != (tls.keyFile == nil) {
            throw Self.invalid("cert-file and key-file go together: a client certificate needs its key")
        }
        guard heartbeatTimeout >= heartbeatInterval * 2 else {
            throw Self.invalid("heartbeat-timeout-ms must be at least twice heartbeat-interval-ms, or live nodes count as dead")
        }
    }

    private static func milliseconds(_ text: String, _ name: Substring) throws -> Duration {
        guard let value = Int(text), (10...3_600_000).contains(value) else {
            throw invalid("\(name) must be a whole number of milliseconds from 10 to 3600000, not '\(text)'")
        }
        return .milliseconds(value)
    }

    private static func database(_ path: Substring) throws -> Int {
        if path.isEmpty { return 0 }
        guard let number = Int(path), number >= 0 else {
            throw invalid("the database '\(path)' is not a number (the path is /database, e.g. /0)")
        }
        return number
    }

    /// Percent-decodes one part of the URL.
    private static func decode(_ text: Substring, _ part: String) throws -> String {
        var bytes: [UInt8] = []
        var utf8 = text.utf8[...]
        while let byte = utf8.popFirst() {
            guard byte == UInt8(ascii: "%") else {
                bytes.append(byte)
                continue
            }
            guard utf8.count >= 2, let high = hexValue(utf8.removeFirst()), let low = hexValue(utf8.removeFirst()) else {
                throw invalid("bad percent-encoding in the \(part)")
            }
            bytes.append(high << 4 | low)
        }
        guard let decoded = String(validating: bytes, as: UTF8.self) else { throw invalid("the \(part) is not UTF-8") }
        return decoded
    }

    private static func hexValue(_ digit: UInt8) -> UInt8? {
        switch digit {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): digit - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): digit - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): digit - UInt8(ascii: "A") + 10
        default: nil
        }
    }

    private static func invalid(_ reason: String) -> RedisError {
        .invalidConfiguration("invalid Redis URL: \(reason); expected \(urlForm)")
    }
}
