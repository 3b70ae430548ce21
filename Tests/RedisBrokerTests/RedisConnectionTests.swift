import Foundation
import NIOCore
import Testing
import TestSupport

@testable import RedisBroker

@Suite("Redis connection")
struct RedisConnectionTests {
    @Test("pipelined commands are answered in order, concurrent callers each get their own reply")
    func pipelining() async throws {
        let redis = try await TestServices.sharedRedis()
        let connection = try await RedisTest.connection(port: redis.port)
        let key = RedisTest.uniquePrefix("pipe")
        let replies = try await connection.send((0..<200).map { _ in RedisCommand("INCR", key + "n") })
        #expect(replies == (1...200).map { RESPValue.integer(Int64($0)) })
        try await withThrowingTaskGroup(of: Void.self) { group in
            for n in 0..<100 {
                group.addTask {
                    try await connection.send(RedisCommand("SET", key + "k\(n)", "v\(n)"))
                    #expect(try await connection.send(RedisCommand("GET", key + "k\(n)")).string == "v\(n)")
                }
            }
            try await group.waitForAll()
        }
        await connection.close()
    }

    @Test("bulk strings are binary-safe both ways")
    func binary() async throws {
        let redis = try await TestServices.sharedRedis()
        let connection = try await RedisTest.connection(port: redis.port)
        let key = Array((RedisTest.uniquePrefix("bin") + "k").utf8)
        let value = (0...255).map(UInt8.init) + Array("\r\n$3\r\n".utf8)
        _ = try await connection.send([RedisCommand(parts: [Array("SET".utf8), key, value])])
        #expect(try await connection.send(RedisCommand(parts: [Array("GET".utf8), key])).bytes == value)
        await connection.close()
    }

    @Test("a server error is thrown with Redis's message, and the connection goes on")
    func serverError() async throws {
        let redis = try await TestServices.sharedRedis()
        let connection = try await RedisTest.connection(port: redis.port)
        await #expect {
            try await connection.send(RedisCommand("NOSUCHCOMMAND", "x"))
        } throws: { error in
            (error as? RedisError)?.isServerError == true && "\(error)".contains("unknown command")
        }
        let key = RedisTest.uniquePrefix("err") + "list"
        try await connection.send(RedisCommand("SET", key, "text"))
        await #expect {
            try await connection.send(RedisCommand("LPUSH", key, "x"))
        } throws: { error in
            "\(error)".hasPrefix("WRONGTYPE")
        }
        #expect(try await connection.send(RedisCommand("PING")) == .simpleString("PONG"))
        await connection.close()
        await #expect(throws: RedisError.closed) { try await connection.send(RedisCommand("PING")) }
    }

    @Test("a wrong or missing password fails the connection with Redis's message")
    func password() async throws {
        let redis = try await RedisTest.startRedis(["--requirepass", "right-password"])
        defer { redis.stop() }
        var configuration = RedisTest.configuration(port: redis.port)
        configuration.password = "wrong-password"
        await #expect {
            try await RedisBroker(configuration: configuration, logger: RedisTest.logger)
        } throws: { error in
            let error = error as? RedisError
            return error?.isServerError == true && error!.message.contains("refused the connection: AUTH failed: WRONGPASS")
                && !error!.message.contains("wrong-password")
        }
        configuration.password = nil
        await #expect {
            try await RedisBroker(configuration: configuration, logger: RedisTest.logger)
        } throws: { error in
            "\(error)".contains("PING failed: NOAUTH")
        }
        configuration.password = "right-password"
        configuration.database = 3
        let broker = try await RedisBroker(configuration: configuration, logger: RedisTest.logger)
        #expect(try await broker.commands.send(RedisCommand("CLIENT", "INFO")).string?.contains("db=3") == true)
        await broker.shutdown()
    }

    @Test("Redis down at startup fails fast and says where")
    func unreachable() async throws {
        let port = try FreePort.find()
        let started = ContinuousClock.now
        await #expect {
            try await RedisBroker(configuration: RedisTest.configuration(port: port), logger: RedisTest.logger)
        } throws: { error in
            (error as? RedisError)?.isConnectionError == true && "\(error)" == "cannot reach Redis at 127.0.0.1:\(port): Connection refused"
        }
        #expect(ContinuousClock.now - started < .seconds(2))
    }

    @Test("a server that accepts but never answers times out")
    func silentServer() async throws {
        let listener = try SilentListener()
        defer { listener.close() }
        var configuration = RedisTest.configuration(port: listener.port)
        configuration.connectTimeout = .milliseconds(300)
        let connection = RedisConnection(configuration: configuration, role: "test", logger: RedisTest.logger)
        let started = ContinuousClock.now
        await #expect {
            try await connection.connect()
        } throws: { error in
            "\(error)".contains("no answer to AUTH/SELECT/PING within")
        }
        #expect(ContinuousClock.now - started < .seconds(2))
    }

    @Test("a lost connection fails every waiting command at once, fails fast while down, and comes back")
    func lostConnection() async throws {
        let redis = try await TestServices.startRedis()
        defer { redis.stop() }
        let connection = try await RedisTest.connection(port: redis.port)
        let key = RedisTest.uniquePrefix("lost") + "never"
        // Commands queued behind one that blocks until the server goes away (written in this order).
        let waiting = try (0..<5).map { n in
            try connection.enqueue([n == 0 ? RedisCommand("BLPOP", key, "0") : RedisCommand("PING")])
        }
        try await Task.sleep(for: .milliseconds(100))
        redis.stop()
        for replies in waiting {
            await #expect { try await replies.get() } throws: { ($0 as? RedisError)?.isConnectionError == true }
        }
        // The connection notices its end (on its event loop) right after failing the commands.
        #expect(await eventually(timeout: .milliseconds(500)) { !connection.sendNow([RedisCommand("PING")]) })
        let started = ContinuousClock.now
        await #expect { try await connection.send(RedisCommand("PING")) } throws: { "\($0)".hasPrefix("not connected to Redis") }
        #expect(ContinuousClock.now - started < .milliseconds(100))

        let restarted = try await TestServices.startRedis(port: redis.port)
        defer { restarted.stop() }
        let back = await eventually { (try? await connection.send(RedisCommand("PING"))) == .simpleString("PONG") }
        #expect(back)
        #expect(connection.sendNow([RedisCommand("PING")]))
        await connection.close()
    }
}
