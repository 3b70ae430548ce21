import ChatCore
import Synchronization

/// Hands the presence changes the broker finds (users gone offline with a stopped node, users
/// whose presence was restored) to their handlers, one report after the other in the order they
/// were made, off the caller's task.
///
/// The handlers make store calls per user; the heartbeat that finds the changes must not wait
/// for them, or a large report outlasts the heartbeat timeout and the node is taken for dead.
/// A task runs only while reports wait.
final class PresenceReports: Sendable {
    typealias Handler = @Sendable ([UserID]) async -> Void

    private enum Report {
        case lost([UserID])
        case restored([UserID])
    }

    private struct State {
        var lost: Handler?
        var restored: Handler?
        var waiting: [Report] = []
        /// The task handing reports over, while there are any.
        var draining: Task<Void, Never>?
    }

    private let state = Mutex(State())

    /// Called with users who went offline.
    var lost: Handler? {
        get { state.withLock { $0.lost } }
        set { state.withLock { $0.lost = newValue } }
    }

    /// Called with users whose presence came back.
    var restored: Handler? {
        get { state.withLock { $0.restored } }
        set { state.withLock { $0.restored = newValue } }
    }

    /// Reports `users` offline, after every earlier report.
    func report(lost users: [UserID]) {
        if !users.isEmpty { enqueue(.lost(users)) }
    }

    /// Reports `users` back online, after every earlier report.
    func report(restored users: [UserID]) {
        if !users.isEmpty { enqueue(.restored(users)) }
    }

    /// Waits until every report made so far was handed over.
    func drained() async {
        while let draining = state.withLock({ $0.draining }) {
            await draining.value
        }
    }

    private func enqueue(_ report: Report) {
        state.withLock { state in
            state.waiting.append(report)
            if state.draining == nil { state.draining = Task { await self.drain() } }
        }
    }

    private func drain() async {
        while true {
            let next = state.withLock { state -> (users: [UserID], handler: Handler?)? in
                guard !state.waiting.isEmpty else {
                    state.draining = nil
                    return nil
                }
                switch state.waiting.removeFirst() {
                case .lost(let users): return (users, state.lost)
                case .restored(let users): return (users, state.restored)
                }
            }
            guard let next else { return }
            await next.handler?(next.users)
        }
    }
}
