import Foundation
import Testing

/// The built `webchat` binary, started as an operator would: signals, exit codes, the operational
/// endpoints' answers. (`swift build` first: the binary sits beside the test bundle.)
@Suite("The webchat binary")
struct ServerProcessTests {
    @Test("SIGHUP without TLS: logged as nothing to reload, and the server goes on")
    func sighupWithoutTLS() async throws {
        let server = try await WebChatProcess.start(["--port", "0", "--auth", "open", "--store", "memory", "--log-level", "info"])
        defer { server.stop() }
        #expect(try HTTPGet.run(port: server.port, path: "/healthz").status == 200)
        for round in 1...2 {
            kill(server.pid, SIGHUP)
            let logged = await server.waitForLog { $0.components(separatedBy: "SIGHUP: nothing to reload").count > round }
            #expect(logged, "\(server.log)")
            #expect(server.isRunning, "SIGHUP ended the server: \(server.log)")
            #expect(try HTTPGet.run(port: server.port, path: "/healthz").status == 200, "\(server.log)")
        }
    }

    @Test("/readyz answers JSON with its Content-Type, as /healthz")
    func readyzContentType() async throws {
        let server = try await WebChatProcess.start(["--port", "0", "--auth", "open", "--store", "memory"])
        defer { server.stop() }
        for path in ["/readyz", "/healthz"] {
            let answer = try HTTPGet.run(port: server.port, path: path)
            #expect(answer.status == 200, "\(path): \(answer.head)")
            #expect(answer.header("content-type") == "application/json; charset=utf-8", "\(path): \(answer.head)")
        }
        #expect(try HTTPGet.run(port: server.port, path: "/readyz").body == #"{"status":"ready"}"#)
    }

    @Test("a bad command line exits 2 before anything starts, saying what is wrong", arguments: [
        (["--store", "memory", "-retention-days", "0"], "unknown option -retention-days (did you mean --retention-days?)"),
        (["--retention-days", "0", "--retention-days", "7"], "--retention-days is given more than once"),
        (["--retention-days"], "--retention-days needs a value"),
        (["--store", "memory", "--port", "0", "stray"], "unexpected argument 'stray' after the value of --port"),
        (["--public-dir", "/nonexistent/webchat-public"], "--public-dir /nonexistent/webchat-public: no such folder"),
        (["--rate-per-second", "inf"], "--rate-per-second must be a positive number up to 1000000, not 'inf'"),
    ])
    func refusedAtStart(_ arguments: [String], _ message: String) async throws {
        let result = try await WebChatProcess.run(arguments)
        #expect(result.status == 2 && result.output.contains("webchat: \(message)"), "\(result.status): \(result.output)")
        #expect(!result.output.contains("listening"), "\(result.output)")
    }

    @Test("a WEBCHAT_ variable that names no option is logged at start, naming the one meant, and the server runs")
    func misspelledEnvironmentVariable() async throws {
        let server = try await WebChatProcess.start(["--port", "0", "--auth", "open", "--store", "memory"],
                                                    environment: ["WEBCHAT_PROT": "9000", "WEBCHAT_SERVICE_HOST": "10.0.0.11"])
        defer { server.stop() }
        let log = server.log
        #expect(log.contains("warning") && log.contains("WEBCHAT_PROT names no option and is ignored (did you mean WEBCHAT_PORT?)"), "\(log)")
        // A Kubernetes service link is none of the server's business.
        #expect(!log.contains("WEBCHAT_SERVICE_HOST"), "\(log)")
    }

    @Test("--help and -h print the options and exit 0")
    func help() async throws {
        for flag in ["--help", "-h"] {
            let result = try await WebChatProcess.run(["--port", "1", flag])
            #expect(result.status == 0 && result.output.contains("usage: webchat") && result.output.contains("--rate-per-second"),
                    "\(result.output)")
        }
    }
}

/// A server started from a built binary (`webchat`, or another of the package's), its output in a file.
final class WebChatProcess: @unchecked Sendable {
    let process: Process
    let port: Int
    private let logFile: String

    private init(process: Process, port: Int, logFile: String) {
        self.process = process
        self.port = port
        self.logFile = logFile
    }

    var pid: Int32 { process.processIdentifier }
    var isRunning: Bool { process.isRunning }
    var log: String { (try? String(contentsOfFile: logFile, encoding: .utf8)) ?? "" }

    /// The binary `name` beside the test bundle (`swift build` puts both in the same folder).
    static func executable(_ name: String = "webchat") throws -> String {
        let folder = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent()
        let candidate = folder.appendingPathComponent(name).path
        guard FileManager.default.isExecutableFile(atPath: candidate) else {
            throw WebChatProcessError("\(candidate) is missing: run `swift build` before `swift test`")
        }
        return candidate
    }

    /// Starts the server `name` with `arguments` (which should bind port 0), `environment` added to
    /// this process's, and returns once it
    /// logs the port it listens on, in a line holding `listening` and ending in `:port`.
    static func start(
        _ arguments: [String], executable name: String = "webchat", listening: String = "webchat listening on",
        environment: [String: String] = [:]
    ) async throws -> WebChatProcess {
        let logFile = FileManager.default.temporaryDirectory.appendingPathComponent("\(name)-process-\(UUID().uuidString).log").path
        _ = FileManager.default.createFile(atPath: logFile, contents: nil)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: logFile))
        defer { try? handle.close() }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try executable(name))
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
        let started = WebChatProcess(process: process, port: 0, logFile: logFile)
        let found = await started.waitForLog(timeout: .seconds(30)) { $0.contains(listening) || !process.isRunning }
        let log = started.log
        guard found, process.isRunning, let line = log.split(separator: "\n").first(where: { $0.contains(listening) }),
              let port = line.split(separator: ":").last.flatMap({ Int($0.trimmingCharacters(in: .whitespaces)) })
        else {
            started.stop()
            throw WebChatProcessError("\(name) did not start: \(log)")
        }
        return WebChatProcess(process: process, port: port, logFile: logFile)
    }

    /// Runs the binary `name` to its end (at most 30 s), `environment` added to this process's, and
    /// returns its exit status and output.
    static func run(
        _ arguments: [String], executable name: String = "webchat", environment: [String: String] = [:]
    ) async throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try executable(name))
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let timer = Task {
            try await Task.sleep(for: .seconds(30))
            kill(process.processIdentifier, SIGKILL)
        }
        defer { timer.cancel() }
        // Read on a thread of its own: a blocking read must not hold one of the few cooperative threads.
        let data = await withCheckedContinuation { (continuation: CheckedContinuation<Data, Never>) in
            Thread.detachNewThread {
                let data = pipe.fileHandleForReading.readDataToEndOfFile()
                process.waitUntilExit()
                continuation.resume(returning: data)
            }
        }
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    /// Whether the log satisfies `condition` within `timeout`.
    func waitForLog(timeout: Duration = .seconds(5), _ condition: (String) -> Bool) async -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if condition(log) { return true }
            try? await Task.sleep(for: .milliseconds(50))
        }
        return condition(log)
    }

    /// Ends the server (SIGKILL: nothing of a test server is worth a drain) and removes its log.
    func stop() {
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
        try? FileManager.default.removeItem(atPath: logFile)
    }
}

struct WebChatProcessError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// One HTTP/1.1 GET on 127.0.0.1, over a plain socket (the answers here are small).
struct HTTPGet {
    let head: String
    let body: String

    var status: Int? {
        head.split(separator: "\r\n").first?.split(separator: " ").dropFirst().first.flatMap { Int($0) }
    }

    func header(_ name: String) -> String? {
        for line in head.split(separator: "\r\n").dropFirst() {
            let parts = line.split(separator: ":", maxSplits: 1)
            if parts.count == 2, parts[0].lowercased() == name.lowercased() { return parts[1].trimmingCharacters(in: .whitespaces) }
        }
        return nil
    }

    static func run(port: Int, path: String) throws -> HTTPGet {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw WebChatProcessError("socket() failed: \(errno)") }
        defer { close(fd) }
        var timeout = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = UInt16(port).bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { throw WebChatProcessError("cannot connect to 127.0.0.1:\(port): \(errno)") }
        let request = Array("GET \(path) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nConnection: close\r\n\r\n".utf8)
        guard request.withUnsafeBytes({ send(fd, $0.baseAddress, $0.count, 0) }) == request.count else {
            throw WebChatProcessError("send failed: \(errno)")
        }
        var answer: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            guard count > 0 else { break }
            answer += buffer[0..<count]
        }
        let text = String(decoding: answer, as: UTF8.self)
        guard let end = text.range(of: "\r\n\r\n") else { throw WebChatProcessError("no HTTP answer from \(path): \(text)") }
        return HTTPGet(head: String(text[..<end.lowerBound]), body: String(text[end.upperBound...]))
    }
}
