import EngineIO
import HummingbirdCore
import NIOCore
import Testing
import TestSupport

@testable import socketio_conformance

/// The conformance application in-process on a free port, driven by python clients (Tests/python).
@Suite("Live: python-socketio against the conformance server", .serialized)
struct LiveConformanceTests {
    private func withServer(firstHeadTimeout: TimeAmount = EngineIOServer.defaultFirstHeadTimeout,
                            http1: HTTP1Channel.Configuration = EngineIOServer.defaultHTTP1,
                            requestTimeout: TimeAmount = EngineIOServer.defaultRequestTimeout,
                            _ body: (Int) async throws -> Void) async throws {
        try await LiveServer.withApplication({ onServerRunning in
            buildConformanceApplication(
                configuration: LiveServer.ephemeralConfiguration,
                logger: LiveServer.logger("conformance"),
                firstHeadTimeout: firstHeadTimeout,
                http1: http1,
                requestTimeout: requestTimeout,
                onServerRunning: onServerRunning
            )
        }, body)
    }

    @Test(arguments: ["polling", "websocket", "upgrade"])
    func pythonClient(transport: String) async throws {
        try await self.withServer { port in
            let result = try await PythonScript.run("conformance_client.py", arguments: ["http://127.0.0.1:\(port)", transport])
            #expect(result.exitCode == 0, "conformance_client.py \(transport) failed:\n\(result.output)")
            #expect(!result.timedOut)
        }
    }

    @Test("a connection that does not finish its first request head in time is closed; others are not")
    func slowFirstHeadIsClosed() async throws {
        try await self.withServer(firstHeadTimeout: .milliseconds(600)) { port in
            let result = try await PythonScript.run("head_timeout_client.py", arguments: ["http://127.0.0.1:\(port)", "0.6"])
            #expect(result.exitCode == 0, "head_timeout_client.py failed:\n\(result.output)")
        }
    }

    @Test("connections idle between requests or stalled in one are closed; a dropped long poll ends its session; unmasked frames close")
    func idleAndDroppedConnections() async throws {
        try await self.withServer(http1: .init(idleTimeout: .milliseconds(800)), requestTimeout: .seconds(3)) { port in
            let result = try await PythonScript.run("idle_connections_client.py", arguments: ["http://127.0.0.1:\(port)", "0.8", "3"])
            #expect(result.exitCode == 0, "idle_connections_client.py failed:\n\(result.output)")
        }
    }

    @Test func malformedInputClosesOnlyThatSession() async throws {
        try await self.withServer { port in
            let result = try await PythonScript.run("malformed_client.py", arguments: ["http://127.0.0.1:\(port)"])
            #expect(result.exitCode == 0, "malformed_client.py failed:\n\(result.output)")
        }
    }
}
