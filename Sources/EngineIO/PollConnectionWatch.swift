import NIOCore
import Synchronization

extension EngineIOServer {
    /// Completes when the client of the HTTP connection being served closes its side or the
    /// connection goes: set by ``EngineIOChildChannel`` around its requests, so a long poll can
    /// watch its own connection.
    @TaskLocal static var requestConnectionEnded: EventLoopFuture<Void>?
}

/// Ends a session whose long poll loses its connection before its answer is written: whatever
/// the poll was handed would be lost with it, while the session went on without it. As the
/// reference server ("poll connection closed prematurely"), the session closes (reason
/// `transport closed`); the client opens a new one and its application catches up (webchat's
/// timeline replays from the last acked seq). An answer written in full disarms the watch.
final class PollConnectionWatch: Sendable {
    private let armed = Atomic(true)

    init(connectionEnded: EventLoopFuture<Void>, session: EngineSession) {
        connectionEnded.whenComplete { _ in
            if self.armed.exchange(false, ordering: .acquiringAndReleasing) { session.pollConnectionClosed() }
        }
    }

    /// The poll's answer was written (or the poll failed with an HTTP error): nothing to watch.
    func disarm() {
        self.armed.store(false, ordering: .releasing)
    }
}
