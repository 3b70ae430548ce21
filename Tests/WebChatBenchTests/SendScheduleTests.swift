import Testing
@testable import webchat_bench

@Suite("The paced sender's schedule (wrk2-style, no coordinated omission)")
struct SendScheduleTests {
    private let ms: UInt64 = 1_000_000

    /// 100 messages a second from t = 1 s for one second: one every 10 ms.
    private func schedule() -> SendSchedule {
        SendSchedule(start: 1000 * ms, perSecond: 100, end: 2000 * ms)
    }

    /// Takes every message due at `now` with the window open.
    private func drain(_ schedule: inout SendSchedule, at now: UInt64) -> [SendSchedule.Send] {
        var sends: [SendSchedule.Send] = []
        while let send = schedule.next(at: now, windowOpen: true) { sends.append(send) }
        return sends
    }

    @Test("messages fall due on the schedule; nothing before its time, nothing at or after the end")
    func onTime() {
        var s = schedule()
        #expect(s.total == 100)
        #expect(s.next(at: 999 * ms, windowOpen: true) == nil)
        #expect(drain(&s, at: 1000 * ms) == [SendSchedule.Send(intended: 1000 * ms, late: false)])
        #expect(drain(&s, at: 1009 * ms).isEmpty)
        #expect(drain(&s, at: 1010 * ms) == [SendSchedule.Send(intended: 1010 * ms, late: false)])
        #expect(s.nextIntended == 1020 * ms)
        #expect(drain(&s, at: 5000 * ms).count == 98)
        #expect(s.nextIntended == nil)
        #expect(s.intendedTime(of: 99) == 1990 * ms)
        #expect(s.late == 0)
    }

    @Test("a full window keeps the backlog: the messages leave late, stamped with their intended times")
    func windowFullKeepsBacklog() {
        var s = schedule()
        _ = drain(&s, at: 1000 * ms)
        // The server stalls: at 1050 ms five more are due and the window is full.
        #expect(s.next(at: 1050 * ms, windowOpen: false) == nil)
        #expect(s.isWaitingForWindow)
        #expect(s.backlog(at: 1050 * ms) == 5)
        // The window opens at 1080 ms: none was dropped, each keeps its own intended time.
        let sends = drain(&s, at: 1080 * ms)
        #expect(sends.map(\.intended) == (1...8).map { 1000 * ms + UInt64($0) * 10 * ms })
        // The five found waiting are late; the three that fell due afterwards nobody blocked.
        #expect(sends.map(\.late) == [true, true, true, true, true, false, false, false])
        #expect(s.late == 5)
        #expect(!s.isWaitingForWindow)
        #expect(s.maxLag == 70 * ms)
    }

    @Test("the window opening part way sends what it can; the rest keeps waiting")
    func partialWindow() {
        var s = schedule()
        _ = drain(&s, at: 1000 * ms)
        #expect(s.next(at: 1030 * ms, windowOpen: false) == nil)
        #expect(s.next(at: 1031 * ms, windowOpen: true) == SendSchedule.Send(intended: 1010 * ms, late: true))
        #expect(s.next(at: 1031 * ms, windowOpen: false) == nil)
        #expect(s.isWaitingForWindow)
        #expect(s.backlog(at: 1031 * ms) == 2)
    }

    @Test("the schedule ends at the end of the run: what still waits then is not sent")
    func endOfRun() {
        var s = schedule()
        _ = drain(&s, at: 1500 * ms)
        #expect(s.next(at: 2500 * ms, windowOpen: false) == nil)
        #expect(s.backlog(at: 2500 * ms) == 49)
        #expect(s.dueCount(at: .max) == 100)
    }

    @Test("fractional intervals neither skip a message nor schedule one at the end")
    func fractionalRate() {
        let s = SendSchedule(start: 0, perSecond: 3, end: 1_000_000_000)
        #expect(s.total == 3)
        #expect(s.intendedTime(of: 2) < 1_000_000_000)
        #expect(s.dueCount(at: 333_333_332) == 1)
        #expect(s.dueCount(at: 333_333_333) == 2)
        let exact = SendSchedule(start: 0, perSecond: 4, end: 1_000_000_000)
        #expect(exact.total == 4)
        #expect(SendSchedule(start: 10, perSecond: 4, end: 10).total == 0)
    }
}
