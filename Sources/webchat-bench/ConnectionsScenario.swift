import ArgumentParser
import Foundation
import NIOCore
import NIOPosix
import SocketIO
import Synchronization

/// Idle Socket.IO WebSocket sessions held open; server memory per connection.
struct ConnectionsScenario: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "connections", abstract: "Hold N idle sessions; established, failed, server RSS per connection.")

    @OptionGroup var common: CommonOptions
    @Option(help: "Connections to open.") var count: Int = 1000
    @Option(help: "Seconds to hold them once all are open.") var hold: Double = 10
    @Option(help: "Server process id, to read its VmRSS before connecting, 2 s after all are open and at the end of the hold.") var serverPid: Int?
    @Option(help: "Most connections one bench process opens; above this it starts helper processes.") var perProcess: Int = 15_000
    @Option(help: "Distinct users (connections are spread over them; default one per connection).") var users: Int?
    /// Set for a helper process of a sharded run: it reports on standard output and holds
    /// until its parent writes a line to (or closes) its standard input.
    @Option(help: .hidden) var shard: Int?

    /// Seconds after all are open when the first RSS sample is taken.
    static let settleSeconds = 2.0

    func validate() throws {
        guard count >= 1 else { throw ValidationError("--count must be at least 1") }
        guard hold > 0 else { throw ValidationError("--hold must be more than 0 seconds") }
        guard perProcess >= 1 else { throw ValidationError("--per-process must be at least 1") }
        if let users, users < 1 { throw ValidationError("--users must be at least 1") }
        if let shard, shard < 0 { throw ValidationError("--shard must not be negative") }
        if let serverPid, serverPid < 1 || residentBytes(pid: serverPid) == nil {
            throw ValidationError("--server-pid \(serverPid): no such process (no VmRSS in /proc/\(serverPid)/status)")
        }
    }

    func run() async throws {
        if shard == nil && count > perProcess {
            try await runSharded()
            return
        }
        let stats = BenchStats()
        let group = MultiThreadedEventLoopGroup(numberOfThreads: common.threads)
        let idle = IdleClients(stats: stats)
        let tag = shard.map { "s\($0)" } ?? ""
        let run = runTag() + tag
        let userCount = users ?? count
        let before = serverPid.flatMap(residentBytes)
        let progress = shard == nil ? progressTask(stats, label: "connections") : ShardMonitor.reportTask(stats)
        defer { progress.cancel() }
        let started = BenchStats.now()
        let clients = try await connectAll(
            count: count, common: common, group: group, stats: stats, loopFor: { _ in group.next() },
            makeClient: { SocketIOClient(authJSON: "{\"user\":\"b\(run)c\($0 % userCount)\"}", index: $0, delegate: idle) })
        _ = await waitUntil(timeout: .seconds(120)) {
            stats.connections.load(ordering: .relaxed) + stats.failedConnections.load(ordering: .relaxed) + idle.refused.load(ordering: .relaxed) >= count
        }
        let established = stats.connections.load(ordering: .relaxed)
        let connectSeconds = Double(BenchStats.now() - started) / 1e9
        var after: Int?
        var afterHold: Int?
        if shard != nil {
            FileHandle.standardOutput.write(Data("READY \(established)\n".utf8))
            log("connections: \(established) established in \(String(format: "%.1f", connectSeconds))s; holding until the parent's hold ends")
            await ShardMonitor.waitForParent()
        } else {
            log("connections: \(established) established in \(String(format: "%.1f", connectSeconds))s; holding \(hold)s")
            try await Task.sleep(for: .milliseconds(Int(min(Self.settleSeconds, hold) * 1000)))
            after = serverPid.flatMap(residentBytes)
            try await Task.sleep(for: .milliseconds(Int(max(hold - Self.settleSeconds, 0) * 1000)))
            afterHold = serverPid.flatMap(residentBytes)
        }
        let alive = stats.connections.load(ordering: .relaxed)
        stats.closing.store(true, ordering: .relaxed)
        await closeAll(clients)
        var extras: [String: JSONValue] = [
            "established": .int(established), "alive_after_hold": .int(alive), "hold_s": .double(hold),
            "failed": .int(count - established), "connect_s": .double(connectSeconds), "users": .int(userCount),
        ]
        extras.merge(Self.rssFields(before: before, atConnect: after, afterHold: afterHold, established: established)) { $1 }
        try common.emit(stats.report(scenario: "connections", seconds: hold, extras: extras))
        try? await group.shutdownGracefully()
    }

    /// The server RSS fields of the report: the cost per connection is taken at the end of the
    /// hold, once the server has settled (it gives freed setup memory back a few seconds after
    /// connections stop coming); the figure `settleSeconds` after connecting is kept beside it.
    static func rssFields(before: Int?, atConnect: Int?, afterHold: Int?, established: Int) -> [String: JSONValue] {
        guard let before, let atConnect else { return [:] }
        let perConnection = { (rss: Int) in established > 0 ? (rss - before) / established : 0 }
        return [
            "server_rss_before_bytes": .int(before),
            "server_rss_after_bytes": .int(atConnect),
            "server_rss_after_hold_bytes": afterHold.map { .int($0) } ?? .null,
            "server_rss_bytes_per_connection": .int(perConnection(afterHold ?? atConnect)),
            "server_rss_bytes_per_connection_at_connect": .int(perConnection(atConnect)),
        ]
    }
}

/// Idle clients: they only answer heartbeats and ack whatever the server sends.
final class IdleClients: SocketIOClientDelegate, Sendable {
    let stats: BenchStats
    let refused = Atomic<Int>(0)

    init(stats: BenchStats) {
        self.stats = stats
    }

    func clientConnected(_ client: SocketIOClient) {
        stats.connected()
    }

    func client(_ client: SocketIOClient, event name: String, arguments: ArraySlice<JSONValue>, ackID: Int?) {
        if let ackID { client.ack(ackID) }
    }

    func client(_ client: SocketIOClient, ack id: Int, arguments: [JSONValue]) {}

    func clientClosed(_ client: SocketIOClient, error: String?) {
        if !stats.closed(client) { refused.add(1, ordering: .relaxed) }
        if error != nil || !stats.closing.load(ordering: .relaxed) { stats.error("idle client \(client.index): \(error ?? "closed by server")") }
    }
}
