import ChatServer
import CommandLineOptions
import Foundation
import Hummingbird
import Logging

/// The webchat server: configuration (command line > environment > defaults) →
/// `buildApplication` → `runService()`, which drains gracefully on SIGTERM/SIGINT.
@main
struct WebChat {
    static func main() async {
        let configuration = StrictCommandLine.readArguments(program: "webchat", usage: Options.usage) { arguments in
            try Options.resolve(arguments: arguments, environment: ProcessInfo.processInfo.environment)
        }

        // SIGHUP never ends the server (docs/OPERATIONS.md, "Stopping"): ignored until the
        // service that answers it (SIGHUPService) listens, while the store opens.
        signal(SIGHUP, SIG_IGN)
        var logger = Logger(label: "webchat")
        logger.logLevel = configuration.logLevel
        for warning in Options.environmentWarnings(ProcessInfo.processInfo.environment) { logger.warning("\(warning)") }
        do {
            let app = try await buildApplication(configuration: configuration, logger: logger)
            try await app.runService()
            logger.info("webchat stopped")
        } catch {
            logger.critical("webchat stopped: \(error)")
            exit(1)
        }
    }
}
