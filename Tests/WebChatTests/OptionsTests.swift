import ChatDynamoDB
import ChatServer
import CommandLineOptions
import Configuration
import Foundation
import RedisBroker
import Testing
@testable import webchat

@Suite("Command line and environment options")
struct OptionsTests {
    private func resolve(_ arguments: [String], environment: [String: String] = [:]) throws -> ServerConfiguration {
        try Options.resolve(arguments: arguments, environment: environment)
    }

    @Test("defaults: 127.0.0.1:8080, password auth, SQLite under data/")
    func defaults() throws {
        let c = try resolve([])
        #expect(c.host == "127.0.0.1" && c.port == 8080 && c.auth == .password)
        #expect(c.store == .sqlite(path: "data/webchat.sqlite"))
        #expect(c.chat.retentionDays == 30 && c.chat.maxMessageChars == 4000)
        #expect(c.rateBurst == 100 && c.ratePerSecond == 50)
        #expect(c.maxFailedSignInsPerAddress == 100 && c.trustedProxies.isEmpty && c.maxConnectionsPerUser == 64)
        #expect(c.maxPendingConnectionsPerAddress == 256)
    }

    @Test("--help names every option in full, its help in one column")
    func usageNamesEveryFlagInFull() {
        let lines = Options.usage.split(separator: "\n").filter { $0.hasPrefix("  --") }
        #expect(lines.count == Options.all.count)
        var helpColumns = Set<Int>()
        for (line, option) in zip(lines, Options.all) {
            #expect(line.hasPrefix("  --\(option.flag) "), "\(line)")
            #expect(line.hasSuffix(option.help), "\(line)")
            helpColumns.insert(line.count - option.help.count)
        }
        #expect(helpColumns.count == 1, "help starts in columns \(helpColumns)")
    }

    @Test("the command line wins over the environment, which wins over defaults")
    func precedence() throws {
        let c = try resolve(["--port", "9001"], environment: ["WEBCHAT_PORT": "9002", "WEBCHAT_RETENTION_DAYS": "7"])
        #expect(c.port == 9001)
        #expect(c.chat.retentionDays == 7)
    }

    @Test("each option reaches its setting")
    func options() throws {
        let web = try WebClientFolder()
        let c = try resolve([
            "--host", "0.0.0.0", "--auth", "open", "--store", "memory",
            "--cors-origins", "https://a.example, https://b.example", "--max-message-chars", "10",
            "--max-group-members", "5", "--token-ttl-days", "2", "--token-recheck-ms", "1500", "--bcrypt-cost", "4", "--rate-burst", "7",
            "--rate-per-second", "2.5", "--ping-interval-ms", "1000", "--ping-timeout-ms", "500",
            "--max-payload-bytes", "2048", "--connect-timeout-ms", "3000", "--log-level", "debug",
            "--public-dir", web.path, "--retention-days=3", "--max-failed-sign-ins-per-address", "0",
            "--trusted-proxies", "127.0.0.1, 10.0.0.0/8,fd00::/8", "--max-connections-per-user", "3",
            "--max-pending-connections-per-address", "0",
        ])
        #expect(c.host == "0.0.0.0" && c.auth == .open && c.store == .memory)
        #expect(c.corsOrigins == ["https://a.example", "https://b.example"])
        #expect(c.chat.maxMessageChars == 10 && c.chat.maxGroupMembers == 5 && c.chat.retentionDays == 3)
        #expect(c.tokenTTLDays == 2 && c.tokenRecheckMS == 1500 && c.bcryptCost == 4 && c.rateBurst == 7 && c.ratePerSecond == 2.5)
        #expect(c.pingIntervalMS == 1000 && c.pingTimeoutMS == 500 && c.maxPayloadBytes == 2048 && c.connectTimeoutMS == 3000)
        #expect(c.logLevel == .debug && c.publicDirectory == web.path)
        #expect(c.maxFailedSignInsPerAddress == 0 && c.maxConnectionsPerUser == 3 && c.maxPendingConnectionsPerAddress == 0)
        #expect(c.trustedProxies.map(\.description) == ["127.0.0.1/32", "10.0.0.0/8", "fd00::/8"])
    }

    @Test("scale-out: a DynamoDB store (credentials from AWS_*) and a Redis broker")
    func scaleOut() throws {
        let c = try resolve(
            ["--store", "dynamodb://eu-west-1?prefix=chat_", "--broker", "redis://:pw@10.0.0.5:6380/1?prefix=a:"],
            environment: ["AWS_ACCESS_KEY_ID": "AKID", "AWS_SECRET_ACCESS_KEY": "secret"]
        )
        let credentials = DynamoDBConfiguration.Credentials(accessKeyID: "AKID", secretAccessKey: "secret")
        #expect(c.store == .dynamodb(DynamoDBConfiguration(region: "eu-west-1", tablePrefix: "chat_", credentials: credentials)))
        #expect(c.broker == .redis(RedisBrokerConfiguration(host: "10.0.0.5", port: 6380, password: "pw", database: 1, prefix: "a:")))
        let fromEnvironment = try resolve([], environment: [
            "WEBCHAT_STORE": "dynamodb://us-east-1?endpoint=http://127.0.0.1:8000", "WEBCHAT_BROKER": "redis://127.0.0.1",
            "AWS_ACCESS_KEY_ID": "AKID", "AWS_SECRET_ACCESS_KEY": "secret",
        ])
        guard case .dynamodb(let store) = fromEnvironment.store else { Issue.record("no DynamoDB store"); return }
        #expect(store.endpoint == "http://127.0.0.1:8000" && store.tablePrefix == "webchat_")
        #expect(fromEnvironment.broker == .redis(RedisBrokerConfiguration()))
    }

    @Test("TLS: both files, from the command line or the environment; none means plain HTTP")
    func tls() throws {
        #expect(try resolve([]).tls == nil)
        let files = ServerConfiguration.TLSFiles(certificateChain: "/etc/webchat/chain.pem", privateKey: "/etc/webchat/key.pem")
        #expect(try resolve(["--tls-cert-file", "/etc/webchat/chain.pem", "--tls-key-file", "/etc/webchat/key.pem"]).tls == files)
        let fromEnvironment = try resolve([], environment: ["WEBCHAT_TLS_CERT_FILE": "/etc/webchat/chain.pem", "WEBCHAT_TLS_KEY_FILE": "/etc/webchat/key.pem"])
        #expect(fromEnvironment.tls == files)
    }

    @Test("with TLS: a plain-HTTP port that redirects, and Strict-Transport-Security; neither by default")
    func httpsExtras() throws {
        let tls = ["--tls-cert-file", "chain.pem", "--tls-key-file", "key.pem"]
        let plain = try resolve(tls)
        #expect(plain.httpRedirectPort == nil && plain.hstsMaxAgeSeconds == 0)
        let c = try resolve(tls + ["--port", "443", "--http-redirect-port", "80", "--hsts-max-age", "31536000"])
        #expect(c.httpRedirectPort == 80 && c.hstsMaxAgeSeconds == 31_536_000)
        let fromEnvironment = try resolve(tls, environment: ["WEBCHAT_HTTP_REDIRECT_PORT": "8081", "WEBCHAT_HSTS_MAX_AGE": "600"])
        #expect(fromEnvironment.httpRedirectPort == 8081 && fromEnvironment.hstsMaxAgeSeconds == 600)
    }

    @Test("bad input stops with a message naming the option", arguments: [
        (["--prot", "9"], "unknown option --prot"),
        (["--port", "abc"], "--port must be a whole number from 0 to 65535"),
        (["--port", "70000"], "--port must be a whole number"),
        (["--auth", "none"], "--auth must be password or open"),
        (["--store", "postgres://x"], "--store must be sqlite:PATH, dynamodb://REGION?endpoint=…&prefix=… or memory"),
        (["--store", "sqlite:"], "needs a file path"),
        (["--store", "dynamodb://eu-west-1"], "--store: DynamoDB needs credentials: set AWS_ACCESS_KEY_ID"),
        (["--store", "dynamodb://?prefix=x"], "--store: the store URL names no region"),
        (["--broker", "redis://localhost:0"], "--broker: invalid Redis URL: the port '0'"),
        (["--broker", "kafka://x"], "--broker must be memory or redis[s]://"),
        (["--rate-per-second", "0"], "--rate-per-second must be a positive number"),
        (["--rate-per-second", "inf"], "--rate-per-second must be a positive number up to 1000000, not 'inf'"),
        (["--rate-per-second", "-inf"], "--rate-per-second must be a positive number"),
        (["--rate-per-second", "nan"], "--rate-per-second must be a positive number"),
        (["--rate-per-second", "1e400"], "--rate-per-second must be a positive number up to 1000000, not '1e400'"),
        (["--rate-per-second", "1000001"], "--rate-per-second must be a positive number up to 1000000"),
        (["--log-level", "loud"], "--log-level must be one of"),
        (["--bcrypt-cost", "3"], "--bcrypt-cost must be a whole number from 4 to 31"),
        (["--trusted-proxies", "10.0.0.0/33"], "--trusted-proxies takes IP addresses or CIDR ranges"),
        (["--trusted-proxies", "proxy.example"], "not 'proxy.example'"),
        (["--max-failed-sign-ins-per-address", "-1"], "--max-failed-sign-ins-per-address must be a whole number from 0"),
        (["--tls-cert-file", "chain.pem"], "--tls-cert-file needs --tls-key-file"),
        (["--tls-key-file", "key.pem"], "--tls-key-file needs --tls-cert-file"),
        (["--http-redirect-port", "80"], "--http-redirect-port needs --tls-cert-file and --tls-key-file"),
        (["--hsts-max-age", "600"], "--hsts-max-age needs --tls-cert-file and --tls-key-file"),
        (["--tls-cert-file", "c.pem", "--tls-key-file", "k.pem", "--http-redirect-port", "8080"], "--http-redirect-port must differ from --port (8080)"),
        (["--tls-cert-file", "c.pem", "--tls-key-file", "k.pem", "--hsts-max-age", "-1"], "--hsts-max-age must be a whole number from 0 to 63072000"),
        (["--tls-cert-file", "c.pem", "--tls-key-file", "k.pem", "--http-redirect-port", "http"], "--http-redirect-port must be a whole number from 0 to 65535"),
    ])
    func refused(_ arguments: [String], _ message: String) {
        #expect {
            // Not on EC2: without AWS_* keys nothing is left to ask for credentials.
            _ = try resolve(arguments, environment: ["AWS_EC2_METADATA_DISABLED": "true"])
        } throws: { error in
            "\(error)".contains(message)
        }
    }

    // The audit's silent defaults (finding 2): swift-configuration's command-line provider split
    // every value at commas and gathered repeats and stray words into a list, which a read of
    // one string took for "not set".

    @Test("values with commas reach their settings whole, in both forms of a flag")
    func commasInValues() throws {
        let tls = try resolve(["--tls-cert-file", "/x,y/cert.pem", "--tls-key-file=/x,y/key.pem"]).tls
        #expect(tls == .init(certificateChain: "/x,y/cert.pem", privateKey: "/x,y/key.pem"))
        #expect(try resolve(["--store", "sqlite:/a,b/chat.sqlite"]).store == .sqlite(path: "/a,b/chat.sqlite"))
        #expect(try resolve(["--store=sqlite:/a,b/chat.sqlite"]).store == .sqlite(path: "/a,b/chat.sqlite"))
        let redis = RedisBrokerConfiguration(host: "host", password: "pa,ss")
        #expect(try resolve(["--broker", "redis://:pa,ss@host"]).broker == .redis(redis))
        #expect(try resolve(["--broker=redis://:pa,ss@host"]).broker == .redis(redis))
        // A value that holds = after the first one keeps it.
        #expect(try resolve(["--store=sqlite:/a=b/chat.sqlite"]).store == .sqlite(path: "/a=b/chat.sqlite"))
    }

    @Test("the environment's values with commas arrive whole, and the command line still wins over them")
    func commasInEnvironment() throws {
        let c = try resolve([], environment: [
            "WEBCHAT_BROKER": "redis://:pa,ss@host", "WEBCHAT_STORE": "sqlite:/a,b/chat.sqlite",
            "WEBCHAT_TLS_CERT_FILE": "/x,y/cert.pem", "WEBCHAT_TLS_KEY_FILE": "/x,y/key.pem",
        ])
        #expect(c.broker == .redis(RedisBrokerConfiguration(host: "host", password: "pa,ss")))
        #expect(c.store == .sqlite(path: "/a,b/chat.sqlite"))
        #expect(c.tls == .init(certificateChain: "/x,y/cert.pem", privateKey: "/x,y/key.pem"))
        let overridden = try resolve(["--broker", "memory", "--store", "sqlite:/c,d.sqlite"], environment: [
            "WEBCHAT_BROKER": "redis://:pa,ss@host", "WEBCHAT_STORE": "sqlite:/a,b/chat.sqlite",
        ])
        #expect(overridden.broker == .memory && overridden.store == .sqlite(path: "/c,d.sqlite"))
    }

    @Test("only the list options split at commas, from the command line and the environment alike")
    func lists() throws {
        let c = try resolve(["--cors-origins=https://a.example,https://b.example", "--trusted-proxies", "10.0.0.1"])
        #expect(c.corsOrigins == ["https://a.example", "https://b.example"])
        #expect(c.trustedProxies.map(\.description) == ["10.0.0.1/32"])
        let fromEnvironment = try resolve([], environment: [
            "WEBCHAT_CORS_ORIGINS": "https://a.example, https://b.example", "WEBCHAT_TRUSTED_PROXIES": "127.0.0.1,fd00::/8",
        ])
        #expect(fromEnvironment.corsOrigins == ["https://a.example", "https://b.example"])
        #expect(fromEnvironment.trustedProxies.map(\.description) == ["127.0.0.1/32", "fd00::/8"])
        let overridden = try resolve(["--cors-origins", "*"], environment: ["WEBCHAT_CORS_ORIGINS": "https://a.example,https://b.example"])
        #expect(overridden.corsOrigins == ["*"])
    }

    @Test("every argument is a known flag with one value: anything else stops the server, saying what", arguments: [
        (["--retention-days", "0", "--retention-days", "7"], "--retention-days is given more than once"),
        (["--retention-days=0", "--retention-days", "7"], "--retention-days is given more than once"),
        (["--store", "memory", "--store=memory"], "--store is given more than once"),
        (["--retention-days"], "--retention-days needs a value"),
        (["--retention-days", "--port", "9"], "--retention-days needs a value"),
        (["--store="], "--store needs a value"),
        (["--store", ""], "--store needs a value"),
        (["--store", "memory", "-retention-days", "0"], "unknown option -retention-days (did you mean --retention-days?)"),
        (["--store", "memory", "-retention-days=0"], "unknown option -retention-days=0 (did you mean --retention-days=0?)"),
        (["--store", "memory", "extra"], "unexpected argument 'extra' after the value of --store"),
        (["--store=memory", "extra"], "unexpected argument 'extra' after the value of --store"),
        (["serve"], "unexpected argument 'serve': options are written --name value or --name=value"),
        (["-x"], "unexpected argument '-x'"),
        (["--"], "unknown option --"),
        (["--prot=9"], "unknown option --prot (did you mean --port?)"),
        (["--prot"], "unknown option --prot"),
        (["--public-dir", "/nonexistent/webchat-public"], "--public-dir /nonexistent/webchat-public: no such folder"),
    ])
    func strictCommandLine(_ arguments: [String], _ message: String) {
        #expect {
            _ = try resolve(arguments)
        } throws: { error in
            "\(error)".contains(message)
        }
    }

    @Test("a WEBCHAT_ variable that names no option is ignored with a warning naming the one meant", arguments: [
        (["WEBCHAT_PROT": "9000"], "WEBCHAT_PROT names no option and is ignored (did you mean WEBCHAT_PORT?)"),
        (["WEBCHAT_MAX_MESAGE_CHARS": "10"], "WEBCHAT_MAX_MESAGE_CHARS names no option and is ignored (did you mean WEBCHAT_MAX_MESSAGE_CHARS?)"),
        (["WEBCHAT_PORT": "9000", "WEBCHAT_RETENTON_DAYS": "7"], "WEBCHAT_RETENTON_DAYS names no option and is ignored (did you mean WEBCHAT_RETENTION_DAYS?)"),
        (["webchat_port": "9000"], "webchat_port names no option and is ignored (did you mean WEBCHAT_PORT?)"),
        (["WEBCHAT_PROT": ""], "WEBCHAT_PROT names no option and is ignored (did you mean WEBCHAT_PORT?)"),
        (["WEBCHAT_VERSION": "1.2"], "WEBCHAT_VERSION names no option and is ignored ('webchat --help' lists them)"),
    ])
    func unknownEnvironmentVariable(_ environment: [String: String], _ warning: String) throws {
        #expect(Options.environmentWarnings(environment) == [warning])
        let c = try resolve([], environment: environment)
        #expect(c.port == (environment["WEBCHAT_PORT"] == nil ? 8080 : 9000))
        #expect(c.chat.maxMessageChars == 4000 && c.chat.retentionDays == 30)
    }

    @Test("Kubernetes' service links for a Service named webchat are no options: left out, WEBCHAT_PORT=tcp://… with a warning")
    func kubernetesServiceLinks() throws {
        let links = [
            "WEBCHAT_SERVICE_HOST": "10.0.0.11", "WEBCHAT_SERVICE_PORT": "8080", "WEBCHAT_SERVICE_PORT_HTTP": "8080",
            "WEBCHAT_PORT": "tcp://10.0.0.11:8080", "WEBCHAT_PORT_8080_TCP": "tcp://10.0.0.11:8080",
            "WEBCHAT_PORT_8080_TCP_PROTO": "tcp", "WEBCHAT_PORT_8080_TCP_PORT": "8080", "WEBCHAT_PORT_8080_TCP_ADDR": "10.0.0.11",
            "WEBCHAT_REDIS_SERVICE_HOST": "10.0.0.12", "WEBCHAT_REDIS_PORT": "tcp://10.0.0.12:6379",
            "WEBCHAT_REDIS_PORT_6379_TCP_ADDR": "10.0.0.12",
        ]
        #expect(Options.environmentWarnings(links) == ["WEBCHAT_PORT=tcp://10.0.0.11:8080 is a Kubernetes service link, not a port: ignored (the default or --port holds)"])
        #expect(try resolve([], environment: links).port == 8080)
        #expect(try resolve(["--port", "9000"], environment: links).port == 9000)
        // A real option beside them still counts; a bad port that is no link is still an error.
        #expect(try resolve([], environment: links.merging(["WEBCHAT_MAX_MESSAGE_CHARS": "10"]) { $1 }).chat.maxMessageChars == 10)
        #expect(throws: ConfigurationError.self) { try resolve([], environment: ["WEBCHAT_PORT": "http://x:1"]) }
        #expect(Options.environmentWarnings(["WEBCHAT_PORT_HTTP": "8080"]) == ["WEBCHAT_PORT_HTTP names no option and is ignored ('webchat --help' lists them)"])
    }

    @Test("variables without the WEBCHAT_ prefix are not options, and are left alone")
    func otherEnvironmentVariables() throws {
        let c = try resolve([], environment: ["PORT": "1", "WEBCHATPORT": "1", "PATH": "/bin", "AWS_REGION": "eu-west-1"])
        #expect(c.port == 8080)
    }

    @Test("a misspelled name is matched to the option fewest edits away, if close enough for its length", arguments: [
        ("PROT", "PORT"), ("PRT", "PORT"), ("MAX_MESAGE_CHARS", "MAX_MESSAGE_CHARS"),
        ("MAX_MESSAGE_CHAR", "MAX_MESSAGE_CHARS"), ("TSL_CERT_FILE", "TLS_CERT_FILE"), ("LOG_LEVLE", "LOG_LEVEL"),
        ("PYTHON", nil), ("BIN", nil), ("X", nil), ("", nil), ("RATE", nil),
    ] as [(String, String?)])
    func closestOption(_ name: String, _ meant: String?) {
        let options = Options.all.map { $0.flag.uppercased().replacingOccurrences(of: "-", with: "_") }
        #expect(StrictCommandLine.closest(to: name, among: options) == meant)
    }

    @Test("a value that starts with a dash is a value (and checked as one); --flag=--x gives one that starts with --")
    func dashedValues() throws {
        #expect(throws: ConfigurationError.self) { try resolve(["--max-failed-sign-ins-per-address", "-1"]) }
        #expect(try resolve(["--host=--x"]).host == "--x")
        #expect(try resolve(["--host", "-x"]).host == "-x")
    }

    @Test("a value a provider has but cannot give as a string stops the server instead of reading as not set")
    func unreadableValueIsAnError() {
        let provider = InMemoryProvider(values: [AbsoluteConfigKey(ConfigKey("retentionDays")): 7])
        #expect {
            _ = try Options.resolve(providers: [provider], environment: [:])
        } throws: { error in
            "\(error)".contains("--retention-days (or WEBCHAT_RETENTION_DAYS) cannot be read")
        }
    }

    @Test("--rate-per-second takes finite rates up to 1000000, from the command line and the environment")
    func ratePerSecond() throws {
        #expect(try resolve(["--rate-per-second", "1000000"]).ratePerSecond == 1_000_000)
        #expect(try resolve(["--rate-per-second", "0.5"]).ratePerSecond == 0.5)
        for value in ["inf", "infinity", "nan", "1e400", "2e6"] {
            #expect(throws: ConfigurationError.self, "\(value)") { try resolve([], environment: ["WEBCHAT_RATE_PER_SECOND": value]) }
        }
    }

    @Test("--public-dir must name a folder with index.html in it; the default is looked for as before")
    func publicDirectory() throws {
        #expect(try resolve([]).publicDirectory == nil)
        let web = try WebClientFolder()
        #expect(try resolve(["--public-dir", web.path]).publicDirectory == web.path)
        #expect(try resolve([], environment: ["WEBCHAT_PUBLIC_DIR": web.path]).publicDirectory == web.path)
        try FileManager.default.removeItem(atPath: web.path + "/index.html")
        #expect {
            _ = try resolve(["--public-dir", web.path])
        } throws: { error in
            "\(error)" == "--public-dir \(web.path) has no index.html: point it at the web client's folder (Public/ of the repository)"
        }
        try "x".write(toFile: web.path + "/file", atomically: true, encoding: .utf8)
        #expect {
            _ = try resolve([], environment: ["WEBCHAT_PUBLIC_DIR": web.path + "/file"])
        } throws: { error in
            "\(error)".contains("is not a folder")
        }
    }
}

/// A temporary folder holding an `index.html`, removed when the value goes.
final class WebClientFolder {
    let path: String

    init() throws {
        path = FileManager.default.temporaryDirectory.appendingPathComponent("webchat-public-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        try "<!doctype html><html></html>\n".write(toFile: path + "/index.html", atomically: true, encoding: .utf8)
    }

    deinit {
        try? FileManager.default.removeItem(atPath: path)
    }
}
