import Synchronization

/// Mutual exclusion per key for async code: at most one holder per key, waiters served in
/// arrival order, ownership handed straight to the next waiter.
///
/// Several keys are taken in sorted order, so holders of overlapping key sets cannot deadlock
/// as long as nobody waits for a key that sorts before one it already holds.
final class KeyedLock: Sendable {
    /// The waiters of each held key (a key is held while it has an entry).
    private let held = Mutex<[String: [CheckedContinuation<Void, Never>]]>([:])

    init() {}

    /// Runs `body` holding every key of `keys` (duplicates are taken once).
    func withLocks<T>(_ keys: some Sequence<String>, _ body: () async throws -> T) async rethrows -> T {
        let sorted = Array(Set(keys)).sorted()
        for key in sorted { await lock(key) }
        defer { for key in sorted.reversed() { unlock(key) } }
        return try await body()
    }

    /// Runs `body` holding `key`.
    func withLock<T>(_ key: String, _ body: () async throws -> T) async rethrows -> T {
        try await withLocks(CollectionOfOne(key), body)
    }

    private func lock(_ key: String) async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let acquired = held.withLock { held -> Bool in
                guard held[key] != nil else {
                    held[key] = []
                    return true
                }
                held[key]!.append(continuation)
                return false
            }
            if acquired { continuation.resume() }
        }
    }

    private func unlock(_ key: String) {
        let next = held.withLock { held -> CheckedContinuation<Void, Never>? in
            guard var waiters = held[key], !waiters.isEmpty else {
                held[key] = nil
                return nil
            }
            let next = waiters.removeFirst()
            held[key] = waiters
            return next
        }
        next?.resume()
    }

    /// How many keys are held (tests check that nothing stays locked).
    var heldCount: Int { held.withLock { $0.count } }
}
