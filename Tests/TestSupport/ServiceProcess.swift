import Foundation
import Synchronization

/// A real service (redis-server, moto's DynamoDB endpoint) started for the tests on a free
/// loopback port, and stopped after them.
///
/// The service runs under a small shell watchdog that ends it when the test process goes away,
/// however that happens, so no server outlives a crashed or interrupted test run. It is always
/// ended with SIGKILL: a process started from a Swift thread inherits that thread's signal
/// mask, in which SIGTERM may be blocked, so a polite stop could wait forever. The services
/// here keep nothing worth a clean shutdown.
public final class ServiceProcess: Sendable {
    /// What runs, for messages.
    public let name: String
    /// The loopback port it listens on.
    public let port: Int
    private let watchdog: Process
    private let pidFile: String
    /// The service's output, removed with it.
    private let logFile: String

    private init(name: String, port: Int, watchdog: Process, pidFile: String, logFile: String) {
        self.name = name
        self.port = port
        self.watchdog = watchdog
        self.pidFile = pidFile
        self.logFile = logFile
    }

    /// Starts `executable arguments(port)` on a free port and returns once the port accepts
    /// connections; throws (never skips) when the executable is missing or does not come up.
    public static func start(
        _ name: String, executable: String, port: Int? = nil, timeout: Duration = .seconds(30), arguments: (Int) -> [String]
    ) async throws -> ServiceProcess {
        let port = try port ?? FreePort.find()
        let files = FileManager.default.temporaryDirectory.appending(path: "webchat-\(name)-\(port)-\(UUID().uuidString.prefix(8))")
        let pidFile = files.path + ".pid"
        // The watchdog: runs the service, writes its pid, and ends it (and removes its files) once
        // the test process is gone.
        let script = """
            parent=$1; pidfile=$2; shift 2
            "$@" & child=$!
            echo $child > "$pidfile"
            while kill -0 "$parent" 2>/dev/null && kill -0 $child 2>/dev/null; do sleep 0.2; done
            kill -KILL $child 2>/dev/null
            rm -f "$pidfile" "${pidfile%.pid}.log"
            """
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", script, "sh", "\(ProcessInfo.processInfo.processIdentifier)", pidFile, executable] + arguments(port)
        let log = URL(fileURLWithPath: files.path + ".log")
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        let handle = try FileHandle(forWritingTo: log)
        process.standardOutput = handle
        process.standardError = handle
        do {
            try process.run()
        } catch {
            throw LiveServerError(message: "cannot start \(name) (\(executable)): \(error)")
        }
        let service = ServiceProcess(name: name, port: port, watchdog: process, pidFile: pidFile, logFile: log.path)
        let deadline = ContinuousClock.now + timeout
        while !FreePort.accepts(port) {
            guard process.isRunning, ContinuousClock.now < deadline else {
                let output = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
                service.stop()
                throw LiveServerError(message: "\(name) did not start listening on port \(port): \(output.suffix(2000))")
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        return service
    }

    /// The service's process id, while it runs.
    public var pid: Int32? {
        (try? String(contentsOfFile: pidFile, encoding: .utf8)).flatMap { Int32($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
    }

    /// What the service has written to its standard output and error so far.
    public var log: String {
        (try? String(contentsOfFile: logFile, encoding: .utf8)) ?? ""
    }

    /// Ends the service (SIGKILL, as a crash would) and its watchdog, and waits until its port is free.
    public func stop() {
        if let pid { Foundation.kill(pid, SIGKILL) }
        if watchdog.isRunning { Foundation.kill(watchdog.processIdentifier, SIGKILL) }
        watchdog.waitUntilExit()
        for _ in 0..<100 where FreePort.accepts(port) { usleep(20_000) }
        try? FileManager.default.removeItem(atPath: pidFile)
        try? FileManager.default.removeItem(atPath: logFile)
    }

    deinit {
        stop()
    }
}

/// The real services of the scale-out tests: Redis and a DynamoDB endpoint (moto).
public enum TestServices {
    private static let shared = Mutex<[String: Task<ServiceProcess, any Error>]>([:])

    /// A Redis server shared by the tests of this process (tests keep apart by key prefix).
    public static func sharedRedis() async throws -> ServiceProcess {
        try await sharedService("redis") { try await startRedis() }
    }

    /// A DynamoDB endpoint shared by the tests of this process (tests keep apart by table prefix).
    public static func sharedDynamoDB() async throws -> ServiceProcess {
        try await sharedService("dynamodb") { try await startDynamoDB() }
    }

    /// A Redis server of the caller's own (to stop and start again), on `port` or a free one.
    public static func startRedis(port: Int? = nil) async throws -> ServiceProcess {
        let executable = try locate("redis-server", hint: "install Debian's redis-server (scripts/test does)")
        return try await ServiceProcess.start("redis", executable: executable, port: port) { port in
            ["--port", "\(port)", "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--protected-mode", "no"]
        }
    }

    /// A DynamoDB endpoint of the caller's own: moto's server (`pip install "moto[server]"`),
    /// answering one request at a time (`Tests/python/serial_moto_server.py` says why).
    public static func startDynamoDB() async throws -> ServiceProcess {
        let python = PythonScript.interpreter[0]
        let script = RepositoryRoot.url.appending(path: "Tests/python/serial_moto_server.py").path
        let check = try await ProcessRunner.run("/usr/bin/env", [python, "-c", "import moto.server"], timeout: .seconds(30))
        guard check.exitCode == 0 else {
            throw LiveServerError(message: #"moto's server is required (pip install "moto[server]"; scripts/test puts it in .venv): "# + check.output)
        }
        return try await ServiceProcess.start("moto", executable: "/usr/bin/env", timeout: .seconds(60)) { port in
            [python, script, "-H", "127.0.0.1", "-p", "\(port)"]
        }
    }

    private static func sharedService(_ key: String, _ start: @escaping @Sendable () async throws -> ServiceProcess) async throws -> ServiceProcess {
        let task = shared.withLock { services in
            if let running = services[key] { return running }
            let task = Task { try await start() }
            services[key] = task
            return task
        }
        return try await task.value
    }

    /// Finds `name` beside `$WEBCHAT_PYTHON` (the test virtualenv), then on the PATH.
    private static func locate(_ name: String, hint: String) throws -> String {
        var folders: [String] = []
        if let python = ProcessInfo.processInfo.environment["WEBCHAT_PYTHON"], !python.isEmpty {
            folders.append(URL(fileURLWithPath: python).deletingLastPathComponent().path)
        }
        folders.append(RepositoryRoot.url.appending(path: ".venv/bin").path)
        folders += (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":").map(String.init)
        folders += ["/usr/sbin", "/usr/bin"]
        for folder in folders {
            let candidate = folder + "/" + name
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        throw LiveServerError(message: "\(name) is required for this test and was not found: \(hint)")
    }
}

/// Loopback ports for services under test.
public enum FreePort {
    /// A port nothing listens on right now (the system's choice for a socket bound to port 0).
    public static func find() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw LiveServerError(message: "socket() failed: \(errno)") }
        defer { close(fd) }
        var address = loopback(port: 0)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0 else { throw LiveServerError(message: "bind() failed: \(errno)") }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let named = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        guard named == 0 else { throw LiveServerError(message: "getsockname() failed: \(errno)") }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    /// Whether something accepts TCP connections on 127.0.0.1:`port`.
    public static func accepts(_ port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = loopback(port: port)
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        } == 0
    }

    private static func loopback(port: Int) -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = UInt16(port).bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        return address
    }
}
