import ArgumentParser
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import SocketIO
import Synchronization

/// Group fan-out: K of M members sending to the group; latency of the last recipient.
struct GroupScenario: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "group", abstract: "One group of M members, K sending; deliveries/s and last-recipient latency.")

    @OptionGroup var common: CommonOptions
    @Option(help: "Group members.") var members: Int = 50
    @Option(help: "Members that send.") var senders: Int = 5
    @Option(help: "Seconds of sending.") var duration: Double = 10
    @Option(help: "Messages per sender not yet received by every member.") var window: Int = 1
    @Option(help: "Message body size in bytes.") var size: Int = 64

    func run() async throws {
        guard members >= 2, senders >= 1, senders <= members else { throw ValidationError("need 1 ≤ senders ≤ members, members ≥ 2") }
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
        try await Task.sleep(for: .milliseconds(Int(duration * 1000)))
        let delivered = stats.delivered.load(ordering: .relaxed)
        let elapsed = Double(BenchStats.now() - start) / 1e9
        fanout.running.store(false, ordering: .relaxed)
        try await Task.sleep(for: .milliseconds(500))
        for client in clients { client?.channelClose() }
        try common.emit(stats.report(scenario: "group", seconds: elapsed, extras: [
            "members": .int(members), "senders": .int(senders), "window": .int(window),
            "delivered_per_s": .double((Double(delivered) / elapsed).rounded()),
            "messages_complete": .int(fanout.complete.load(ordering: .relaxed)),
            "latency_is": "last recipient",
        ]))
        try? await group.shutdownGracefully()
    }
}

/// Shared state of the group scenario; per-message recipient counts sit behind a lock
/// because members live on different event loops.
final class GroupFanout: SocketIOClientDelegate, Sendable {
    let stats: BenchStats
    let tag: String
    let members: Int
    let senders: Int
    let window: Int
    let size: Int
    let running = Atomic<Bool>(true)
    let synced = Atomic<Int>(0)
    let joined = Atomic<Int>(0)
    let complete = Atomic<Int>(0)
    let groupID = NIOLockedValueBox<String?>(nil)
    /// Message id → (recipients still to receive it, sender index).
    private let pending = NIOLockedValueBox([String: Int]())
    private let counters = NIOLockedValueBox([Int](repeating: 0, count: 1))

    init(stats: BenchStats, tag: String, members: Int, senders: Int, window: Int, size: Int) {
        self.stats = stats
        self.tag = tag
        self.members = members
        self.senders = senders
        self.window = window
        self.size = size
        counters.withLockedValue { $0 = [Int](repeating: 0, count: senders) }
    }

    func start(_ client: SocketIOClient) {
        for _ in 0..<window { send(client) }
    }

    private func send(_ client: SocketIOClient) {
        guard running.load(ordering: .relaxed), let group = groupID.withLockedValue({ $0 }) else { return }
        let n = counters.withLockedValue { $0[client.index] += 1; return $0[client.index] }
        let prefix = "\(tag)k\(client.index)n"
        pending.withLockedValue { $0[prefix + String(n)] = members - 1 }
        client.sendTimedMessage(idPrefix: prefix, number: n, target: ("group", group), size: size, stats: stats)
    }

    func clientConnected(_ client: SocketIOClient) {
        stats.connected()
    }

    func client(_ client: SocketIOClient, event name: String, arguments: ArraySlice<JSONValue>, ackID: Int?) {
        if let ackID { client.ack(ackID) }
        switch name {
        case "synced":
            synced.add(1, ordering: .relaxed)
        case "group":
            joined.add(1, ordering: .relaxed)
        case "message":
            stats.delivered.add(1, ordering: .relaxed)
            guard let message = arguments.first, let id = message["id"]?.stringValue else { return }
            let last: Bool = pending.withLockedValue {
                guard let remaining = $0[id] else { return false }
                if remaining <= 1 { $0[id] = nil; return true }
                $0[id] = remaining - 1
                return false
            }
            guard last else { return }
            complete.add(1, ordering: .relaxed)
            if let sentAt = sentTime(ofBody: message["body"]?.stringValue) { stats.recordLatency(sentAt: sentAt) }
            // The sender's index is in the id: "<tag>k<index>n<count>".
            if let k = id.split(separator: "k").last?.split(separator: "n").first, let index = Int(k) {
                sendNext(from: index)
            }
        default:
            break
        }
    }

    /// Set by the scenario so the last recipient can hand the next send to its sender.
    let senderClients = NIOLockedValueBox([Int: SocketIOClient]())

    private func sendNext(from index: Int) {
        guard let sender = senderClients.withLockedValue({ $0[index] }) else { return }
        sender.eventLoop?.execute { self.send(sender) }
    }

    func client(_ client: SocketIOClient, ack id: Int, arguments: [JSONValue]) {
        let answer = arguments.first
        guard answer?["ok"]?.boolValue == true else {
            stats.error("nack: \(answer?.jsonString ?? "")")
            return
        }
        if let group = answer?["group"]?["id"]?.stringValue {
            groupID.withLockedValue { $0 = group }
        } else {
            stats.acked.add(1, ordering: .relaxed)
        }
    }

    func clientClosed(_ client: SocketIOClient, error: String?) {
        if running.load(ordering: .relaxed) { stats.error("member \(client.index) closed: \(error ?? "by server")") }
        stats.closed(client)
    }
}
