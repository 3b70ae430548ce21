import Foundation
import Testing

/// The built `socketio-conformance` binary's command line, read as strictly as webchat's: a value is
/// kept whole (commas too), and anything it cannot take stops it with exit status 2.
@Suite("The socketio-conformance binary")
struct ConformanceProcessTests {
    @Test("its options reach the server: --port=0, --host and --log-level")
    func starts() async throws {
        let server = try await WebChatProcess.start(
            ["--port=0", "--host", "127.0.0.1", "--log-level", "debug"],
            executable: "socketio-conformance", listening: "Server started and listening on 127.0.0.1:"
        )
        defer { server.stop() }
        #expect(try HTTPGet.run(port: server.port, path: "/health").body == "ok")
    }

    @Test("a bad command line exits 2 before anything starts, saying what is wrong", arguments: [
        (["--port", "0,1"], "--port must be a whole number from 0 to 65535, not '0,1'"),
        (["--port", "0", "stray"], "unexpected argument 'stray' after the value of --port"),
        (["--port", "0", "--port=1"], "--port is given more than once"),
        (["-port", "0"], "unknown option -port (did you mean --port?)"),
        (["--prot", "0"], "unknown option --prot"),
        (["--port"], "--port needs a value"),
        (["--port", "0", "--log-level", "loud"], "--log-level must be one of"),
    ])
    func refusedAtStart(_ arguments: [String], _ message: String) async throws {
        let result = try await WebChatProcess.run(arguments, executable: "socketio-conformance")
        #expect(result.status == 2 && result.output.contains("socketio-conformance: \(message)"), "\(result.status): \(result.output)")
        #expect(!result.output.contains("listening"), "\(result.output)")
    }

    @Test("--help and -h print the options and exit 0")
    func help() async throws {
        for flag in ["--help", "-h"] {
            let result = try await WebChatProcess.run(["--port", "1", flag], executable: "socketio-conformance")
            #expect(result.status == 0 && result.output.contains("usage: socketio-conformance") && result.output.contains("--log-level"),
                    "\(result.output)")
        }
    }
}
