import ArgumentParser
import NIOCore
import NIOPosix
import SocketIO

/// Group fan-out: K of M members sending to the group; latency of the last recipient.
struct GroupScenario: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "group", abstract: "One group of M members, K sending; deliveries/s and last-recipient latency.")

    @OptionGroup var common: CommonOptions
    @Option(help: "Group members.") var members: Int = 50
    @Option(help: "Members that send.") var senders: Int = 5
    @Option(help: "Seconds of sending.") var duration: Double = 10
    @Option(help: "Messages per sender not yet received by every member.") var window: Int = 1
    @Option(help: "Message body size in bytes (at least \(minimumBodySize)).") var size: Int = 64

    /// How long a message may take to reach every member before it counts as undelivered
    /// (and its sender goes on); also how long the end of the run waits for what is in flight.
    static let timeout = Duration.seconds(10)

    func validate() throws {
        guard members >= 2 else { throw ValidationError("--members must be at least 2") }
        guard senders >= 1, senders <= members else { throw ValidationError("--senders must be between 1 and --members (\(members))") }
        guard duration > 0 else { throw ValidationError("--duration must be more than 0 seconds") }
        guard window >= 1 else { throw ValidationError("--window must be at least 1") }
        try validateBodySize(size)
    }

    func run() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: common.threads)
        let stats = BenchStats()
        let tag = runTag()
        let users = (0..<members).map { "b\(tag)g\($0)" }
        log("group: opening \(members) sessions")
        let tokens = try await openSessions(users, common: common, group: group)
        let fanout = GroupFanout(stats: stats, tag: tag, members: members, senders: senders, window: window, size: size)
        let progress = progressTask(stats, label: "group")
        defer { progress.cancel() }
        let clients = try await connectAll(
            count: members, common: common, group: group, stats: stats, loopFor: { _ in group.next() },
            makeClient: { SocketIOClient(authJSON: "{\"token\":\"\(tokens[$0])\"}", index: $0, delegate: fanout) })
        guard await waitUntil(timeout: .seconds(60), { fanout.synced.load(ordering: .relaxed) == members }) else {
            throw BenchError("only \(fanout.synced.load(ordering: .relaxed)) of \(members) members synced")
        }
        guard let owner = clients[0] else { throw BenchError("member 0 did not connect") }
        let others = users.dropFirst().map(quoted).joined(separator: ",")
        owner.eventLoop?.execute {
            owner.emit("group:create", argumentJSON: "{\"name\":\"bench \(tag)\",\"members\":[\(others)]}", withAck: true)
        }
        guard await waitUntil(timeout: .seconds(30), { fanout.groupID.withLockedValue { $0 } != nil }) else {
            throw BenchError("group:create was not acknowledged: \(stats.errorSamples)")
        }
        // Let the `group` timeline events reach everybody before timing.
        _ = await waitUntil(timeout: .seconds(30)) { fanout.joined.load(ordering: .relaxed) >= members - 1 }
        log("group: \(fanout.groupID.withLockedValue { $0 } ?? "") ready; \(senders) senders for \(duration)s")
        let start = BenchStats.now()
        for client in clients.prefix(senders) {
            guard let client else { continue }
            fanout.senderClients.withLockedValue { $0[client.index] = client }
            client.eventLoop?.execute { fanout.start(client) }
        }
        let timeout = UInt64(Self.timeout.components.seconds) * 1_000_000_000
        let end = start + UInt64(duration * 1e9)
        while BenchStats.now() < end {
            try await Task.sleep(for: .nanoseconds(Int64(min(end - min(BenchStats.now(), end), 1_000_000_000))))
            let now = BenchStats.now()
            if now > timeout { fanout.expire(sentBefore: now - timeout, timeout: "in \(Self.timeout)") }
        }
        let delivered = stats.delivered.load(ordering: .relaxed)
        let elapsed = Double(BenchStats.now() - start) / 1e9
        fanout.running.store(false, ordering: .relaxed)
        if !(await waitUntil(timeout: Self.timeout, { fanout.settled })) {
            log("group: messages still in flight after \(Self.timeout); they count as errors")
        }
        fanout.expire(sentBefore: .max, timeout: "by the end of the run")
        let unacked = fanout.unacked
        stats.countLost(undelivered: 0, unacked: unacked)
        stats.closing.store(true, ordering: .relaxed)
        await closeAll(clients)
        try common.emit(stats.report(scenario: "group", seconds: elapsed, extras: [
            "members": .int(members), "senders": .int(senders), "window": .int(window),
            "delivered_per_s": .double((Double(delivered) / elapsed).rounded()),
            "messages_complete": .int(fanout.complete.load(ordering: .relaxed)),
            "undelivered": .int(fanout.undelivered.load(ordering: .relaxed)), "unacked": .int(unacked),
            "latency_is": "last recipient",
        ]))
        try? await group.shutdownGracefully()
    }
}
