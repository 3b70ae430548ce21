import Configuration
import Hummingbird
import Logging

/// The protocol conformance server: `socketio-conformance [--port 3000] [--host 127.0.0.1]`.
@main
struct ConformanceServer {
    static func main() async throws {
        let config = ConfigReader(providers: [CommandLineArgumentsProvider(), EnvironmentVariablesProvider()])
        var logger = Logger(label: "socketio-conformance")
        logger.logLevel = config.string(forKey: "log.level", as: Logger.Level.self, default: .info)
        let app = buildConformanceApplication(
            configuration: .init(
                address: .hostname(config.string(forKey: "host", default: "127.0.0.1"), port: config.int(forKey: "port", default: 3000)),
                serverName: "socketio-conformance"
            ),
            logger: logger
        )
        try await app.runService()
    }
}
