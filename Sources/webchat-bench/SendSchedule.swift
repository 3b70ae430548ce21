/// The send schedule of one paced sender (`direct --rate`), as wrk2 keeps it: message `k` is
/// meant to leave at `start + k × interval`. A message that falls due while the sender's window
/// is full waits (the backlog is kept, not dropped) and leaves as soon as the window has room;
/// its latency is timed from its intended send time, so a server stall shows in the latency
/// instead of thinning the load (no coordinated omission). Nothing is scheduled at or after
/// `end`: the run stops scheduling at `--duration`, and what is still waiting then is not sent.
///
/// A value type with no clock of its own: the caller passes the time in, so it is tested
/// without sockets or timers.
struct SendSchedule: Sendable {
    /// A message to send now.
    struct Send: Equatable, Sendable {
        /// Its intended send time (monotonic nanoseconds): the time its body carries.
        let intended: UInt64
        /// It fell due while the window was full, so it leaves late.
        let late: Bool
    }

    /// Monotonic nanoseconds of message 0's intended send.
    let start: UInt64
    /// Nanoseconds between two intended sends.
    let interval: Double
    /// Messages intended before the end of the run.
    let total: Int
    /// Messages handed out so far (the next message's number).
    private(set) var taken = 0
    /// Messages handed out late: due while the window was full.
    private(set) var late = 0
    /// The largest delay seen between a message's intended and actual send, in nanoseconds.
    private(set) var maxLag: UInt64 = 0
    /// Messages below this number were found due while the window was full.
    private var blockedThrough = 0

    /// A schedule of `perSecond` messages a second (> 0) from `start` until `end`.
    init(start: UInt64, perSecond: Double, end: UInt64) {
        precondition(perSecond > 0, "a schedule needs a positive rate")
        self.start = start
        self.interval = 1e9 / perSecond
        let span = end > start ? Double(end - start) : 0
        var total = Int((span / interval).rounded(.up))
        // Rounding must not put a message at or after the end, nor leave one out before it.
        while total > 0, start + UInt64(Double(total - 1) * interval) >= end { total -= 1 }
        while start + UInt64(Double(total) * interval) < end { total += 1 }
        self.total = total
    }

    /// The intended send time of message `k`.
    func intendedTime(of k: Int) -> UInt64 { start + UInt64(Double(k) * interval) }

    /// The intended time of the next message, or nil once the schedule is used up.
    var nextIntended: UInt64? { taken < total ? intendedTime(of: taken) : nil }

    /// Messages whose intended time is at or before `now`, sent or not.
    func dueCount(at now: UInt64) -> Int {
        guard total > 0, now >= start else { return 0 }
        var count = min(Int(Double(now - start) / interval) + 1, total)
        while count > 0, intendedTime(of: count - 1) > now { count -= 1 }
        while count < total, intendedTime(of: count) <= now { count += 1 }
        return count
    }

    /// Messages due at `now` and not yet sent: the backlog.
    func backlog(at now: UInt64) -> Int { max(dueCount(at: now) - taken, 0) }

    /// Whether due messages are waiting for the window (a freed slot should send at once).
    var isWaitingForWindow: Bool { blockedThrough > taken }

    /// The next message to send at `now`, if one is due and `windowOpen`. With the window full
    /// the due messages are marked late and nil is returned; they leave on a later call.
    mutating func next(at now: UInt64, windowOpen: Bool) -> Send? {
        guard taken < total else { return nil }
        let intended = intendedTime(of: taken)
        guard intended <= now else { return nil }
        guard windowOpen else {
            blockedThrough = max(blockedThrough, dueCount(at: now))
            return nil
        }
        let wasLate = taken < blockedThrough
        taken += 1
        if wasLate { late += 1 }
        maxLag = max(maxLag, now - intended)
        return Send(intended: intended, late: wasLate)
    }
}
