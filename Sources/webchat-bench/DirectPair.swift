import NIOCore
import SocketIO

/// One sender and its recipient of the direct scenario; both live on the same event loop, so
/// this state needs no lock.
final class DirectPair: SocketIOClientDelegate, @unchecked Sendable {
    // @unchecked Sendable: touched only on `loop` (client callbacks, `execute` blocks and
    // `read`, which hops there).
    /// What became of the pair's messages, read once the run is over.
    struct Outcome: Sendable {
        var sent = 0
        var delivered = 0
        var acked = 0
        var nacked = 0
        var receipts = 0
        /// Paced: messages sent late because the window was full when they fell due.
        var late = 0
        /// Paced: messages due by the end that were still waiting for the window then.
        var unsent = 0
        /// Paced: the largest delay from a message's intended to its actual send, nanoseconds.
        var maxLag: UInt64 = 0

        /// Sent, not refused by the server, never received by the partner.
        var undelivered: Int { max(sent - delivered - nacked, 0) }
        /// Sent and never answered by the server.
        var unacked: Int { max(sent - acked - nacked, 0) }
    }

    let stats: BenchStats
    let loop: any EventLoop
    let recipient: String
    let id: String
    /// Message ids are `<id>m<count>`.
    let messageIDPrefix: String
    let window: Int
    let size: Int
    /// Paced mode: this pair's messages per second; nil for window mode.
    let perSecond: Double?
    private var sender: SocketIOClient?
    private var synced = [false, false]
    /// Sent and neither received by the partner nor refused.
    private var inFlight = 0
    /// Window mode: messages to send once the current read is handled.
    private var owed = 0
    private var running = false
    private var clientGone = false
    private var schedule: SendSchedule?
    private var outcome = Outcome()

    init(stats: BenchStats, loop: any EventLoop, recipient: String, id: String, window: Int, size: Int, perSecond: Double?) {
        self.stats = stats
        self.loop = loop
        self.recipient = recipient
        self.id = id
        self.messageIDPrefix = id + "m"
        self.window = window
        self.size = size
        self.perSecond = perSecond
    }

    /// Both clients connected and synced.
    var ready: Bool { synced[0] && synced[1] }

    /// Stopped, and every message answered and received (or a client gone, so no more will be).
    var settled: Bool {
        !running && (clientGone || (outcome.delivered + outcome.nacked >= outcome.sent && outcome.acked + outcome.nacked >= outcome.sent))
    }

    /// The counts so far, with the schedule's.
    var result: Outcome {
        var result = outcome
        if let schedule {
            result.late = schedule.late
            result.maxLag = schedule.maxLag
        }
        return result
    }

    /// Runs `body` on the pair's event loop and returns its result (nil once the loop is gone).
    func read<T: Sendable>(_ body: @escaping @Sendable (DirectPair) -> T) async -> T? {
        try? await loop.submit { body(self) }.get()
    }

    /// Starts sending: a whole window (window mode), or paced, the schedule from `scheduleStart`
    /// until `end` (a `PacerTimer` wakes `pump`).
    func start(scheduleStart: UInt64, end: UInt64) {
        running = true
        if let perSecond {
            schedule = SendSchedule(start: scheduleStart, perSecond: perSecond, end: end)
        } else {
            while inFlight < window, send(stamp: nil) {}
        }
    }

    /// Paced: sends every message due at `now` that the window has room for.
    func pump(now: UInt64) {
        guard running, schedule != nil, let sender else { return }
        sender.batchingWrites {
            while let due = schedule!.next(at: now, windowOpen: inFlight < window) {
                if due.late { stats.behindSchedule.add(1, ordering: .relaxed) }
                stats.scheduleLagMax.max(Int(now - due.intended), ordering: .relaxed)
                send(stamp: due.intended)
            }
        }
    }

    /// Paced: the intended time of the next message while running.
    var nextIntended: UInt64? { running ? schedule?.nextIntended : nil }

    /// Stops sending; paced, sends what fell due before the end if the window allows, and
    /// counts what is still waiting as unsent (the schedule stops at the end, as wrk2's does).
    func stop() {
        guard running else { return }
        if schedule != nil {
            let now = BenchStats.now()
            pump(now: now)
            outcome.unsent = schedule!.backlog(at: now)
        }
        running = false
    }

    /// Sends the next message, stamped with `stamp` (its intended send time) or else now.
    @discardableResult
    private func send(stamp: UInt64?) -> Bool {
        guard let sender else { return false }
        outcome.sent += 1
        inFlight += 1
        sender.sendTimedMessage(idPrefix: messageIDPrefix, number: outcome.sent, target: ("to", recipient), size: size, stamp: stamp, stats: stats)
        return true
    }

    func clientConnected(_ client: SocketIOClient) {
        stats.connected()
        if client.index == 0 { sender = client }
    }

    func client(_ client: SocketIOClient, event name: String, arguments: ArraySlice<JSONValue>, ackID: Int?) {
        if let ackID { client.ack(ackID) }
        switch name {
        case "message" where client.index == 1:
            if let sentAt = sentTime(ofBody: arguments.first?["body"]?.stringValue) { received(sentAt: sentAt) }
        case "receipt":
            outcome.receipts += 1
        case "synced":
            synced[client.index] = true
        default:
            break
        }
    }

    /// The hot packets without a decode: the recipient's `message` (its body's send time), the
    /// sender's `receipt`s and successful acks. Anything else, or anything unexpected in these,
    /// goes to the decoding handlers above and below.
    func client(_ client: SocketIOClient, raw packet: RawPacket) -> Bool {
        let json = packet.json
        switch packet.kind {
        case .event:
            guard let elements = json.elements(of: json.whole, upTo: 2), elements.count == 2 else { return false }
            if client.index == 1, json.isString(elements[0], equalTo: "message") {
                guard let body = json.member("body", of: elements[1]), let sentAt = json.leadingNumber(ofString: body) else { return false }
                if let ackID = packet.ackID { client.ack(ackID) }
                received(sentAt: sentAt)
                return true
            }
            if json.isString(elements[0], equalTo: "receipt") {
                if let ackID = packet.ackID { client.ack(ackID) }
                outcome.receipts += 1
                return true
            }
            return false
        case .ack:
            guard let first = json.elements(of: json.whole, upTo: 1)?.first, let ok = json.member("ok", of: first), json.isTrue(ok) else {
                return false
            }
            acked()
            return true
        }
    }

    private func received(sentAt: UInt64) {
        stats.recordLatency(sentAt: sentAt)
        stats.delivered.add(1, ordering: .relaxed)
        outcome.delivered += 1
        inFlight -= 1
        // The next messages go out together once this read is handled (one syscall).
        if running && perSecond == nil { owed += 1 }
    }

    private func acked() {
        stats.acked.add(1, ordering: .relaxed)
        outcome.acked += 1
    }

    func client(_ client: SocketIOClient, ack id: Int, arguments: [JSONValue]) {
        if arguments.first?["ok"]?.boolValue == true {
            acked()
        } else {
            stats.error("message nack: \(arguments.first?.jsonString ?? "")")
            outcome.nacked += 1
            inFlight -= 1
            if running && perSecond == nil { owed += 1 }
        }
    }

    func clientReadComplete(_ client: SocketIOClient) {
        guard running, let sender else { return }
        if perSecond != nil {
            // Due messages waited for the window: send them as soon as it has room.
            if schedule?.isWaitingForWindow == true, inFlight < window { pump(now: BenchStats.now()) }
            return
        }
        guard owed > 0 else { return }
        let count = owed
        owed = 0
        sender.batchingWrites {
            for _ in 0..<count where running { send(stamp: nil) }
        }
    }

    func clientClosed(_ client: SocketIOClient, error: String?) {
        if !stats.closing.load(ordering: .relaxed) { stats.error("client \(client.index) of \(id) closed: \(error ?? "by server")") }
        stats.closed(client)
        // What is in flight now will not arrive: it counts as undelivered at the end.
        clientGone = true
        running = false
        owed = 0
    }
}
