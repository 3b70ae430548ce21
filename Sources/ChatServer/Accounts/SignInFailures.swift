import ChatCore
import Synchronization

/// Failed password sign-ins per user id: after `limit` within `window`, that id's sign-ins are
/// refused (429) until the window since the first of them has passed, before any password is
/// checked. An attempt counts as failed from its start until it succeeds, so guesses sent at
/// once count at once. Unknown ids count like known ones, so the refusal tells nothing about
/// which exist. A success clears the id's count.
///
/// Online guessing of one account is thus bounded to `limit` guesses per `window`. The price:
/// anyone can delay a user's sign-in by a window by failing on purpose (their live sessions
/// and tokens are not touched).
final class SignInFailures: Sendable {
    private struct Failures {
        var count: Int
        var since: Int64
    }

    let limit: Int
    let window: Int64
    /// Ids tracked before expired entries are pruned; past ten times this, all are forgotten.
    private let pruneAt: Int
    private let failures = Mutex<[UserID: Failures]>([:])

    /// How many ids are tracked (tests).
    var trackedCount: Int { failures.withLock { $0.count } }

    init(limit: Int = 10, windowMS: Int64 = 300_000, pruneAt: Int = 10_000) {
        self.limit = limit
        self.window = windowMS
        self.pruneAt = pruneAt
    }

    /// Nil when `id` may try to sign in at `now`, else the milliseconds until it may.
    func retryAfter(_ id: UserID, at now: Int64) -> Int64? {
        failures.withLock { failures in
            guard let entry = failures[id] else { return nil }
            let ends = entry.since + window
            if now >= ends {
                failures[id] = nil
                return nil
            }
            return entry.count >= limit ? ends - now : nil
        }
    }

    func recordFailure(_ id: UserID, at now: Int64) {
        failures.withLock { failures in
            if var entry = failures[id], now < entry.since + window {
                entry.count += 1
                failures[id] = entry
            } else {
                failures[id] = Failures(count: 1, since: now)
            }
            if failures.count > pruneAt {
                failures = failures.filter { now < $0.value.since + window }
                if failures.count > pruneAt * 10 { failures = [:] }
            }
        }
    }

    func recordSuccess(_ id: UserID) {
        _ = failures.withLock { $0.removeValue(forKey: id) }
    }
}
