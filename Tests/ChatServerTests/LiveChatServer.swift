import ChatServer
import Foundation
import Testing
import TestSupport

/// A webchat server running in this test process on a free port, with its own SQLite
/// file, shut down after the body.
struct LiveChatServer {
    let url: String

    /// Open auth (tests create users by signing in), cheap bcrypt, quiet logs.
    static var openAuth: ServerConfiguration {
        var configuration = ServerConfiguration()
        configuration.auth = .open
        configuration.bcryptCost = 4
        configuration.logLevel = .warning
        return configuration
    }

    static func with(_ configuration: ServerConfiguration, _ body: (LiveChatServer) async throws -> Void) async throws {
        let directory = try TemporaryDirectory()
        var configuration = configuration
        configuration.port = 0
        configuration.store = .sqlite(path: directory.path + "/chat.sqlite")
        var logger = LiveServer.logger("webchat-test")
        logger.logLevel = min(logger.logLevel, configuration.logLevel)
        try await LiveServer.withApplication({ onServerRunning in
            try await buildApplication(configuration: configuration, logger: logger, onServerRunning: onServerRunning)
        }) { port in
            try await body(LiveChatServer(url: "\(configuration.tls == nil ? "http" : "https")://127.0.0.1:\(port)"))
        }
    }
}

/// Runs one scenario of `Tests/e2e/run_scenario.py`; it must exit 0.
enum E2E {
    static func run(_ arguments: String...) async throws {
        try await run(arguments)
    }

    /// `environment` is added to the script's (e.g. `WEBCHAT_TEST_CA_FILE` for a server with TLS).
    static func run(_ arguments: [String], environment: [String: String] = [:]) async throws {
        let result = try await PythonScript.run(path: "Tests/e2e/run_scenario.py", arguments: arguments, environment: environment,
                                                timeout: .seconds(180))
        #expect(result.exitCode == 0, "\(arguments[0]) failed:\n\(result.output)")
    }
}
