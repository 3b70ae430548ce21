import ChatCore
import Logging
import NIOCore
import Synchronization

/// The users whose envelopes this node may have failed to publish (a publish that failed, or
/// PUBLISHes still unanswered when the command connection ended), and the resyncs it owes them.
///
/// Subscribers resync when their own subscription connection comes back, but nobody would tell
/// them about envelopes lost on the publisher's side. Once the command connection is up again
/// (it is this connection's delegate) each such user gets a ``BrokerEnvelope/resync`` on their
/// channel, and their endpoints catch up from the store. Beyond ``limit`` users one resync goes
/// to the cluster-wide resync channel instead, for every subscriber of every node.
final class LostPublishes: RedisConnectionDelegate {
    /// The resyncs owed.
    private enum Due {
        case users([UserID])
        case everyone
    }

    private struct State {
        var users: Set<UserID> = []
        var everyone = false
        var limit: Int

        mutating func insert(_ lost: some Sequence<UserID>) {
            guard !everyone else { return }
            users.formUnion(lost)
            if users.count > limit {
                users = []
                everyone = true
            }
        }

        mutating func take() -> Due? {
            if everyone {
                everyone = false
                return .everyone
            }
            guard !users.isEmpty else { return nil }
            defer { users = [] }
            return .users(Array(users))
        }
    }

    private let state: Mutex<State>
    private let keys: RedisKeys
    private let logger: Logger
    private let observer: RedisBrokerObserver

    /// Resyncs for the channels `keys` names, per user up to `limit` users.
    init(keys: RedisKeys, logger: Logger, observer: RedisBrokerObserver = .none, limit: Int = 10_000) {
        self.state = Mutex(State(limit: limit))
        self.keys = keys
        self.logger = logger
        self.observer = observer
    }

    /// Beyond this many users, one resync for everyone replaces theirs.
    var limit: Int {
        get { state.withLock { $0.limit } }
        set { state.withLock { $0.limit = newValue } }
    }

    /// Remembers that envelopes for `users` may be lost.
    func record(_ users: some Collection<UserID>) {
        observer.lostPublishes(users.count)
        state.withLock { $0.insert(users) }
    }

    /// Publishes the resyncs owed through `connection`; what cannot go now stays owed.
    func publish(through connection: RedisConnection) {
        publish { commands, lost in connection.sendNow(commands, ifLost: lost) }
    }

    func connected(_ channel: any Channel, epoch: UInt64) {
        publish { commands, lost in RedisConnection.sendNow(commands, on: channel, ifLost: lost) }
    }

    func disconnected(epoch: UInt64) {}

    /// Writes the resyncs owed with `send`. The lock is not held while writing: a write that fails
    /// at once calls back into ``record(_:)``.
    private func publish(_ send: ([RedisCommand], @escaping @Sendable () -> Void) -> Bool) {
        guard let due = state.withLock({ $0.take() }) else { return }
        let commands: [RedisCommand]
        switch due {
        case .users(let users):
            commands = users.map { RedisCommand(parts: [Self.publish, Array(keys.channel($0).utf8), Self.resync]) }
        case .everyone:
            commands = [RedisCommand(parts: [Self.publish, Array(keys.resyncChannel.utf8), Self.resync])]
        }
        let owe: @Sendable () -> Void = { [weak self] in self?.owe(due) }
        guard send(commands, owe) else { return owe() }
        switch due {
        case .users(let users):
            logger.notice("resyncing the users whose envelopes may be lost", metadata: ["users": "\(users.count)"])
        case .everyone:
            logger.warning("resyncing every subscriber cluster-wide: envelopes for more users than tracked may be lost")
        }
    }

    private func owe(_ due: Due) {
        state.withLock { state in
            switch due {
            case .users(let users): state.insert(users)
            case .everyone:
                state.everyone = true
                state.users = []
            }
        }
    }

    private static let publish = Array("PUBLISH".utf8)
    private static let resync = BrokerEnvelope.resync.bytes
}
