import ChatCore
import ChatDynamoDB
import Foundation
import Logging
import RedisBroker

/// Everything `buildApplication` needs to know, resolved from the command line, the
/// environment and defaults by the `webchat` executable.
public struct ServerConfiguration: Sendable {
    /// How clients prove who they are.
    public enum AuthMode: String, Sendable, CaseIterable {
        /// Passwords (bcrypt) and bearer tokens: the default.
        case password
        /// No passwords: any user id is accepted. For development, tests and benchmarks only.
        case open
    }

    /// Where durable state lives.
    public enum StoreLocation: Sendable, Equatable {
        /// A SQLite file (created with its folder if missing): one process per file.
        case sqlite(path: String)
        /// Process memory: lost on exit. For tests.
        case memory
        /// DynamoDB tables, shared by every process of a cluster.
        case dynamodb(DynamoDBConfiguration)
    }

    /// How events reach the nodes that hold a user's connections.
    public enum BrokerLocation: Sendable, Equatable {
        /// In-process: a single node.
        case memory
        /// Redis pub/sub and presence, shared by every process of a cluster.
        case redis(RedisBrokerConfiguration)
    }

    /// A PEM certificate chain (the server's certificate first) and its PEM private key.
    public struct TLSFiles: Sendable, Equatable {
        public var certificateChain: String
        public var privateKey: String
        public init(certificateChain: String, privateKey: String) {
            self.certificateChain = certificateChain
            self.privateKey = privateKey
        }
    }

    public var host = "127.0.0.1"
    public var port = 8080
    /// Serve HTTPS and secure WebSockets with these files instead of plain HTTP.
    public var tls: TLSFiles? = nil
    /// With `tls`: also listen for plain HTTP on this port (same host) and answer every request
    /// there with a permanent redirect to the same host and path over HTTPS.
    public var httpRedirectPort: Int? = nil
    /// With `tls`: every HTTPS answer says `Strict-Transport-Security: max-age=` this many seconds
    /// (browsers then use only HTTPS for this host for that long); 0 for none.
    public var hstsMaxAgeSeconds = 0
    public var auth = AuthMode.password
    public var store = StoreLocation.sqlite(path: "data/webchat.sqlite")
    public var broker = BrokerLocation.memory
    /// Origins allowed to call the API and open sockets from a browser; empty means same origin only, `["*"]` any.
    public var corsOrigins: [String] = []
    /// Folder with the web client.
    public var publicDirectory: String? = nil
    public var chat = ChatConfiguration()
    /// Lifetime of a session token.
    public var tokenTTLDays = 30
    /// How often the tokens of live sockets are checked again: a socket whose token expired, or
    /// was revoked through another server, is disconnected then (revoked here: at once).
    public var tokenRecheckMS = 60_000
    /// bcrypt cost factor for stored passwords.
    public var bcryptCost = 12
    /// Failed password sign-ins one client address may make in five minutes before its sign-ins
    /// are refused for the rest of them (0: no limit). Ten per user id apply besides.
    public var maxFailedSignInsPerAddress = 100
    /// Proxies in front of the server whose `X-Forwarded-For` names the client (for the limit
    /// above); from anyone else the header is ignored.
    public var trustedProxies: [AddressRange] = []
    /// Socket.IO connections one user may hold on this node (0: no limit); more are refused.
    public var maxConnectionsPerUser = 64
    /// Engine.IO sessions one client address (as for the sign-in limit, behind `trustedProxies`)
    /// may hold before its socket is connected (0: no limit); more handshakes get 429. Each
    /// costs memory until `connectTimeoutMS`; a browser tab holds one for a moment.
    public var maxPendingConnectionsPerAddress = 256
    /// Events a connection may send at once before it is limited.
    public var rateBurst = 100
    /// Events a connection may send per second, sustained.
    public var ratePerSecond = 50.0
    /// Engine.IO heartbeat interval and timeout, in milliseconds.
    public var pingIntervalMS = 25_000
    public var pingTimeoutMS = 20_000
    /// Largest Engine.IO payload accepted, in bytes.
    public var maxPayloadBytes = 1_000_000
    /// How long a client may take to connect a namespace, in milliseconds.
    public var connectTimeoutMS = 45_000
    public var logLevel = Logger.Level.info

    public init() {}

    /// Refuses the HTTPS-only settings without TLS files, and a redirect port that is the
    /// HTTPS port itself.
    public func checkTLSSettings() throws {
        if tls == nil {
            if httpRedirectPort != nil { throw ConfigurationError("--http-redirect-port needs --tls-cert-file and --tls-key-file: it redirects plain HTTP to the server's HTTPS") }
            if hstsMaxAgeSeconds != 0 { throw ConfigurationError("--hsts-max-age needs --tls-cert-file and --tls-key-file: browsers ignore it over plain HTTP") }
        }
        if let redirect = httpRedirectPort, redirect == port, port != 0 {
            throw ConfigurationError("--http-redirect-port must differ from --port (\(port)), where HTTPS listens")
        }
    }

    /// Parses `sqlite:PATH`, `memory` or `dynamodb://REGION?…` as given to `--store`; DynamoDB's
    /// credentials come from `environment` (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, …).
    public static func parseStore(_ text: String, environment: [String: String] = ProcessInfo.processInfo.environment) throws -> StoreLocation {
        if text == "memory" { return .memory }
        if text.hasPrefix("sqlite:") {
            let path = String(text.dropFirst("sqlite:".count))
            guard !path.isEmpty else { throw ConfigurationError("--store sqlite: needs a file path, e.g. sqlite:data/webchat.sqlite") }
            return .sqlite(path: path)
        }
        if text.lowercased().hasPrefix("dynamodb:") {
            do {
                return .dynamodb(try DynamoDBConfiguration.parse(text, environment: environment))
            } catch {
                throw ConfigurationError("--store: \(error.message)")
            }
        }
        throw ConfigurationError("--store must be sqlite:PATH, dynamodb://REGION?endpoint=…&prefix=… or memory, not '\(text)'")
    }

    /// Parses `memory`, `redis://…` or `rediss://…` as given to `--broker`.
    public static func parseBroker(_ text: String) throws -> BrokerLocation {
        if text == "memory" { return .memory }
        if text.lowercased().hasPrefix("redis") {
            do {
                return .redis(try RedisBrokerConfiguration.parse(text))
            } catch {
                throw ConfigurationError("--broker: \(error)")
            }
        }
        throw ConfigurationError("--broker must be memory or redis[s]://[[user]:password@]host[:port][/db][?prefix=…], not '\(text)'")
    }
}

/// A configuration value that cannot be used, with a message for the operator.
public struct ConfigurationError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}
