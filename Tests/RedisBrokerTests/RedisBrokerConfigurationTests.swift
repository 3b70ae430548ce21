import Testing

@testable import RedisBroker

@Suite("Redis URL")
struct RedisBrokerConfigurationTests {
    @Test("a bare host takes every default")
    func defaults() throws {
        let configuration = try RedisBrokerConfiguration.parse("redis://localhost")
        #expect(configuration == RedisBrokerConfiguration(host: "localhost"))
        #expect(configuration.port == 6379 && configuration.database == 0 && configuration.prefix == "webchat:")
        #expect(configuration.password == nil && configuration.username == nil)
    }

    @Test("password, port, database and prefix")
    func everything() throws {
        let configuration = try RedisBrokerConfiguration.parse("redis://:s3cret@redis.internal:6380/2?prefix=chat%2Fa:")
        #expect(configuration == RedisBrokerConfiguration(host: "redis.internal", port: 6380, password: "s3cret", database: 2, prefix: "chat/a:"))
        #expect(configuration.endpoint == "redis.internal:6380")
    }

    @Test("an ACL user, a percent-encoded password, an IPv6 address, an empty prefix")
    func userAndIPv6() throws {
        let configuration = try RedisBrokerConfiguration.parse("REDIS://chat:p%40ss%3Aw@[::1]:7000/?prefix=")
        #expect(configuration == RedisBrokerConfiguration(host: "::1", port: 7000, username: "chat", password: "p@ss:w", prefix: ""))
        #expect(configuration.endpoint == "[::1]:7000")
    }

    @Test("rediss:// is TLS, with the system's CAs or those of a file")
    func tls() throws {
        let system = try RedisBrokerConfiguration.parse("rediss://:pw@redis.example.com:6380")
        #expect(system.tls == RedisBrokerConfiguration.TLS() && system.port == 6380 && system.password == "pw")
        let own = try RedisBrokerConfiguration.parse("RedisS://redis.internal?ca-file=%2Fetc%2Fwebchat%2Fredis-ca.pem&prefix=x:")
        #expect(own.tls == RedisBrokerConfiguration.TLS(caFile: "/etc/webchat/redis-ca.pem") && own.prefix == "x:")
        #expect(try RedisBrokerConfiguration.parse("redis://redis.internal").tls == nil)
        let client = try RedisBrokerConfiguration.parse("rediss://redis.internal?cert-file=/etc/webchat/node.pem&key-file=/etc/webchat/node.key")
        #expect(client.tls == RedisBrokerConfiguration.TLS(certificateFile: "/etc/webchat/node.pem", keyFile: "/etc/webchat/node.key"))
        #expect("\(own)" == "rediss://redis.internal:6379/0?prefix=x:&heartbeat-interval-ms=5000&heartbeat-timeout-ms=15000&ca-file=/etc/webchat/redis-ca.pem")
    }

    @Test("the heartbeat's interval and timeout")
    func heartbeat() throws {
        let configuration = try RedisBrokerConfiguration.parse("redis://localhost?heartbeat-interval-ms=300&heartbeat-timeout-ms=1500")
        #expect(configuration.heartbeatInterval == .milliseconds(300) && configuration.heartbeatTimeout == .milliseconds(1500))
        let defaults = try RedisBrokerConfiguration.parse("redis://localhost")
        #expect(defaults.heartbeatInterval == .seconds(5) && defaults.heartbeatTimeout == .seconds(15))
    }

    @Test("a wrong URL names what is wrong", arguments: [
        ("localhost:6379", "it must start with redis://"),
        ("http://localhost", "the scheme must be redis:// or rediss://, not http://"),
        ("redis://localhost?ca-file=/etc/ca.pem", "ca-file is for TLS: use rediss://"),
        ("rediss://localhost?ca-file=", "ca-file needs the path of a PEM file"),
        ("redis://localhost?cert-file=/c.pem&key-file=/k.pem", "cert-file is for TLS: use rediss://"),
        ("rediss://localhost?cert-file=/c.pem", "cert-file and key-file go together"),
        ("rediss://localhost?key-file=/k.pem", "cert-file and key-file go together"),
        ("redis://", "no host"),
        ("redis://:pw@:6379", "no host"),
        ("redis://localhost:0", "the port '0' is not a number from 1 to 65535"),
        ("redis://localhost:http", "the port 'http' is not a number from 1 to 65535"),
        ("redis://localhost:70000", "the port '70000'"),
        ("redis://localhost/one", "the database 'one' is not a number"),
        ("redis://localhost/-1", "the database '-1' is not a number"),
        ("redis://localhost?db=1", "unknown parameter 'db' (known: prefix, heartbeat-interval-ms, heartbeat-timeout-ms, ca-file, cert-file, key-file)"),
        ("redis://localhost?heartbeat-interval-ms=5", "heartbeat-interval-ms must be a whole number of milliseconds from 10 to 3600000, not '5'"),
        ("redis://localhost?heartbeat-timeout-ms=1s", "heartbeat-timeout-ms must be a whole number of milliseconds"),
        ("redis://localhost?heartbeat-interval-ms=1000&heartbeat-timeout-ms=1500", "heartbeat-timeout-ms must be at least twice heartbeat-interval-ms"),
        ("redis://localhost?prefix=a&prefix=b", "the parameter prefix is given twice"),
        ("redis://secret@localhost", "the credentials before @ must be :password or user:password"),
        ("redis://:%zz@localhost", "bad percent-encoding in the password"),
        ("redis://::1", "an IPv6 host must be written in brackets"),
        ("redis://[::1", "the IPv6 address has no closing ]"),
        ("redis://[::1]6379", "unexpected '6379' after the IPv6 address"),
    ])
    func invalid(url: String, reason: String) {
        #expect {
            try RedisBrokerConfiguration.parse(url)
        } throws: { error in
            let message = (error as? RedisError)?.message ?? ""
            return message.hasPrefix("invalid Redis URL: \(reason)") && message.contains("redis[s]://[[user]:password@]host")
        }
    }

    @Test("the error never repeats the password")
    func passwordNotEchoed() {
        #expect {
            try RedisBrokerConfiguration.parse("redis://:hunter2@localhost:port")
        } throws: { error in
            "\(error)".contains("port 'port'") && !"\(error)".contains("hunter2")
        }
    }

    @Test("a password may hold /, ? and @: the host is after the last @")
    func passwordWithDelimiters() throws {
        let configuration = try RedisBrokerConfiguration.parse("redis://chat:a/b?c@d@redis.internal:6380/2?prefix=x:")
        #expect(configuration == RedisBrokerConfiguration(host: "redis.internal", port: 6380, username: "chat", password: "a/b?c@d", database: 2, prefix: "x:"))
    }

    @Test("an error about a later part never repeats a password holding / or ?", arguments: [
        ("redis://:Xy1/Zq9@host:port", "the port 'port'"),
        ("redis://:Xy1?Zq9@host/x", "the database 'x'"),
        ("redis://:Xy1?Zq9=1@host?db=1", "unknown parameter 'db'"),
        ("redis://:Xy1/Zq9%zz@host", "bad percent-encoding in the password"),
        ("redis://u:Xy1/Zq9@", "no host"),
        ("redis://Xy1/Zq9@host", "the credentials before @ must be :password or user:password"),
        ("Xy1:Zq9://w@host", "it must start with redis://"),
    ])
    func delimitersInPasswordNotEchoed(url: String, reason: String) {
        #expect {
            try RedisBrokerConfiguration.parse(url)
        } throws: { error in
            let message = "\(error)"
            return message.hasPrefix("invalid Redis URL: \(reason)") && !message.contains("Xy1") && !message.contains("Zq9")
        }
    }

    @Test("description, debugDescription and dump show everything but the password")
    func redacted() throws {
        let configuration = try RedisBrokerConfiguration.parse("redis://chat:hunter2@redis.internal:6380/2?prefix=x:")
        var dumped = ""
        dump(configuration, to: &dumped)
        for text in ["\(configuration)", String(reflecting: configuration), dumped, "\([configuration])"] {
            #expect(!text.contains("hunter2"), "\(text)")
            #expect(text.contains("redis.internal") && text.contains("6380") && text.contains("chat"), "\(text)")
        }
        #expect("\(configuration)" == "redis://chat:***@redis.internal:6380/2?prefix=x:&heartbeat-interval-ms=5000&heartbeat-timeout-ms=15000")
        #expect("\(RedisBrokerConfiguration())" == "redis://127.0.0.1:6379/0?prefix=webchat:&heartbeat-interval-ms=5000&heartbeat-timeout-ms=15000")
    }
}
