import ArgumentParser

/// Load generator for webchat (and the python peers in bench/peers).
@main
struct WebChatBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "webchat-bench",
        abstract: "Socket.IO load generator for webchat and its peers (loopback only).",
        subcommands: [DirectScenario.self, GroupScenario.self, ConnectionsScenario.self, DrainScenario.self, EchoScenario.self]
    )
}
