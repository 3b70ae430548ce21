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
    @Option(help: "Overall messages per second (omit for as fast as the window allows).") var rate: Double?
    @Option(help: "Messages per sender sent but not yet received by the partner.") var window: Int = 10
    @Option(help: "Message body size in bytes.") var size: Int = 64

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
            DirectPair(stats: stats, recipient: recipients[i], id: "\(tag)p\(i)", window: window, size: size, perSecond: perPairRate)
        }
        let progress = progressTask(stats, label: "direct")
        defer { progress.cancel() }
        let clients = try await connectAll(
            count: 2 * pairs, common: common, group: group, stats: stats,
            // On a cluster each pair's partner is on the next node, so every message crosses nodes.
            node: { $0 % pairs + $0 / pairs },
            loopFor: { loops[$0 % pairs] },
            makeClient: { index in
                SocketIOClient(authJSON: "{\"token\":\"\(tokens[index])\"}", index: index < pairs ? 0 : 1, delegate: runs[index % pairs])
            })
        guard await waitUntil(timeout: .seconds(60), { runs.allSatisfy { $0.ready } }) else {
            throw BenchError("not every pair connected and synced (failed: \(stats.failedConnections.load(ordering: .relaxed))): \(stats.errorSamples)")
        }
        log("direct: \(pairs) pairs synced; sending for \(duration)s")
        let start = BenchStats.now()
        for (i, pair) in runs.enumerated() { loops[i].execute { pair.start() } }
        // Paced: one timer per event loop ticks all of its pairs (a timer per pair was a wake-up
        // per pair every 2 ms, load the bench added to the box the server runs on).
        let paced = perPairRate == nil ? [] : Array(Dictionary(grouping: runs.indices) { ObjectIdentifier(loops[$0]) }.values)
        let timers: [RepeatedTask] = paced.map { indices in
            let pairs = indices.map { runs[$0] }
            return loops[indices[0]].scheduleRepeatedTask(initialDelay: .milliseconds(2), delay: .milliseconds(2)) { _ in
                for pair in pairs { pair.tick() }
            }
        }
        try await Task.sleep(for: .milliseconds(Int(duration * 1000)))
        let deliveredAtEnd = stats.delivered.load(ordering: .relaxed)
        let elapsed = Double(BenchStats.now() - start) / 1e9
        for timer in timers { timer.cancel() }
        for (i, pair) in runs.enumerated() { loops[i].execute { pair.stop() } }
        _ = await waitUntil(timeout: .seconds(10)) { runs.allSatisfy { $0.drained } }
        for client in clients { client?.channelClose() }
        let report = stats.report(scenario: "direct", seconds: elapsed, extras: [
            "pairs": .int(pairs), "window": .int(window), "rate": rate.map { .double($0) } ?? .null, "size": .int(size),
            "delivered_in_window": .int(deliveredAtEnd),
            "delivered_per_s": .double((Double(deliveredAtEnd) / elapsed).rounded()),
            "receipts": .int(runs.reduce(0) { $0 + $1.receipts }),
        ])
        try common.emit(report)
        try? await group.shutdownGracefully()
    }
}

/// One sender and its recipient; both live on the same event loop, so this state needs no lock.
final class DirectPair: SocketIOClientDelegate, @unchecked Sendable {
    // @unchecked Sendable: touched only on its event loop (callbacks and `execute` blocks);
    // the orchestrating task reads `ready`/`drained`/`receipts` only as progress hints.
    let stats: BenchStats
    let recipient: String
    let id: String
    /// Message ids are `<id>m<count>`.
    let messageIDPrefix: String
    let window: Int
    let size: Int
    let perSecond: Double?
    var sender: SocketIOClient?
    var synced = [false, false]
    var ready: Bool { synced[0] && synced[1] }
    var inFlight = 0
    /// Messages to send once the current read is handled (window mode).
    private var owed = 0
    var count = 0
    var receipts = 0
    var running = false
    var drained: Bool { !running && inFlight == 0 }
    private var credit = 0.0
    private var lastTick: UInt64 = 0

    init(stats: BenchStats, recipient: String, id: String, window: Int, size: Int, perSecond: Double?) {
        self.stats = stats
        self.recipient = recipient
        self.id = id
        self.messageIDPrefix = id + "m"
        self.window = window
        self.size = size
        self.perSecond = perSecond
    }

    func start() {
        running = true
        lastTick = BenchStats.now()
        if perSecond == nil {
            while inFlight < window { send() }
        }
    }

    /// Paced mode: sends what the rate allows since the last tick (at most the window).
    func tick() {
        guard let perSecond, running else { return }
        let now = BenchStats.now()
        credit = min(credit + perSecond * Double(now - lastTick) / 1e9, Double(window))
        lastTick = now
        while credit >= 1, inFlight < window, running {
            credit -= 1
            send()
        }
    }

    func stop() {
        running = false
    }

    private func send() {
        guard let sender else { return }
        count += 1
        inFlight += 1
        sender.sendTimedMessage(idPrefix: messageIDPrefix, number: count, target: ("to", recipient), size: size, stats: stats)
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
            receipts += 1
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
                receipts += 1
                return true
            }
            return false
        case .ack:
            guard let first = json.elements(of: json.whole, upTo: 1)?.first, let ok = json.member("ok", of: first), json.isTrue(ok) else {
                return false
            }
            stats.acked.add(1, ordering: .relaxed)
            return true
        }
    }

    private func received(sentAt: UInt64) {
        stats.recordLatency(sentAt: sentAt)
        stats.delivered.add(1, ordering: .relaxed)
        inFlight -= 1
        // The next messages go out together once this read is handled (one syscall).
        if running && perSecond == nil { owed += 1 }
    }

    func client(_ client: SocketIOClient, ack id: Int, arguments: [JSONValue]) {
        if arguments.first?["ok"]?.boolValue == true {
            stats.acked.add(1, ordering: .relaxed)
        } else {
            stats.error("message nack: \(arguments.first?.jsonString ?? "")")
            inFlight -= 1
            if running && perSecond == nil { send() }
        }
    }

    func clientReadComplete(_ client: SocketIOClient) {
        guard owed > 0, let sender else { return }
        let count = owed
        owed = 0
        sender.batchingWrites {
            for _ in 0..<count where running { send() }
        }
    }

    func clientClosed(_ client: SocketIOClient, error: String?) {
        if running || !ready { stats.error("client \(client.index) of \(id) closed: \(error ?? "by server")") }
        stats.closed(client)
        if client.index == 0 { running = false }
        inFlight = 0
        owed = 0
    }
}
