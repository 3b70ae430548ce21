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
    @Option(help: "Server process id, to read its VmRSS before and after.") var serverPid: Int?
    @Option(help: "Most connections one bench process opens; above this it starts helper processes.") var perProcess: Int = 15_000
    @Option(help: "Distinct users (connections are spread over them; default one per connection).") var users: Int?
    @Option(help: .hidden) var shard: Int?

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
        let progress = shard == nil ? progressTask(stats, label: "connections") : nil
        defer { progress?.cancel() }
        let started = BenchStats.now()
        let clients = try await connectAll(
            count: count, common: common, group: group, stats: stats, loopFor: { _ in group.next() },
            makeClient: { SocketIOClient(authJSON: "{\"user\":\"b\(run)c\($0 % userCount)\"}", index: $0, delegate: idle) })
        _ = await waitUntil(timeout: .seconds(120)) {
            stats.connections.load(ordering: .relaxed) + stats.failedConnections.load(ordering: .relaxed) + idle.refused.load(ordering: .relaxed) >= count
        }
        let established = stats.connections.load(ordering: .relaxed)
        let connectSeconds = Double(BenchStats.now() - started) / 1e9
        if shard != nil {
            FileHandle.standardOutput.write(Data("READY \(established)\n".utf8))
        }
        log("connections: \(established) established in \(String(format: "%.1f", connectSeconds))s; holding \(hold)s")
        try await Task.sleep(for: .seconds(2))
        let after = serverPid.flatMap(residentBytes)
        try await Task.sleep(for: .milliseconds(Int(max(hold - 2, 0) * 1000)))
        let alive = stats.connections.load(ordering: .relaxed)
        let afterHold = serverPid.flatMap(residentBytes)
        for client in clients { client?.channelClose() }
        var extras: [String: JSONValue] = [
            "established": .int(established), "alive_after_hold": .int(alive), "hold_s": .double(hold),
            "failed": .int(count - established), "connect_s": .double(connectSeconds), "users": .int(userCount),
        ]
        if let before, let after {
            extras["server_rss_before_bytes"] = .int(before)
            extras["server_rss_after_bytes"] = .int(after)
            extras["server_rss_after_hold_bytes"] = afterHold.map { .int($0) } ?? .null
            // The held cost is measured at the end of the hold, once the server has settled
            // (it gives freed setup memory back a few seconds after connections stop coming);
            // the figure two seconds after connecting is kept beside it.
            let perConnection = { (rss: Int) in established > 0 ? (rss - before) / established : 0 }
            extras["server_rss_bytes_per_connection"] = .int(perConnection(afterHold ?? after))
            extras["server_rss_bytes_per_connection_at_connect"] = .int(perConnection(after))
        }
        try common.emit(stats.report(scenario: "connections", seconds: hold, extras: extras))
        try? await group.shutdownGracefully()
    }

    /// Spreads `count` over helper processes of this executable (one process's open-file
    /// limit caps how many sockets it holds), then sums their reports.
    private func runSharded() async throws {
        let shards = (count + perProcess - 1) / perProcess
        let before = serverPid.flatMap(residentBytes)
        log("connections: \(count) over \(shards) processes")
        let exe = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().path
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("webchat-bench-\(getpid())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        var children: [(Process, Pipe, String)] = []
        for index in 0..<shards {
            let share = count / shards + (index < count % shards ? 1 : 0)
            let output = directory.appendingPathComponent("shard\(index).json").path
            var arguments = ["connections", "--url", common.url, "--count", String(share), "--hold", String(hold),
                             "--threads", "1", "--concurrency", String(common.concurrency), "--shard", String(index), "--json", output]
            if let sources = common.sources { arguments += ["--sources", sources] }
            if let users { arguments += ["--users", String(max(1, users / shards))] }
            let process = Process()
            process.executableURL = URL(fileURLWithPath: exe)
            process.arguments = arguments
            let pipe = Pipe()
            process.standardOutput = pipe
            try process.run()
            children.append((process, pipe, output))
        }
        var established = 0
        for (_, pipe, _) in children {
            var text = ""
            while !text.contains("READY") {
                let data = pipe.fileHandleForReading.availableData
                if data.isEmpty { break }
                text += String(decoding: data, as: UTF8.self)
            }
            established += Int(text.split(separator: " ").last.map { $0.trimmingCharacters(in: .whitespacesAndNewlines) } ?? "") ?? 0
        }
        log("connections: \(established) established across \(shards) processes; holding \(hold)s")
        try await Task.sleep(for: .seconds(2))
        let after = serverPid.flatMap(residentBytes)
        // Shortly before the helpers' hold ends (they close their connections then).
        try await Task.sleep(for: .milliseconds(Int(max(hold - 3, 0) * 1000)))
        let afterHold = serverPid.flatMap(residentBytes)
        var totals = ["connections": 0, "alive_after_hold": 0, "failed": 0, "errors": 0]
        var connectSeconds = 0.0
        for (process, _, output) in children {
            process.waitUntilExit()
            guard let data = FileManager.default.contents(atPath: output), let report = try? JSONValue(parsing: Array(data)) else { continue }
            for key in totals.keys { totals[key]! += report[key]?.intValue ?? 0 }
            connectSeconds = max(connectSeconds, report["connect_s"]?.doubleValue ?? 0)
        }
        var object: [String: JSONValue] = [
            "scenario": "connections", "connections": .int(totals["connections"]!), "sent": 0, "acked": 0, "delivered": 0,
            "errors": .int(totals["errors"]!), "delivered_per_s": 0,
            "latency_ms": ["p50": 0, "p90": 0, "p99": 0, "max": 0],
            "established": .int(established), "alive_after_hold": .int(totals["alive_after_hold"]!),
            "failed": .int(count - established), "hold_s": .double(hold), "processes": .int(shards), "connect_s": .double(connectSeconds),
        ]
        if let before, let after {
            object["server_rss_before_bytes"] = .int(before)
            object["server_rss_after_bytes"] = .int(after)
            object["server_rss_after_hold_bytes"] = afterHold.map { .int($0) } ?? .null
            let perConnection = { (rss: Int) in established > 0 ? (rss - before) / established : 0 }
            object["server_rss_bytes_per_connection"] = .int(perConnection(afterHold ?? after))
            object["server_rss_bytes_per_connection_at_connect"] = .int(perConnection(after))
        }
        try common.emit(.object(object))
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
        if let error { stats.error("idle client \(client.index): \(error)") }
    }
}
