import Foundation
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle

/// Shared helpers for live tests: run an application on a free port, run a python client script
/// with a timeout, find the repository root.
///
/// ```swift
/// try await LiveServer.withApplication({ onServerRunning in
///     buildApplication(..., onServerRunning: onServerRunning)   // bind to port 0
/// }) { port in
///     let result = try await PythonScript.run("client.py", arguments: ["http://127.0.0.1:\(port)"])
///     #expect(result.exitCode == 0, "\(result.output)")
/// }
/// ```
public enum LiveServer {
    /// Builds an application with the callback it must pass as `Application(onServerRunning:)`, runs it
    /// (bound to port 0 by the caller's configuration), calls `body` with the port it got, then stops it.
    public static func withApplication<App: ApplicationProtocol>(
        _ build: (_ onServerRunning: @escaping @Sendable (any Channel) async -> Void) async throws -> App,
        _ body: (_ port: Int) async throws -> Void
    ) async throws {
        let (ports, continuation) = AsyncStream.makeStream(of: Int.self)
        let app = try await build { channel in
            continuation.yield(channel.localAddress?.port ?? 0)
            continuation.finish()
        }
        let group = ServiceGroup(configuration: .init(services: [app], gracefulShutdownSignals: [], logger: app.logger))
        let server = Task { try await group.run() }
        var iterator = ports.makeAsyncIterator()
        guard let port = await iterator.next() else {
            server.cancel()
            throw LiveServerError(message: "the application did not start")
        }
        do {
            try await body(port)
        } catch {
            await group.triggerGracefulShutdown()
            _ = try? await server.value
            throw error
        }
        await group.triggerGracefulShutdown()
        _ = try? await server.value
    }

    /// An ordinary `ApplicationConfiguration` bound to 127.0.0.1 on a port chosen by the system.
    public static var ephemeralConfiguration: ApplicationConfiguration {
        ApplicationConfiguration(address: .hostname("127.0.0.1", port: 0))
    }

    /// A logger for servers under test: warnings and errors only unless `LOG_LEVEL` says otherwise.
    public static func logger(_ label: String) -> Logger {
        var logger = Logger(label: label)
        logger.logLevel = ProcessInfo.processInfo.environment["LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:)) ?? .warning
        return logger
    }
}

/// A failure of the live-test helpers, with a message meant for the test report.
public struct LiveServerError: Error, CustomStringConvertible {
    /// What went wrong.
    public var message: String
    public var description: String { self.message }

    public init(message: String) {
        self.message = message
    }
}

/// The result of a finished process.
public struct ProcessResult: Sendable {
    /// The exit status (a terminated process reports its signal number).
    public var exitCode: Int32
    /// Standard output and standard error, interleaved.
    public var output: String
    /// Whether it was stopped for running past its timeout.
    public var timedOut: Bool
}

/// Runs the python client scripts of `Tests/python` and `Tests/e2e`.
public enum PythonScript {
    /// The python packages the scripts need (`Tests/requirements.txt`), as import names.
    public static let requiredModules = ["socketio", "websocket", "requests", "pytest", "selenium", "yaml", "openapi_spec_validator", "moto"]

    /// The interpreter: `$WEBCHAT_PYTHON` (scripts/test points it at `.venv`), else the
    /// repository's `.venv` when scripts/test made one, else `python3`.
    public static var interpreter: [String] {
        if let python = ProcessInfo.processInfo.environment["WEBCHAT_PYTHON"], !python.isEmpty { return [python] }
        let venv = RepositoryRoot.url.appending(path: ".venv/bin/python").path
        if FileManager.default.isExecutableFile(atPath: venv) { return [venv] }
        return ["python3"]
    }

    /// Runs `Tests/python/<name>` and returns its exit code and output.
    public static func run(_ name: String, arguments: [String] = [], timeout: Duration = .seconds(60)) async throws -> ProcessResult {
        try await run(path: "Tests/python/\(name)", arguments: arguments, timeout: timeout)
    }

    /// Runs the script at `path` (relative to the repository root). Throws (never skips) when
    /// python or a required package is missing, saying how to install it.
    /// `environment` is added to this process's.
    public static func run(path: String, arguments: [String] = [], environment: [String: String] = [:],
                           timeout: Duration = .seconds(60)) async throws -> ProcessResult {
        try await requirePackages()
        let script = RepositoryRoot.url.appending(path: path).path
        return try await ProcessRunner.run("/usr/bin/env", interpreter + ["-u", script] + arguments, environment: environment, timeout: timeout)
    }

    /// Runs `python -m <module>` in the repository root with extra environment variables.
    public static func run(
        module: String, arguments: [String], environment: [String: String] = [:], timeout: Duration = .seconds(60)
    ) async throws -> ProcessResult {
        try await requirePackages()
        return try await ProcessRunner.run(
            "/usr/bin/env", interpreter + ["-u", "-m", module] + arguments,
            environment: environment, directory: RepositoryRoot.url.path, timeout: timeout
        )
    }

    private static func requirePackages() async throws {
        let check = try await ProcessRunner.run(
            "/usr/bin/env",
            interpreter + ["-c", "import " + requiredModules.joined(separator: ", ")],
            timeout: .seconds(30)
        )
        guard check.exitCode == 0 else {
            throw LiveServerError(message: """
                python with the packages of Tests/requirements.txt is required \
                (scripts/test installs them into .venv): \(check.output)
                """)
        }
    }
}

/// Runs a process with a timeout and captures its output.
public enum ProcessRunner {
    /// Runs `executable` with `arguments` (and `environment` added to this process's, in
    /// `directory` when given); terminates it after `timeout`.
    public static func run(
        _ executable: String, _ arguments: [String], environment: [String: String] = [:], directory: String? = nil,
        timeout: Duration
    ) async throws -> ProcessResult {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        if !environment.isEmpty {
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        }
        if let directory {
            process.currentDirectoryURL = URL(fileURLWithPath: directory)
        }
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        do {
            try process.run()
        } catch {
            throw LiveServerError(message: "cannot start \(executable) \(arguments.joined(separator: " ")): \(error)")
        }
        let timer = Task {
            try await Task.sleep(for: timeout)
            process.terminate()
            return true
        }
        // Read on a thread of its own: a blocking read must not hold one of the few cooperative threads.
        let data = await withCheckedContinuation { (continuation: CheckedContinuation<Data, Never>) in
            Thread.detachNewThread {
                let data = pipe.fileHandleForReading.readDataToEndOfFile()
                process.waitUntilExit()
                continuation.resume(returning: data)
            }
        }
        timer.cancel()
        let timedOut = (try? await timer.value) ?? false
        return ProcessResult(exitCode: process.terminationStatus, output: String(decoding: data, as: UTF8.self), timedOut: timedOut)
    }
}

/// The root of the repository (the folder holding Package.swift), found from this source file.
public enum RepositoryRoot {
    /// The root folder.
    public static let url: URL = {
        var url = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        while url.path != "/" {
            if FileManager.default.fileExists(atPath: url.appending(path: "Package.swift").path) { return url }
            url = url.deletingLastPathComponent()
        }
        return URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
    }()
}
