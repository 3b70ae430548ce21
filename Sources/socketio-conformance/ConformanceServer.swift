import CommandLineOptions
import EngineIO
import Hummingbird
import Logging

/// The protocol conformance server: `socketio-conformance [--port 3000] [--host 127.0.0.1] [--log-level info]`.
@main
struct ConformanceServer {
    static func main() async throws {
        let options = StrictCommandLine.readArguments(program: "socketio-conformance", usage: ConformanceOptions.usage) {
            try ConformanceOptions(arguments: $0)
        }
        var logger = Logger(label: "socketio-conformance")
        logger.logLevel = options.logLevel
        let app = buildConformanceApplication(
            configuration: .init(address: .hostname(options.host, port: options.port), serverName: "socketio-conformance"),
            logger: logger
        )
        try await app.runService()
    }
}
