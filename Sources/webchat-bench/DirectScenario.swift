import ArgumentParser
import NIOCore
import NIOPosix
import SocketIO

/// One-to-one messaging: N senders each streaming to its own recipient.
struct DirectScenario: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "direct", abstract: "N sender→recipient pairs; end-to-end latency.")

    @OptionGroup var common: CommonOptions
    @Option(help: "Sender/recipient pairs.") var pairs: Int = 10
    @Option(help: "Seconds of sending.") var duration: Double = 10
    @Option(help: "Overall messages per second on a fixed schedule; latency is timed from each message's intended send time (omit for as fast as the window allows).")
    var rate: Double?
    @Option(help: "Messages per sender sent but not yet received by the partner.") var window: Int = 10
    @Option(help: "Message body size in bytes (at least \(minimumBodySize)).") var size: Int = 64

    /// How long the run waits for messages still in flight when sending stops.
    static let settleTimeout = Duration.seconds(10)

    func validate() throws {
        guard pairs >= 1 else { throw ValidationError("--pairs must be at least 1") }
        guard duration > 0 else { throw ValidationError("--duration must be more than 0 seconds") }
        guard window >= 1 else { throw ValidationError("--window must be at least 1") }
        if let rate, !(rate > 0) { throw ValidationError("--rate must be more than 0 messages per second") }
        try validateBodySize(size)
    }

    func run() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: common.threads)
        let stats = BenchStats()
        let tag = runTag()
        let senders = (0..<pairs).map { "b\(tag)s\($0)" }
        let recipients = (0..<pairs).map { "b\(tag)r\($0)" }
        log("direct: opening \(2 * pairs) sessions")
        let tokens = try await openSessions(senders + recipients, common: common, group: group)
        let loops = (0..<pairs).map { _ in group.next() }
        let perPairRate = rate.map { $0 / Double(pairs) }
        let runs = (0..<pairs).map { i in
            DirectPair(stats: stats, loop: loops[i], recipient: recipients[i], id: "\(tag)p\(i)", window: window, size: size, perSecond: perPairRate)
        }
        let scheduleProgress: (@Sendable () -> String)? = rate == nil ? nil : { @Sendable in stats.scheduleProgress }
        let progress = progressTask(stats, label: "direct", extra: scheduleProgress)
        defer { progress.cancel() }
        let clients = try await connectAll(
            count: 2 * pairs, common: common, group: group, stats: stats,
            // On a cluster each pair's partner is on the next node, so every message crosses nodes.
            node: { $0 % pairs + $0 / pairs },
            loopFor: { loops[$0 % pairs] },
            makeClient: { index in
                SocketIOClient(authJSON: "{\"token\":\"\(tokens[index])\"}", index: index < pairs ? 0 : 1, delegate: runs[index % pairs])
            })
        guard await waitUntil(timeout: .seconds(60), { await Self.all(runs) { $0.ready } }) else {
            throw BenchError("not every pair connected and synced (failed: \(stats.failedConnections.load(ordering: .relaxed))): \(stats.errorSamples)")
        }
        log("direct: \(pairs) pairs synced; sending for \(duration)s")
        let start = BenchStats.now()
        let end = start + UInt64(duration * 1e9)
        // Paced pairs are staggered evenly over one interval, so the messages of all pairs
        // together are due at the overall rate, one at a time, not in bursts.
        let stagger = rate.map { 1e9 / $0 } ?? 0
        for (i, pair) in runs.enumerated() {
            pair.loop.execute { pair.start(scheduleStart: start + UInt64(Double(i) * stagger), end: end) }
        }
        let timers = rate == nil ? [] : Dictionary(grouping: runs) { ObjectIdentifier($0.loop) }.values.map { PacerTimer(loop: $0[0].loop, pairs: $0) }
        for timer in timers { timer.loop.execute { timer.start() } }
        try await Task.sleep(for: .nanoseconds(Int64(end - min(BenchStats.now(), end))))
        let deliveredAtEnd = stats.delivered.load(ordering: .relaxed)
        let elapsed = Double(BenchStats.now() - start) / 1e9
        for timer in timers { timer.loop.execute { timer.stop() } }
        for pair in runs { pair.loop.execute { pair.stop() } }
        if !(await waitUntil(timeout: Self.settleTimeout, { await Self.all(runs) { $0.settled } })) {
            log("direct: messages still in flight after \(Self.settleTimeout); they count as errors")
        }
        var outcome = DirectPair.Outcome()
        var (undelivered, unacked) = (0, 0)
        for pair in runs {
            guard let result = await pair.read({ $0.result }) else { continue }
            outcome.receipts += result.receipts
            outcome.late += result.late
            outcome.unsent += result.unsent
            outcome.maxLag = max(outcome.maxLag, result.maxLag)
            undelivered += result.undelivered
            unacked += result.unacked
        }
        stats.countLost(undelivered: undelivered, unacked: unacked)
        stats.closing.store(true, ordering: .relaxed)
        await closeAll(clients)
        var extras: [String: JSONValue] = [
            "pairs": .int(pairs), "window": .int(window), "rate": rate.map { .double($0) } ?? .null, "size": .int(size),
            "delivered_in_window": .int(deliveredAtEnd),
            "delivered_per_s": .double((Double(deliveredAtEnd) / elapsed).rounded()),
            "receipts": .int(outcome.receipts),
            "undelivered": .int(undelivered), "unacked": .int(unacked),
            "behind_schedule": .null, "unsent_at_stop": .null, "schedule_lag_max_ms": .null,
        ]
        if rate != nil {
            extras["behind_schedule"] = .int(outcome.late)
            extras["unsent_at_stop"] = .int(outcome.unsent)
            extras["schedule_lag_max_ms"] = .double(milliseconds(nanoseconds: outcome.maxLag))
        }
        try common.emit(stats.report(scenario: "direct", seconds: elapsed, extras: extras))
        try? await group.shutdownGracefully()
    }

    /// Whether `condition` holds for every pair, each read on its event loop.
    private static func all(_ runs: [DirectPair], _ condition: @escaping @Sendable (DirectPair) -> Bool) async -> Bool {
        for pair in runs where await pair.read(condition) != true { return false }
        return true
    }
}
