import ChatCore
import Foundation
import Logging
import Synchronization
import TestSupport

@testable import RedisBroker

/// Collects what a subscriber receives, and waits for it.
final class Inbox: Sendable {
    private let received = Mutex<[BrokerEnvelope]>([])

    var all: [BrokerEnvelope] { received.withLock { $0 } }

    func receive(_ envelope: BrokerEnvelope) { received.withLock { $0.append(envelope) } }

    /// Waits until at least `count` envelopes arrived (at most `timeout`); returns them all.
    @discardableResult
    func wait(for count: Int, timeout: Duration = .seconds(5)) async -> [BrokerEnvelope] {
        await eventually(timeout: timeout) { self.all.count >= count }
        return all
    }
}

/// Collects the users a broker reports through `presenceLost`.
final class LostUsers: Sendable {
    private let users = Mutex<[UserID]>([])
    private let calls = Mutex(0)

    var all: [UserID] { users.withLock { $0 } }
    var callCount: Int { calls.withLock { $0 } }

    func record(_ lost: [UserID]) {
        users.withLock { $0 += lost }
        calls.withLock { $0 += 1 }
    }
}

/// Polls `condition` until it holds or `timeout` passes; returns whether it held.
@discardableResult
func eventually(timeout: Duration = .seconds(5), _ condition: () async throws -> Bool) async rethrows -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try await condition() { return true }
        try? await Task.sleep(for: .milliseconds(5))
    }
    return try await condition()
}

func uid(_ raw: String) -> UserID { UserID(raw)! }

/// A timeline envelope numbered `n`.
func event(_ n: Int64) -> BrokerEnvelope { .timeline(seq: n, event: "message", payload: Array("{\"seq\":\(n)}".utf8)) }

/// Helpers for broker tests against a real Redis.
enum RedisTest {
    static let logger = LiveServer.logger("redis-broker-test")

    /// A prefix no other test uses, so tests sharing one Redis stay apart.
    static func uniquePrefix(_ name: String = "t") -> String {
        "test:\(name):\(UUID().uuidString.prefix(8).lowercased()):"
    }

    /// A configuration for the shared test Redis (or `port`) with fast heartbeats and reconnects.
    static func configuration(port: Int, prefix: String = uniquePrefix()) -> RedisBrokerConfiguration {
        var configuration = RedisBrokerConfiguration(host: "127.0.0.1", port: port, prefix: prefix)
        configuration.connectTimeout = .seconds(2)
        configuration.minimumReconnectDelay = .milliseconds(20)
        configuration.maximumReconnectDelay = .milliseconds(200)
        configuration.heartbeatInterval = .milliseconds(100)
        configuration.heartbeatTimeout = .milliseconds(600)
        return configuration
    }

    /// A broker on the shared test Redis.
    static func broker(prefix: String = uniquePrefix()) async throws -> RedisBroker {
        let redis = try await TestServices.sharedRedis()
        return try await RedisBroker(configuration: configuration(port: redis.port, prefix: prefix), logger: logger)
    }

    /// A command connection of the test's own to `port`, to look at Redis from outside the broker.
    static func connection(port: Int) async throws -> RedisConnection {
        let connection = RedisConnection(configuration: configuration(port: port), role: "test", logger: logger)
        try await connection.connect()
        return connection
    }

    /// Debian's redis-server, or whichever is on the PATH.
    static let executable = ["/usr/bin/redis-server", "/usr/sbin/redis-server", "/usr/local/bin/redis-server"]
        .first { FileManager.default.isExecutableFile(atPath: $0) } ?? "redis-server"

    /// A redis-server of the test's own with extra arguments (a password, say); `stop()` ends it.
    static func startRedis(_ extra: [String]) async throws -> ServiceProcess {
        try await ServiceProcess.start("redis-auth", executable: executable) { port in
            ["--port", "\(port)", "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"] + extra
        }
    }
}
