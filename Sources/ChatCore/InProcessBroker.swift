import Synchronization

/// A `Broker` for one process: per-user channels are in-memory subscriber lists, presence is a
/// connection set per user.
///
/// Most users have one connection, so one subscriber (``LocalSubscribers``) and one connection
/// are kept inline; a dictionary or set exists only for users with several.
public final class InProcessBroker: Broker {
    private typealias Receiver = @Sendable (BrokerEnvelope) -> Void

    private enum Connections {
        case one(String)
        case many(Set<String>)
    }

    private struct State {
        var subscribers: [UserID: LocalSubscribers<Receiver>] = [:]
        var connections: [UserID: Connections] = [:]
        var nextSubscription: UInt64 = 0
    }

    private let state = Mutex(State())

    /// Creates an empty broker.
    public init() {}

    public func publish(_ envelope: BrokerEnvelope, to users: [UserID]) async throws {
        _ = publishNow(envelope, to: users)
    }

    public func publishNow(_ envelope: BrokerEnvelope, to users: [UserID]) -> Bool {
        let targets = state.withLock { state in users.flatMap { state.subscribers[$0]?.receivers ?? [] } }
        for receive in targets { receive(envelope) }
        return true
    }

    public func subscribe(_ user: UserID, _ receive: @escaping @Sendable (BrokerEnvelope) -> Void) async throws -> BrokerSubscription {
        let id = state.withLock { state in
            state.nextSubscription += 1
            let id = state.nextSubscription
            state.subscribers[user] = state.subscribers[user]?.adding(id, receive) ?? .one(id, receive)
            return id
        }
        return BrokerSubscription { [weak self] in
            self?.state.withLock { state in
                state.subscribers[user] = state.subscribers[user]?.removing(id)
            }
        }
    }

    public func connectionOpened(user: UserID, connection: String) async throws -> Bool {
        state.withLock { state in
            switch state.connections[user] {
            case nil:
                state.connections[user] = .one(connection)
                return true
            case .one(let other):
                state.connections[user] = other == connection ? .one(other) : .many([other, connection])
            case .many(var all):
                state.connections[user] = nil
                all.insert(connection)
                state.connections[user] = .many(all)
            }
            return false
        }
    }

    public func connectionClosed(user: UserID, connection: String) async throws -> Bool {
        state.withLock { state in
            switch state.connections[user] {
            case nil:
                return false
            case .one(let only):
                guard only == connection else { return false }
                state.connections[user] = nil
                return true
            case .many(var all):
                state.connections[user] = nil
                guard all.remove(connection) != nil else {
                    state.connections[user] = .many(all)
                    return false
                }
                state.connections[user] = all.count == 1 ? .one(all.first!) : .many(all)
                return false
            }
        }
    }

    public func isOnline(_ user: UserID) async throws -> Bool {
        state.withLock { $0.connections[user] != nil }
    }
}
