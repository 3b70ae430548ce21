import NIOCore

/// Wakes the paced pairs of one event loop when the earliest of their next messages is due.
///
/// One timer per loop, not per pair: a timer per pair was a wake-up per pair every few
/// milliseconds, load the bench added to the box the server runs on. Wake-ups are at least
/// `minimumGap` apart, so at high rates a wake-up sends what fell due meanwhile (each message
/// still carries, and is timed from, its own intended send time).
final class PacerTimer: @unchecked Sendable {
    // @unchecked Sendable: `start`, `stop` and the wake-ups run only on `loop`.
    /// Nanoseconds between two wake-ups at the least.
    static let minimumGap: UInt64 = 500_000

    let loop: any EventLoop
    let pairs: [DirectPair]
    private var scheduled: Scheduled<Void>?
    private var stopped = false

    init(loop: any EventLoop, pairs: [DirectPair]) {
        self.loop = loop
        self.pairs = pairs
    }

    /// Sends what is due and schedules the next wake-up. On `loop`.
    func start() {
        wake()
    }

    /// No more wake-ups. On `loop`.
    func stop() {
        stopped = true
        scheduled?.cancel()
        scheduled = nil
    }

    private func wake() {
        guard !stopped else { return }
        let now = BenchStats.now()
        var next: UInt64?
        for pair in pairs {
            pair.pump(now: now)
            if let due = pair.nextIntended, due < next ?? .max { next = due }
        }
        guard let next else { return }
        let deadline = NIODeadline.uptimeNanoseconds(max(next, now + Self.minimumGap))
        scheduled = loop.scheduleTask(deadline: deadline) { self.wake() }
    }
}
