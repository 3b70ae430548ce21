import ChatServer
import Foundation
import Logging
import ServiceLifecycle
import Testing
import TestSupport

/// A webchat server running in this test process on a free port, with its own SQLite
/// file, shut down after the body.
struct LiveChatServer {
    let url: String

    static var openAuth: ServerConfiguration {
        var configuration = ServerConfiguration()
        configuration.auth = .open
        configuration.port = 0
        configuration.bcryptCost = 4
        configuration.logLevel = .warning
        return configuration
    }

    static func with<T: Sendable>(_ configuration: ServerConfiguration, _ body: (LiveChatServer) async throws -> T) async throws -> T {
        let directory = try TemporaryDirectory()
        var configuration = configuration
        configuration.port = 0
        configuration.store = .sqlite(path: directory.path + "/chat.sqlite")
        var logger = Logger(label: "webchat-test")
        logger.logLevel = configuration.logLevel
        let (ports, portContinuation) = AsyncStream.makeStream(of: Int.self)
        let app = try await buildApplication(configuration: configuration, logger: logger) { port in
            portContinuation.yield(port)
        }
        let group = ServiceGroup(configuration: .init(services: [app], logger: logger))
        let running = Task { try await group.run() }
        defer { running.cancel() }
        var iterator = ports.makeAsyncIterator()
        guard let port = await iterator.next() else { throw LiveServerError(message: "server did not start") }
        let result = try await body(LiveChatServer(url: "http://127.0.0.1:\(port)"))
        await group.triggerGracefulShutdown()
        _ = await running.result
        return result
    }
}

/// Runs one scenario of `Tests/e2e/run_scenario.py`; it must exit 0.
enum E2E {
    static func run(_ arguments: String...) async throws {
        let result = try await PythonScript.run(path: "Tests/e2e/run_scenario.py", arguments: arguments, timeout: .seconds(180))
        #expect(result.exitCode == 0, "\(arguments[0]) failed:\n\(result.output)")
    }
}
