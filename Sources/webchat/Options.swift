import ChatServer
import CommandLineOptions
import Configuration
import Foundation
import Logging
import Synchronization

/// The command-line options (each also readable from `WEBCHAT_<NAME>` in the environment)
/// and how they map onto `ServerConfiguration`.
enum Options {
    /// Flag name, config key, help text.
    static let all: [(flag: String, key: String, help: String)] = [
        ("host", "host", "address to listen on (default 127.0.0.1)"),
        ("port", "port", "port to listen on; 0 picks a free one (default 8080)"),
        ("tls-cert-file", "tlsCertFile", "PEM certificate chain, server certificate first: serve HTTPS (with --tls-key-file)"),
        ("tls-key-file", "tlsKeyFile", "PEM private key of that certificate"),
        ("http-redirect-port", "httpRedirectPort", "with TLS: also listen for plain HTTP on this port and redirect it to HTTPS (default none)"),
        ("hsts-max-age", "hstsMaxAge", "with TLS: seconds browsers should reach this host only over HTTPS (Strict-Transport-Security; default 0, not sent)"),
        ("auth", "auth", "password | open (default password; open is for development only)"),
        ("store", "store", "sqlite:PATH | dynamodb://REGION?endpoint=URL&prefix=NAME&create=false | memory (default sqlite:data/webchat.sqlite)"),
        ("broker", "broker", "memory | redis[s]://[[user]:password@]host[:port][/db][?prefix=NAME&heartbeat-interval-ms=N&heartbeat-timeout-ms=N&ca-file=PEM&cert-file=PEM&key-file=PEM] (default memory)"),
        ("cors-origins", "corsOrigins", "comma-separated origins allowed from browsers, or * (default: same origin only)"),
        ("public-dir", "publicDir", "folder of the web client, holding index.html (default ./Public)"),
        ("retention-days", "retentionDays", "days timeline events stay replayable (default 30)"),
        ("max-message-chars", "maxMessageChars", "longest message body (default 4000)"),
        ("max-group-members", "maxGroupMembers", "largest group (default 1000)"),
        ("token-ttl-days", "tokenTtlDays", "lifetime of a session token (default 30)"),
        ("token-recheck-ms", "tokenRecheckMs", "how often live sockets' tokens are checked for expiry (default 60000)"),
        ("bcrypt-cost", "bcryptCost", "bcrypt cost factor, 4-31 (default 12)"),
        ("max-failed-sign-ins-per-address", "maxFailedSignInsPerAddress", "failed sign-ins a client address may make in 5 minutes; 0 for no limit (default 100)"),
        ("trusted-proxies", "trustedProxies", "comma-separated proxy addresses or CIDR ranges whose X-Forwarded-For names the client (default none)"),
        ("max-connections-per-user", "maxConnectionsPerUser", "Socket.IO connections one user may hold on this node; 0 for no limit (default 64)"),
        ("max-pending-connections-per-address", "maxPendingConnectionsPerAddress",
         "connections a client address may have open but not yet connected to the namespace; 0 for no limit (default 256)"),
        ("rate-burst", "rateBurst", "events a connection may send at once (default 100)"),
        ("rate-per-second", "ratePerSecond", "events a connection may send per second, sustained, up to 1000000 (default 50)"),
        ("ping-interval-ms", "pingIntervalMs", "Engine.IO ping interval (default 25000)"),
        ("ping-timeout-ms", "pingTimeoutMs", "Engine.IO ping timeout (default 20000)"),
        ("max-payload-bytes", "maxPayloadBytes", "largest Engine.IO payload (default 1000000)"),
        ("connect-timeout-ms", "connectTimeoutMs", "time to connect a namespace (default 45000)"),
        ("log-level", "logLevel", "trace | debug | info | notice | warning | error | critical (default info)"),
    ]

    /// The options' parser and the lines of `--help` that list them.
    static let commandLineOptions = StrictCommandLine(options: all.map { ($0.flag, $0.help) })

    static var usage: String {
        "usage: webchat [--option value | --option=value ...]\n\nOptions (each at most once; each also from the environment as WEBCHAT_<OPTION>, e.g. WEBCHAT_PORT):\n"
            + commandLineOptions.optionLines
    }

    /// The configuration from the command line `arguments` (without the program's name), then
    /// `environment` (`WEBCHAT_<OPTION>`), then defaults. `environment` also holds what is read by
    /// its conventional names rather than as options (DynamoDB's `AWS_ACCESS_KEY_ID` and friends).
    static func resolve(arguments: [String], environment: [String: String]) throws -> ServerConfiguration {
        try resolve(providers: [
            commandLine(arguments),
            EnvironmentVariablesProvider(environmentVariables: environment.filter { !isServiceLink($0.key, $0.value) })
                .prefixKeys(with: "webchat"),
        ], environment: environment)
    }

    /// The command line, read strictly (``StrictCommandLine``): every argument is a known `--flag`
    /// with its value after it, each flag at most once, and a value is kept whole, commas included.
    /// Lists (`--cors-origins`, `--trusted-proxies`) are split by ``resolve(providers:environment:)``,
    /// and only they.
    static func commandLine(_ arguments: [String]) throws -> InMemoryProvider {
        let values: [String: String]
        do {
            values = try commandLineOptions.parse(arguments)
        } catch {
            throw ConfigurationError("\(error)")
        }
        var provided: [AbsoluteConfigKey: ConfigValue] = [:]
        for option in all {
            guard let value = values[option.flag] else { continue }
            // The broker URL may hold a password: kept out of whatever lists configuration values.
            provided[AbsoluteConfigKey(ConfigKey(option.key))] = ConfigValue(.string(value), isSecret: option.key == "broker")
        }
        return InMemoryProvider(name: "command line", values: provided)
    }

    /// Warnings for the start's log about `WEBCHAT_` variables (the prefix in any case) that name
    /// no option: each is ignored, and a misspelled one (`WEBCHAT_PROT`) would otherwise leave the
    /// server on the default without a word; the warning names the option it most likely meant.
    /// Not an error, unlike an unknown `--flag`: a server's environment also holds what others put
    /// there (a deployment tool's `WEBCHAT_VERSION`), and Kubernetes' service links for a Service
    /// named webchat, which are recognised and left out (`WEBCHAT_PORT=tcp://…` with them).
    static func environmentWarnings(_ environment: [String: String]) -> [String] {
        let prefix = "WEBCHAT_"
        let options = all.map { environmentName($0.key) }
        return environment.keys.sorted().compactMap { name in
            guard name.uppercased().hasPrefix(prefix), let value = environment[name] else { return nil }
            let option = String(name.dropFirst(prefix.count))
            if isServiceLink(name, value) {
                return name == prefix + "PORT" ? "\(name)=\(value) is a Kubernetes service link, not a port: ignored (the default or --port holds)" : nil
            }
            guard !name.hasPrefix(prefix) || !options.contains(option) else { return nil }
            let meant = StrictCommandLine.closest(to: option.uppercased(), among: options).map { " (did you mean \(prefix)\($0)?)" }
            return "\(name) names no option and is ignored" + (meant ?? " ('webchat --help' lists them)")
        }
    }

    /// Whether `name=value` is one of the variables Kubernetes sets in a pod for every Service
    /// of its namespace, here one whose name starts with webchat: `WEBCHAT_SERVICE_HOST`,
    /// `WEBCHAT_SERVICE_PORT[_<port name>]`, `WEBCHAT_PORT=tcp://10.0.0.11:8080`,
    /// `WEBCHAT_PORT_8080_TCP[_PROTO|_PORT|_ADDR]` (and the same after `WEBCHAT_REDIS_`, say).
    static func isServiceLink(_ name: String, _ value: String) -> Bool {
        guard name.hasPrefix("WEBCHAT_") else { return false }
        if name.hasSuffix("_SERVICE_HOST") || name.contains("_SERVICE_PORT") { return true }
        if let port = name.range(of: "_PORT_", options: .backwards) {
            let parts = name[port.upperBound...].split(separator: "_", omittingEmptySubsequences: false)
            if (2...3).contains(parts.count), !parts[0].isEmpty, parts[0].allSatisfy(\.isNumber), ["TCP", "UDP", "SCTP"].contains(parts[1]),
               parts.count == 2 || ["PROTO", "PORT", "ADDR"].contains(parts[2]) {
                return true
            }
        }
        return name.hasSuffix("_PORT") && ["tcp://", "udp://", "sctp://"].contains { value.hasPrefix($0) }
    }

    /// The configuration `providers` give, the first that has a value winning; `environment` is for
    /// what is read by its conventional names rather than as options.
    static func resolve(providers: [any ConfigProvider], environment: [String: String]) throws -> ServerConfiguration {
        let failures = LookupFailures()
        let reader = ConfigReader(providers: providers, accessReporter: failures)
        var c = ServerConfiguration()
        // A value a provider holds but cannot give as a string is an error, not "not set": the
        // reader's non-throwing accessor returns nil for both, and only its reports tell them apart.
        func string(_ key: String) throws -> String? {
            let value = reader.string(forKey: ConfigKey(key))
            if let failure = failures.take() {
                throw ConfigurationError("--\(flag(key)) (or WEBCHAT_\(environmentName(key))) cannot be read: \(failure)")
            }
            return value
        }
        // Lists are comma-separated strings, on the command line and in the environment alike.
        func list(_ key: String) throws -> [String]? {
            try string(key).map { value in
                value.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            }
        }
        func int(_ key: String, _ range: ClosedRange<Int>) throws -> Int? {
            guard let text = try string(key) else { return nil }
            guard let value = Int(text), range.contains(value) else {
                throw ConfigurationError("--\(flag(key)) must be a whole number from \(range.lowerBound) to \(range.upperBound), not '\(text)'")
            }
            return value
        }
        if let v = try string("host") { c.host = v }
        if let v = try int("port", 0...65535) { c.port = v }
        switch (try string("tlsCertFile"), try string("tlsKeyFile")) {
        case (nil, nil): break
        case (let chain?, let key?): c.tls = .init(certificateChain: chain, privateKey: key)
        case (nil, _): throw ConfigurationError("--tls-key-file needs --tls-cert-file, the certificate chain it belongs to")
        case (_, nil): throw ConfigurationError("--tls-cert-file needs --tls-key-file, the certificate's private key")
        }
        if let v = try int("httpRedirectPort", 0...65535) { c.httpRedirectPort = v }
        if let v = try int("hstsMaxAge", 0...63_072_000) { c.hstsMaxAgeSeconds = v }
        if let v = try string("auth") {
            guard let mode = ServerConfiguration.AuthMode(rawValue: v) else { throw ConfigurationError("--auth must be password or open, not '\(v)'") }
            c.auth = mode
        }
        if let v = try string("store") { c.store = try ServerConfiguration.parseStore(v, environment: environment) }
        if let v = try string("broker") { c.broker = try ServerConfiguration.parseBroker(v) }
        if let origins = try list("corsOrigins") { c.corsOrigins = origins }
        if let v = try string("publicDir") { c.publicDirectory = try checkPublicDirectory(v) }
        if let v = try int("retentionDays", 1...36_500) { c.chat.retentionDays = v }
        if let v = try int("maxMessageChars", 1...1_000_000) { c.chat.maxMessageChars = v }
        if let v = try int("maxGroupMembers", 2...100_000) { c.chat.maxGroupMembers = v }
        if let v = try int("tokenTtlDays", 1...3650) { c.tokenTTLDays = v }
        if let v = try int("tokenRecheckMs", 100...86_400_000) { c.tokenRecheckMS = v }
        if let v = try int("bcryptCost", 4...31) { c.bcryptCost = v }
        if let v = try int("maxFailedSignInsPerAddress", 0...1_000_000) { c.maxFailedSignInsPerAddress = v }
        c.trustedProxies = try (try list("trustedProxies") ?? []).map { text in
            guard let range = AddressRange(text) else {
                throw ConfigurationError("--trusted-proxies takes IP addresses or CIDR ranges (10.0.0.0/8, ::1), not '\(text)'")
            }
            return range
        }
        if let v = try int("maxConnectionsPerUser", 0...1_000_000) { c.maxConnectionsPerUser = v }
        if let v = try int("maxPendingConnectionsPerAddress", 0...1_000_000) { c.maxPendingConnectionsPerAddress = v }
        if let v = try int("rateBurst", 1...1_000_000) { c.rateBurst = v }
        if let v = try string("ratePerSecond") {
            // inf, nan and 1e400 parse as numbers; an infinite rate would turn the limit off.
            guard let rate = Double(v), rate.isFinite, rate > 0, rate <= 1_000_000 else {
                throw ConfigurationError("--rate-per-second must be a positive number up to 1000000, not '\(v)'")
            }
            c.ratePerSecond = rate
        }
        if let v = try int("pingIntervalMs", 10...3_600_000) { c.pingIntervalMS = v }
        if let v = try int("pingTimeoutMs", 10...3_600_000) { c.pingTimeoutMS = v }
        if let v = try int("maxPayloadBytes", 1024...100_000_000) { c.maxPayloadBytes = v }
        if let v = try int("connectTimeoutMs", 10...3_600_000) { c.connectTimeoutMS = v }
        if let v = try string("logLevel") {
            guard let level = Logger.Level(rawValue: v) else { throw ConfigurationError("--log-level must be one of trace, debug, info, notice, warning, error, critical") }
            c.logLevel = level
        }
        try c.checkTLSSettings()
        return c
    }

    /// A `--public-dir` given explicitly must be the web client's folder: a wrong one would
    /// start a server that answers 404 at `/`, saying nothing. (The default is looked for, and
    /// only warned about when missing: see `buildApplication`.)
    static func checkPublicDirectory(_ path: String) throws -> String {
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isFolder) else {
            throw ConfigurationError("--public-dir \(path): no such folder")
        }
        guard isFolder.boolValue else { throw ConfigurationError("--public-dir \(path) is not a folder") }
        guard FileManager.default.fileExists(atPath: URL(fileURLWithPath: path).appendingPathComponent("index.html").path) else {
            throw ConfigurationError("--public-dir \(path) has no index.html: point it at the web client's folder (Public/ of the repository)")
        }
        return path
    }

    private static func flag(_ key: String) -> String {
        all.first { $0.key == key }?.flag ?? key
    }

    /// The environment variable's name after `WEBCHAT_`: `retentionDays` → `RETENTION_DAYS`.
    private static func environmentName(_ key: String) -> String {
        flag(key).uppercased().replacingOccurrences(of: "-", with: "_")
    }
}

/// What the configuration reader could not read: a provider's error or a value it could not
/// convert, reported (synchronously, during the read) instead of thrown.
private final class LookupFailures: AccessReporter {
    private let failures = Mutex<[String]>([])

    func report(_ event: AccessEvent) {
        var found: [String] = []
        for provider in event.providerResults {
            if case .failure(let error) = provider.result { found.append("\(provider.providerName): \(error)") }
        }
        if let error = event.conversionError { found.append("\(error)") }
        guard !found.isEmpty else { return }
        failures.withLock { $0 += found }
    }

    /// The failures reported since the last call, joined; nil if none.
    func take() -> String? {
        let taken = failures.withLock { failures in
            defer { failures = [] }
            return failures
        }
        return taken.isEmpty ? nil : taken.joined(separator: "; ")
    }
}
