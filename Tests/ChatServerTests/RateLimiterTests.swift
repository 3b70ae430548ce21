@testable import ChatServer
import Testing

@Suite("Rate limiter")
struct RateLimiterTests {
    let start = ContinuousClock.now

    @Test("a burst is allowed, the next event is limited")
    func burst() {
        var limiter = RateLimiter(burst: 3, perSecond: 1)
        let decisions = limiter.take(3, at: start)
        #expect(decisions == [.allow, .allow, .allow])
        #expect(limiter.take(at: start) == .limit)
    }

    @Test("tokens refill at the sustained rate")
    func refill() {
        var limiter = RateLimiter(burst: 2, perSecond: 10)
        _ = limiter.take(at: start)
        _ = limiter.take(at: start)
        #expect(limiter.take(at: start) == .limit)
        #expect(limiter.take(at: start + .milliseconds(100)) == .allow)
        #expect(limiter.take(at: start + .milliseconds(100)) == .limit)
        // A long pause refills to the burst, not beyond.
        let later = start + .seconds(60)
        let refilled = limiter.take(2, at: later)
        #expect(refilled == [.allow, .allow])
        #expect(limiter.take(at: later) == .limit)
    }

    @Test("a client that keeps sending after being limited is disconnected once")
    func flood() {
        var limiter = RateLimiter(burst: 5, perSecond: 1)
        let decisions = limiter.take(12, at: start)
        #expect(decisions.prefix(5).allSatisfy { $0 == .allow })
        #expect(decisions[5..<10].allSatisfy { $0 == .limit })
        #expect(decisions[10] == .disconnect)
        #expect(decisions[11] == .ignore)
    }

    @Test("a client that backs off after being limited is forgiven")
    func backOff() {
        var limiter = RateLimiter(burst: 2, perSecond: 2)
        var now = start
        for _ in 0..<20 {
            // Two events then a pause of a second: never more than the sustained rate.
            #expect(limiter.take(at: now) == .allow)
            #expect(limiter.take(at: now) == .allow)
            #expect(limiter.take(at: now) == .limit)
            now += .seconds(1)
        }
    }
}

extension RateLimiter {
    /// `count` events at one instant.
    mutating func take(_ count: Int, at now: ContinuousClock.Instant) -> [Decision] {
        var decisions: [Decision] = []
        for _ in 0..<count { decisions.append(take(at: now)) }
        return decisions
    }
}
