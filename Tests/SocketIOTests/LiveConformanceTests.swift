import Testing
import TestSupport

@testable import socketio_conformance

/// The conformance application in-process on a free port, driven by python clients (Tests/python).
@Suite("Live: python-socketio against the conformance server", .serialized)
struct LiveConformanceTests {
    private func withServer(_ body: (Int) async throws -> Void) async throws {
        try await LiveServer.withApplication({ onServerRunning in
            buildConformanceApplication(
                configuration: LiveServer.ephemeralConfiguration,
                logger: LiveServer.logger("conformance"),
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

    @Test func malformedInputClosesOnlyThatSession() async throws {
        try await self.withServer { port in
            let result = try await PythonScript.run("malformed_client.py", arguments: ["http://127.0.0.1:\(port)"])
            #expect(result.exitCode == 0, "malformed_client.py failed:\n\(result.output)")
        }
    }
}
