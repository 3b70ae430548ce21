import NIOConcurrencyHelpers
import NIOCore
import SocketIO
import Synchronization

/// Shared state of the group scenario: every member's delegate. Members live on different
/// event loops, so the messages in flight sit in a `GroupLedger` behind a lock.
final class GroupFanout: SocketIOClientDelegate, Sendable {
    let stats: BenchStats
    let tag: String
    let members: Int
    let window: Int
    let size: Int
    let running = Atomic<Bool>(true)
    let synced = Atomic<Int>(0)
    let joined = Atomic<Int>(0)
    let complete = Atomic<Int>(0)
    /// Messages some recipient never received (given up after the timeout, or left at the end).
    let undelivered = Atomic<Int>(0)
    let groupID = NIOLockedValueBox<String?>(nil)
    /// Set by the scenario so the last recipient can hand the next send to its sender.
    let senderClients = NIOLockedValueBox([Int: SocketIOClient]())
    private let ledger = NIOLockedValueBox(GroupLedger())
    private let counters: NIOLockedValueBox<[Int]>

    init(stats: BenchStats, tag: String, members: Int, senders: Int, window: Int, size: Int) {
        self.stats = stats
        self.tag = tag
        self.members = members
        self.window = window
        self.size = size
        counters = NIOLockedValueBox([Int](repeating: 0, count: senders))
    }

    /// No message in flight and every send answered.
    var settled: Bool { ledger.withLockedValue { $0.pendingCount == 0 && $0.awaitingAcks == 0 } }

    /// Messages the server never answered, so far.
    var unacked: Int { ledger.withLockedValue { $0.awaitingAcks } }

    /// Starts a sender: its whole window at once. On its event loop.
    func start(_ client: SocketIOClient) {
        for _ in 0..<window { send(client) }
    }

    private func send(_ client: SocketIOClient) {
        guard running.load(ordering: .relaxed), let group = groupID.withLockedValue({ $0 }) else { return }
        let n = counters.withLockedValue { $0[client.index] += 1; return $0[client.index] }
        let prefix = "\(tag)k\(client.index)n"
        let id = prefix + String(n)
        ledger.withLockedValue { $0.sent(id: id, sender: client.index, recipients: members - 1, at: BenchStats.now()) }
        // The ack comes on this event loop, after this block: recording it now is in time.
        if let ackID = client.sendTimedMessage(idPrefix: prefix, number: n, target: ("group", group), size: size, stats: stats) {
            ledger.withLockedValue { $0.awaitAck(sender: client.index, ackID: ackID, id: id) }
        }
    }

    /// Gives up on the messages sent before `deadline` that some member still lacks: each is an
    /// error, and its sender's window slot is freed so a lost message cannot stall it.
    func expire(sentBefore deadline: UInt64, timeout: String) {
        let expired = ledger.withLockedValue { $0.expire(sentBefore: deadline) }
        for (id, entry) in expired {
            undelivered.add(1, ordering: .relaxed)
            stats.error("group message \(id) reached \(members - 1 - entry.remaining) of \(members - 1) members \(timeout)")
            sendNext(from: entry.sender)
        }
    }

    private func sendNext(from index: Int) {
        guard let sender = senderClients.withLockedValue({ $0[index] }) else { return }
        sender.eventLoop?.execute { self.send(sender) }
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
            guard let message = arguments.first, let id = message["id"]?.stringValue,
                  let entry = ledger.withLockedValue({ $0.delivered(id: id) }) else { return }
            complete.add(1, ordering: .relaxed)
            if let sentAt = sentTime(ofBody: message["body"]?.stringValue) { stats.recordLatency(sentAt: sentAt) }
            sendNext(from: entry.sender)
        default:
            break
        }
    }

    func client(_ client: SocketIOClient, ack id: Int, arguments: [JSONValue]) {
        let answer = arguments.first
        let ok = answer?["ok"]?.boolValue == true
        guard let message = ledger.withLockedValue({ $0.answered(sender: client.index, ackID: id) }) else {
            if ok, let group = answer?["group"]?["id"]?.stringValue {
                groupID.withLockedValue { $0 = group }
            } else {
                stats.error("group:create: \(answer?.jsonString ?? "no answer")")
            }
            return
        }
        if ok {
            stats.acked.add(1, ordering: .relaxed)
        } else {
            stats.error("message nack: \(answer?.jsonString ?? "")")
            if let entry = ledger.withLockedValue({ $0.drop(id: message) }) { sendNext(from: entry.sender) }
        }
    }

    func clientClosed(_ client: SocketIOClient, error: String?) {
        if !stats.closing.load(ordering: .relaxed) { stats.error("member \(client.index) closed: \(error ?? "by server")") }
        stats.closed(client)
    }
}
