import Synchronization

/// A handshake's place, taken when ``EngineIOHandler/admit(_:)`` lets it in and handed to the
/// session it opens. A handler that counts handshakes (a limit per client) counts at admission
/// and gets its `release` called if no session opens after all: a WebSocket upgrade that never
/// completes drops its admission, and the deinit gives the place back.
public final class EngineAdmission: Sendable {
    private let release: (@Sendable () -> Void)?
    private let kept = Atomic<Bool>(false)

    /// An admission whose place `release` gives back unless the session keeps it; nil for a
    /// handshake that takes no place.
    public init(release: (@Sendable () -> Void)? = nil) {
        self.release = release
    }

    /// The opened session's owner keeps the place (and gives it back itself).
    public func keep() {
        self.kept.store(true, ordering: .relaxed)
    }

    deinit {
        if !self.kept.load(ordering: .relaxed) { self.release?() }
    }
}
