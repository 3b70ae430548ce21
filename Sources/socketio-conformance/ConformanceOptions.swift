import CommandLineOptions
import Logging

/// The conformance server's command line, read strictly as webchat's (``StrictCommandLine``): an
/// unknown option, a repeated one or a stray word stops it instead of being ignored.
struct ConformanceOptions {
    var host = "127.0.0.1"
    var port = 3000
    var logLevel = Logger.Level.info

    static let commandLine = StrictCommandLine(options: [
        ("host", "address to listen on (default 127.0.0.1)"),
        ("port", "port to listen on; 0 picks a free one (default 3000, where the public test suites look)"),
        ("log-level", "trace | debug | info | notice | warning | error | critical (default info)"),
    ])

    static var usage: String {
        "usage: socketio-conformance [--option value | --option=value ...]\n\nOptions (each at most once):\n"
            + commandLine.optionLines
    }

    /// The options `arguments` (without the program's name) give, the defaults for the rest.
    init(arguments: [String]) throws(CommandLineError) {
        let values = try Self.commandLine.parse(arguments)
        if let host = values["host"] { self.host = host }
        if let text = values["port"] {
            guard let port = Int(text), (0...65535).contains(port) else {
                throw CommandLineError("--port must be a whole number from 0 to 65535, not '\(text)'")
            }
            self.port = port
        }
        if let text = values["log-level"] {
            guard let level = Logger.Level(rawValue: text) else {
                throw CommandLineError("--log-level must be one of trace, debug, info, notice, warning, error, critical, not '\(text)'")
            }
            self.logLevel = level
        }
    }
}
