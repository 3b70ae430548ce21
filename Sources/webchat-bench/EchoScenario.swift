import ArgumentParser
import NIOCore
import NIOPosix
import SocketIO
import Synchronization

/// Emit-with-ack round trips against `socketio-conformance` (or the python echo peer).
struct EchoScenario: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "echo", abstract: "N clients doing message-with-ack round trips.")

    @OptionGroup var common: CommonOptions
    @Option(help: "Clients.") var clients: Int = 10
    @Option(help: "Seconds of load.") var duration: Double = 10
    @Option(help: "Round trips in flight per client.") var window: Int = 1

    func validate() throws {
        guard clients >= 1 else { throw ValidationError("--clients must be at least 1") }
        guard duration > 0 else { throw ValidationError("--duration must be more than 0 seconds") }
        guard window >= 1 else { throw ValidationError("--window must be at least 1") }
    }

    func run() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: common.threads)
        let stats = BenchStats()
        let echo = EchoClients(stats: stats, window: window)
        let progress = progressTask(stats, label: "echo")
        defer { progress.cancel() }
        let connected = try await connectAll(
            count: clients, common: common, group: group, stats: stats, loopFor: { _ in group.next() },
            makeClient: { SocketIOClient(authJSON: "", index: $0, delegate: echo) })
        guard await waitUntil(timeout: .seconds(30), { stats.connections.load(ordering: .relaxed) == clients }) else {
            throw BenchError("only \(stats.connections.load(ordering: .relaxed)) of \(clients) clients connected")
        }
        let start = BenchStats.now()
        for client in connected { client?.eventLoop?.execute { echo.start(client!) } }
        try await Task.sleep(for: .milliseconds(Int(duration * 1000)))
        let done = stats.delivered.load(ordering: .relaxed)
        let elapsed = Double(BenchStats.now() - start) / 1e9
        echo.running.store(false, ordering: .relaxed)
        try await Task.sleep(for: .milliseconds(200))
        stats.closing.store(true, ordering: .relaxed)
        await closeAll(connected)
        var report = stats.report(scenario: "echo", seconds: elapsed, extras: ["window": .int(window), "acks_per_s": .double((Double(done) / elapsed).rounded())])
        if case .object(var object) = report {
            object["delivered_per_s"] = .double((Double(done) / elapsed).rounded())
            report = .object(object)
        }
        try common.emit(report)
        try? await group.shutdownGracefully()
    }
}

/// The behaviour of every echo client: keep `window` acked emits going.
final class EchoClients: SocketIOClientDelegate, Sendable {
    let stats: BenchStats
    let window: Int
    let running = Atomic<Bool>(true)

    init(stats: BenchStats, window: Int) {
        self.stats = stats
        self.window = window
    }

    func start(_ client: SocketIOClient) {
        for _ in 0..<window { send(client) }
    }

    private func send(_ client: SocketIOClient) {
        client.emit("message-with-ack", argumentJSON: quoted(String(BenchStats.now())), withAck: true)
        stats.sent.add(1, ordering: .relaxed)
    }

    func clientConnected(_ client: SocketIOClient) {
        stats.connected()
    }

    func client(_ client: SocketIOClient, event name: String, arguments: ArraySlice<JSONValue>, ackID: Int?) {
        if let ackID { client.ack(ackID) }
    }

    func client(_ client: SocketIOClient, ack id: Int, arguments: [JSONValue]) {
        guard let sentAt = arguments.first?.stringValue.flatMap({ UInt64($0) }) else {
            stats.error("unexpected ack \(arguments)")
            return
        }
        stats.recordLatency(sentAt: sentAt)
        stats.acked.add(1, ordering: .relaxed)
        stats.delivered.add(1, ordering: .relaxed)
        if running.load(ordering: .relaxed) { send(client) }
    }

    func clientClosed(_ client: SocketIOClient, error: String?) {
        if !stats.closing.load(ordering: .relaxed) { stats.error("echo client closed: \(error ?? "by server")") }
        stats.closed(client)
    }
}
