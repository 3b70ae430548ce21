import Foundation
import SocketIO

extension ConnectionsScenario {
    /// Spreads `count` over helper processes of this executable (one process's open-file
    /// limit caps how many sockets it holds), holds them all for `hold` once every helper is
    /// connected, then tells the helpers to close and sums their reports.
    func runSharded() async throws {
        let shards = (count + perProcess - 1) / perProcess
        let before = serverPid.flatMap(residentBytes)
        log("connections: \(count) over \(shards) processes")
        let exe = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().path
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("webchat-bench-\(getpid())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let monitor = ShardMonitor(count: shards)
        var children: [(process: Process, stdin: Pipe, report: String)] = []
        for index in 0..<shards {
            let share = count / shards + (index < count % shards ? 1 : 0)
            let report = directory.appendingPathComponent("shard\(index).json").path
            var arguments = ["connections", "--url", common.url, "--count", String(share), "--hold", String(hold),
                             "--threads", "1", "--concurrency", String(common.concurrency), "--shard", String(index), "--json", report]
            if let sources = common.sources { arguments += ["--sources", sources] }
            if let users { arguments += ["--users", String(max(1, users / shards))] }
            let process = Process()
            process.executableURL = URL(fileURLWithPath: exe)
            process.arguments = arguments
            let output = Pipe()
            let input = Pipe()
            process.standardOutput = output
            process.standardInput = input
            try process.run()
            monitor.watch(output.fileHandleForReading, shard: index)
            children.append((process, input, report))
        }
        let progress = monitor.progressTask(label: "connections")
        defer { progress.cancel() }
        _ = await waitUntil(timeout: .seconds(3600), poll: .milliseconds(100)) { monitor.allReady }
        let established = monitor.established
        log("connections: \(established) established across \(shards) processes; holding \(hold)s")
        try await Task.sleep(for: .milliseconds(Int(min(Self.settleSeconds, hold) * 1000)))
        let after = serverPid.flatMap(residentBytes)
        try await Task.sleep(for: .milliseconds(Int(max(hold - Self.settleSeconds, 0) * 1000)))
        let afterHold = serverPid.flatMap(residentBytes)
        for child in children {
            try? child.stdin.fileHandleForWriting.write(contentsOf: Data("CLOSE\n".utf8))
            try? child.stdin.fileHandleForWriting.close()
        }
        _ = await waitUntil(timeout: .seconds(120), poll: .milliseconds(50)) { children.allSatisfy { !$0.process.isRunning } }
        let stats = BenchStats()
        var alive = 0
        var samples: [JSONValue] = []
        var connectSeconds = 0.0
        for child in children {
            guard let data = FileManager.default.contents(atPath: child.report), let report = try? JSONValue(parsing: Array(data)) else {
                stats.error("helper \(child.process.processIdentifier) wrote no report (exit \(child.process.isRunning ? "-" : String(child.process.terminationStatus)))")
                continue
            }
            stats.peakConnections.add(report["connections"]?.intValue ?? 0, ordering: .relaxed)
            stats.errors.add(report["errors"]?.intValue ?? 0, ordering: .relaxed)
            alive += report["alive_after_hold"]?.intValue ?? 0
            connectSeconds = max(connectSeconds, report["connect_s"]?.doubleValue ?? 0)
            samples += report["error_samples"]?.arrayValue ?? []
        }
        var extras: [String: JSONValue] = [
            "established": .int(established), "alive_after_hold": .int(alive), "failed": .int(count - established),
            "hold_s": .double(hold), "processes": .int(shards), "connect_s": .double(connectSeconds),
            "users": .int(users ?? count),
        ]
        if !samples.isEmpty { extras["error_samples"] = .array(Array(samples.prefix(5))) }
        extras.merge(Self.rssFields(before: before, atConnect: after, afterHold: afterHold, established: established)) { $1 }
        try common.emit(stats.report(scenario: "connections", seconds: hold, extras: extras))
    }
}
