/// A token bucket per connection: `burst` events at once, `perSecond` sustained.
///
/// A value type driven by the caller's clock so it can be tested without waiting.
/// `flooding` turns true when a connection keeps sending after it was limited: it has
/// had more than `burst` events refused within the last refill of a full bucket, which
/// a well-behaved client that honours `rate_limited` never reaches.
struct RateLimiter: Sendable {
    /// What to do with one incoming event.
    enum Decision: Equatable, Sendable {
        case allow
        case limit
        case disconnect
        /// Already told to disconnect: drop quietly.
        case ignore
    }

    let burst: Double
    let perSecond: Double
    private var tokens: Double
    private var refused: Double = 0
    private var last: ContinuousClock.Instant?
    private var disconnected = false

    init(burst: Int, perSecond: Double) {
        self.burst = Double(max(1, burst))
        self.perSecond = max(0.001, perSecond)
        self.tokens = self.burst
    }

    /// Takes one token at `now`.
    mutating func take(at now: ContinuousClock.Instant) -> Decision {
        if disconnected { return .ignore }
        if let last {
            let elapsed = now - last
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            tokens = min(burst, tokens + seconds * perSecond)
            // Forget refusals at the refill rate too, so a client that backs off is forgiven.
            refused = max(0, refused - seconds * perSecond)
        }
        last = now
        if tokens >= 1 {
            tokens -= 1
            return .allow
        }
        refused += 1
        guard refused > burst else { return .limit }
        disconnected = true
        return .disconnect
    }
}
