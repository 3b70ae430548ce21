import Foundation
import Testing

/// The built `webchat` binary, started as an operator would: exit codes and messages.
/// (`swift build` first: the binary sits beside the test bundle.)
@Suite("The webchat binary")
struct ServerProcessTests {
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

    @Test("--help and -h print the options and exit 0")
    func help() async throws {
        for flag in ["--help", "-h"] {
            let result = try await WebChatProcess.run(["--port", "1", flag])
            #expect(result.status == 0 && result.output.contains("usage: webchat") && result.output.contains("--rate-per-second"),
                    "\(result.output)")
        }
    }
}

/// The built `webchat` binary, run from the tests.
enum WebChatProcess {
    /// The binary beside the test bundle (`swift build` puts both in the same folder).
    static func executable() throws -> String {
        let folder = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent()
        let candidate = folder.appendingPathComponent("webchat").path
        guard FileManager.default.isExecutableFile(atPath: candidate) else {
            throw WebChatProcessError("\(candidate) is missing: run `swift build` before `swift test`")
        }
        return candidate
    }

    /// Runs the binary to its end (at most 30 s) and returns its exit status and output.
    static func run(_ arguments: [String]) async throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try executable())
        process.arguments = arguments
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

}

struct WebChatProcessError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
