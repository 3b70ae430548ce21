import ArgumentParser
import NIOCore
import NIOPosix
import SocketIO
import Synchronization

/// Store and forward: a recipient offline while N messages arrive, then the replay rate.
struct DrainScenario: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "drain", abstract: "Offline recipient, N messages, then reconnect: drain rate.")

    @OptionGroup var common: CommonOptions
    @Option(help: "Messages sent while the recipient is offline.") var messages: Int = 20_000
    @Option(help: "Sends awaiting the server's ack at once.") var window: Int = 100
    @Option(help: "Message body size in bytes (at least \(minimumBodySize)).") var size: Int = 64

    func validate() throws {
        guard messages >= 1 else { throw ValidationError("--messages must be at least 1") }
        guard window >= 1 else { throw ValidationError("--window must be at least 1") }
        try validateBodySize(size)
    }

    func run() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: common.threads)
        let stats = BenchStats()
        let tag = runTag()
        let users = ["b\(tag)s", "b\(tag)r"]
        let tokens = try await openSessions(users, common: common, group: group)
        let drain = DrainClients(stats: stats, recipient: users[1], tag: tag, total: messages, window: window, size: size)
        let progress = progressTask(stats, label: "drain")
        defer { progress.cancel() }
        let loop = group.next()

        // Fill: the sender alone, the recipient offline.
        let sender = try await connectAll(
            count: 1, common: common, group: group, stats: stats, loopFor: { _ in loop },
            makeClient: { _ in SocketIOClient(authJSON: "{\"token\":\"\(tokens[0])\"}", index: 0, delegate: drain) })
        guard let senderClient = sender[0] else { throw BenchError("sender did not connect") }
        let fillStart = BenchStats.now()
        guard await waitUntil(timeout: .seconds(600), { drain.filled.load(ordering: .relaxed) }) else {
            throw BenchError("fill did not finish: acked \(stats.acked.load(ordering: .relaxed)) of \(messages)")
        }
        let fillSeconds = Double(BenchStats.now() - fillStart) / 1e9
        log("drain: \(messages) messages stored in \(fillSeconds)s; connecting the recipient")
        await closeAll([senderClient])

        // Drain: the recipient connects and replays everything.
        let recipient = try await connectAll(
            count: 1, common: common, group: group, stats: stats, loopFor: { _ in loop },
            makeClient: { _ in SocketIOClient(authJSON: "{\"token\":\"\(tokens[1])\"}", index: 1, delegate: drain) })
        guard await waitUntil(timeout: .seconds(600), { drain.syncedAt.load(ordering: .relaxed) != 0 }) else {
            throw BenchError("recipient not synced: delivered \(stats.delivered.load(ordering: .relaxed))")
        }
        let seconds = Double(drain.syncedAt.load(ordering: .relaxed) - drain.connectedAt.load(ordering: .relaxed)) / 1e9
        // Every message the server accepted should have come before `synced`.
        let undelivered = max(stats.acked.load(ordering: .relaxed) - stats.delivered.load(ordering: .relaxed), 0)
        stats.countLost(undelivered: undelivered, unacked: 0)
        stats.closing.store(true, ordering: .relaxed)
        await closeAll(recipient)
        try common.emit(stats.report(scenario: "drain", seconds: seconds, extras: [
            "messages": .int(messages), "undelivered": .int(undelivered), "fill_s": .double(fillSeconds),
            "fill_per_s": .double((Double(messages) / fillSeconds).rounded()),
            "drain_s": .double(seconds),
        ]))
        try? await group.shutdownGracefully()
    }
}

/// Sender fill and recipient replay; both clients share one event loop.
final class DrainClients: SocketIOClientDelegate, @unchecked Sendable {
    // @unchecked Sendable: mutable state is touched only on the clients' shared event loop;
    // the orchestrating task reads the atomics.
    let stats: BenchStats
    let recipient: String
    let tag: String
    let total: Int
    let window: Int
    let size: Int
    let filled = Atomic<Bool>(false)
    let connectedAt = Atomic<UInt64>(0)
    let syncedAt = Atomic<UInt64>(0)
    private var count = 0
    private var inFlight = 0

    init(stats: BenchStats, recipient: String, tag: String, total: Int, window: Int, size: Int) {
        self.stats = stats
        self.recipient = recipient
        self.tag = tag
        self.total = total
        self.window = window
        self.size = size
    }

    private func fill(_ client: SocketIOClient) {
        while inFlight < window, count < total {
            count += 1
            inFlight += 1
            client.sendTimedMessage(idPrefix: tag + "m", number: count, target: ("to", recipient), size: size, stats: stats)
        }
    }

    func clientConnected(_ client: SocketIOClient) {
        stats.connected()
        if client.index == 1 { connectedAt.store(BenchStats.now(), ordering: .relaxed) }
    }

    func client(_ client: SocketIOClient, event name: String, arguments: ArraySlice<JSONValue>, ackID: Int?) {
        if let ackID { client.ack(ackID) }
        switch (client.index, name) {
        case (0, "synced"):
            fill(client)
        case (1, "message"):
            stats.delivered.add(1, ordering: .relaxed)
            if let sentAt = sentTime(ofBody: arguments.first?["body"]?.stringValue) { stats.recordLatency(sentAt: sentAt) }
        case (1, "synced"):
            syncedAt.store(BenchStats.now(), ordering: .relaxed)
        default:
            break
        }
    }

    func client(_ client: SocketIOClient, ack id: Int, arguments: [JSONValue]) {
        inFlight -= 1
        if arguments.first?["ok"]?.boolValue == true {
            stats.acked.add(1, ordering: .relaxed)
        } else {
            stats.error("message nack: \(arguments.first?.jsonString ?? "")")
        }
        if count < total {
            fill(client)
        } else if inFlight == 0 {
            filled.store(true, ordering: .relaxed)
        }
    }

    func clientClosed(_ client: SocketIOClient, error: String?) {
        stats.closed(client)
        if let error, client.index == 0, !filled.load(ordering: .relaxed) { stats.error("sender closed: \(error)") }
    }
}
