import ChatCore
import Synchronization

/// Failed password sign-ins per key: after `limit` within `window`, that key's sign-ins are
/// refused (429) until the window since the first of them has passed, before any password is
/// checked. An attempt counts as failed from its start until it succeeds, so guesses sent at
/// once count at once.
///
/// `Accounts` keeps two. Per user id (a success clears the id's count; unknown ids count like
/// known ones, so the refusal tells nothing about which exist): online guessing of one account
/// is bounded to `limit` guesses per `window`, at the price that anyone can delay a user's
/// sign-in by a window by failing on purpose (their live sessions and tokens are not touched).
/// Per client address (a success takes back only its own attempt, or one account of one's own
/// would reset the count): one client trying one password on many ids is bounded too.
final class SignInFailures<Key: Hashable & Sendable>: Sendable {
    private struct Failures {
        var count: Int
        var since: Int64
    }

    let limit: Int
    let window: Int64
    /// Keys tracked before expired entries are pruned; past ten times this, all are forgotten.
    private let pruneAt: Int
    private let failures = Mutex<[Key: Failures]>([:])

    /// How many keys are tracked (tests).
    var trackedCount: Int { failures.withLock { $0.count } }

    init(limit: Int = 10, windowMS: Int64 = 300_000, pruneAt: Int = 10_000) {
        self.limit = limit
        self.window = windowMS
        self.pruneAt = pruneAt
    }

    /// Nil when `key` may try to sign in at `now`, else the milliseconds until it may.
    func retryAfter(_ key: Key, at now: Int64) -> Int64? {
        failures.withLock { failures in
            guard let entry = failures[key] else { return nil }
            let ends = entry.since + window
            if now >= ends {
                failures[key] = nil
                return nil
            }
            return entry.count >= limit ? ends - now : nil
        }
    }

    func recordFailure(_ key: Key, at now: Int64) {
        failures.withLock { failures in
            if var entry = failures[key], now < entry.since + window {
                entry.count += 1
                failures[key] = entry
            } else {
                failures[key] = Failures(count: 1, since: now)
            }
            if failures.count > pruneAt {
                failures = failures.filter { now < $0.value.since + window }
                if failures.count > pruneAt * 10 { failures = [:] }
            }
        }
    }

    /// A success: forgets every failure of `key`.
    func recordSuccess(_ key: Key) {
        _ = failures.withLock { $0.removeValue(forKey: key) }
    }

    /// A success that clears nothing: takes back the one failure its attempt recorded at its start.
    func withdrawFailure(_ key: Key) {
        failures.withLock { failures in
            guard var entry = failures[key] else { return }
            entry.count -= 1
            failures[key] = entry.count > 0 ? entry : nil
        }
    }
}
