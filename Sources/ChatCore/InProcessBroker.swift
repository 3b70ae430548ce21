import Synchronization

/// A `Broker` for one process: per-user channels are in-memory subscriber lists, presence is a
/// connection set per user.
public final class InProcessBroker: Broker {
    private struct State {
        var subscribers: [UserID: [UInt64: @Sendable (BrokerEnvelope) -> Void]] = [:]
        var connections: [UserID: Set<String>] = [:]
        var nextSubscription: UInt64 = 0
    }

    private let state = Mutex(State())

    /// Creates an empty broker.
    public init() {}

    public func publish(_ envelope: BrokerEnvelope, to users: [UserID]) async throws {
        let targets = state.withLock { state in users.flatMap { state.subscribers[$0].map { Array($0.values) } ?? [] } }
        for receive in targets { receive(envelope) }
    }

    public func subscribe(_ user: UserID, _ receive: @escaping @Sendable (BrokerEnvelope) -> Void) async throws -> BrokerSubscription {
        let id = state.withLock { state in
            state.nextSubscription += 1
            state.subscribers[user, default: [:]][state.nextSubscription] = receive
            return state.nextSubscription
        }
        return BrokerSubscription { [weak self] in
            self?.state.withLock { state in
                state.subscribers[user]?.removeValue(forKey: id)
                if state.subscribers[user]?.isEmpty == true { state.subscribers[user] = nil }
            }
        }
    }

    public func connectionOpened(user: UserID, connection: String) async throws -> Bool {
        state.withLock { state in
            state.connections[user, default: []].insert(connection)
            return state.connections[user]?.count == 1
        }
    }

    public func connectionClosed(user: UserID, connection: String) async throws -> Bool {
        state.withLock { state in
            guard state.connections[user]?.remove(connection) != nil else { return false }
            if state.connections[user]?.isEmpty == true {
                state.connections[user] = nil
                return true
            }
            return false
        }
    }

    public func isOnline(_ user: UserID) async throws -> Bool {
        state.withLock { $0.connections[user] != nil }
    }
}
