import ChatCore
import NIOCore

/// The pub/sub side of the broker as a state machine: which user channels this node's
/// subscribers need, what Redis has confirmed, and what to send when.
///
/// Every input is a mutating method returning what the caller must do (write commands, resume or
/// fail waiting calls, hand envelopes over). The caller holds it under one lock and writes the
/// commands it returns before releasing that lock, so commands go out in the order of the state
/// changes and Redis, applying them in order, ends up where the machine thinks it is. Generic over
/// the subscribers' handlers and the waiting calls so it is tested without sockets.
struct SubscriptionMachine<Receiver, Waiter> {
    /// The subscription connection, as this machine knows it.
    enum State {
        case disconnected
        /// Connection `epoch` is up and in subscribe mode.
        case connected(epoch: UInt64)
        case closed
    }

    /// What a subscribe call does next.
    enum SubscribeAction {
        /// The channel is confirmed already: resume the call now (the waiter was not kept).
        case ready
        /// Write this SUBSCRIBE; the waiter is resumed on its confirmation.
        case send(RedisCommand)
        /// A SUBSCRIBE for this channel is under way: the waiter is resumed on its confirmation.
        case wait
        /// Fail the call (the waiter was not kept).
        case notConnected
        case closed
    }

    /// What to do with a push from Redis.
    enum PushAction {
        case none
        /// Hand `envelope` to each subscriber.
        case deliver(LocalSubscribers<Receiver>, BrokerEnvelope)
        /// Hand every subscriber of every channel a ``BrokerEnvelope/resync``.
        case resyncAll([LocalSubscribers<Receiver>])
        /// Resume these calls with their subscription ids; if the channel is back after an
        /// outage, hand `resync` a ``BrokerEnvelope/resync`` each.
        case confirmed([(UInt64, Waiter)], resync: LocalSubscribers<Receiver>?)
        /// Redis refused a SUBSCRIBE: fail these calls with its message.
        case refused([Waiter], String)
        /// Redis said something out of step with what was sent: drop the connection.
        case protocolViolation(String)
    }

    private enum Remote {
        /// SUBSCRIBE sent, not confirmed yet; `waiters` are the calls waiting for it (with their
        /// subscription ids), `resync` whether the channel is coming back after an outage.
        case subscribing(waiters: [(UInt64, Waiter)], resync: Bool)
        case subscribed
        /// Not subscribed in Redis: the connection went away, or Redis refused the SUBSCRIBE.
        /// Subscribe again (and resync) when the connection is back or the next subscriber comes.
        case lost
    }

    private struct Entry {
        var subscribers: LocalSubscribers<Receiver>
        /// Tells this entry's SUBSCRIBE confirmations from those of an earlier entry for the same user.
        let token: UInt64
        var remote: Remote
    }

    /// One (UN)SUBSCRIBE command whose confirmations, one per channel, are still due.
    private struct Expectation {
        enum Kind {
            case subscribe
            case unsubscribe
            /// The SUBSCRIBE of the resync channel, alone in its command.
            case resyncChannel
        }

        let kind: Kind
        let users: [UserID]
        /// The entries' tokens (SUBSCRIBE only).
        let tokens: [UInt64]
        var next = 0
    }

    private(set) var state = State.disconnected
    /// The newest connection known to have ended (its `connected` may still be on the way).
    private var lastEnded: UInt64 = 0
    private var channels: [UserID: Entry] = [:]
    private var expected = CircularBuffer<Expectation>()
    private var nextID: UInt64 = 0
    /// Channel names are `channelPrefix` + the user id.
    let channelPrefix: String
    /// The cluster-wide channel on which a resync is for every subscriber, subscribed on every
    /// connection; nil for none.
    let resyncChannel: String?
    /// At most this many channels per SUBSCRIBE when subscribing again after an outage.
    let batchSize: Int

    init(channelPrefix: String, resyncChannel: String? = nil, batchSize: Int = 500) {
        self.channelPrefix = channelPrefix
        self.resyncChannel = resyncChannel
        self.batchSize = batchSize
    }

    /// How many channels have local subscribers.
    var channelCount: Int { channels.count }

    /// Adds a subscriber of `user`'s channel; returns its id and what to do.
    mutating func subscribe(_ user: UserID, _ receive: Receiver, waiter: Waiter) -> (id: UInt64, action: SubscribeAction) {
        switch state {
        case .closed: return (0, .closed)
        case .disconnected: return (0, .notConnected)
        case .connected: break
        }
        nextID += 1
        let id = nextID
        guard var entry = channels[user] else {
            channels[user] = Entry(subscribers: .one(id, receive), token: id, remote: .subscribing(waiters: [(id, waiter)], resync: false))
            return (id, .send(command(subscribe: true, [user], tokens: [id])))
        }
        entry.subscribers = entry.subscribers.adding(id, receive)
        let action: SubscribeAction
        switch entry.remote {
        case .subscribed:
            action = .ready
        case .subscribing(var waiters, let resync):
            waiters.append((id, waiter))
            entry.remote = .subscribing(waiters: waiters, resync: resync)
            action = .wait
        case .lost:
            // Connected, so Redis refused this channel's last SUBSCRIBE (an outage's .lost is
            // replaced on reconnecting): ask again; the subscribers kept meanwhile missed envelopes.
            entry.remote = .subscribing(waiters: [(id, waiter)], resync: true)
            channels[user] = entry
            return (id, .send(command(subscribe: true, [user], tokens: [entry.token])))
        }
        channels[user] = entry
        return (id, action)
    }

    /// Removes subscriber `id` of `user`'s channel; returns the UNSUBSCRIBE to write when it was the last.
    mutating func cancel(_ user: UserID, id: UInt64) -> RedisCommand? {
        guard let entry = channels[user] else { return nil }
        if let rest = entry.subscribers.removing(id) {
            channels[user]?.subscribers = rest
            return nil
        }
        channels[user] = nil
        guard case .connected = state else { return nil }
        return command(subscribe: false, [user], tokens: [])
    }

    /// Connection `epoch` is up: returns the SUBSCRIBEs for the resync channel, then for every
    /// channel that still has subscribers.
    mutating func connected(epoch: UInt64) -> [RedisCommand] {
        guard case .disconnected = state, epoch > lastEnded else { return [] }
        state = .connected(epoch: epoch)
        for user in channels.keys {
            channels[user]?.remote = .subscribing(waiters: [], resync: true)
        }
        var commands: [RedisCommand] = []
        if let resyncChannel {
            expected.append(Expectation(kind: .resyncChannel, users: [], tokens: []))
            commands.append(RedisCommand("SUBSCRIBE", resyncChannel))
        }
        let users = Array(channels.keys)
        for start in stride(from: 0, to: users.count, by: batchSize) {
            let batch = Array(users[start..<min(start + batchSize, users.count)])
            commands.append(command(subscribe: true, batch, tokens: batch.map { channels[$0]!.token }))
        }
        return commands
    }

    /// Connection `epoch` ended: returns the calls to fail (their subscribers are dropped); every
    /// other channel waits for the next connection.
    mutating func disconnected(epoch: UInt64) -> [Waiter] {
        lastEnded = max(lastEnded, epoch)
        guard case .connected(let current) = state, current == epoch else { return [] }
        state = .disconnected
        expected.removeAll()
        var failed: [Waiter] = []
        channels = channels.compactMapValues { entry in
            var entry = entry
            if case .subscribing(let waiters, _) = entry.remote {
                for (id, waiter) in waiters {
                    failed.append(waiter)
                    guard let rest = entry.subscribers.removing(id) else { return nil }
                    entry.subscribers = rest
                }
            }
            entry.remote = .lost
            return entry
        }
        return failed
    }

    /// No more subscriptions: returns the calls to fail.
    mutating func close() -> [Waiter] {
        state = .closed
        expected.removeAll()
        defer { channels = [:] }
        return channels.values.flatMap { entry -> [Waiter] in
            guard case .subscribing(let waiters, _) = entry.remote else { return [] }
            return waiters.map(\.1)
        }
    }

    /// A push from connection `epoch`.
    mutating func received(_ push: RedisPush, epoch: UInt64) -> PushAction {
        guard case .connected(let current) = state, current == epoch else { return .none }
        switch push {
        case .message(let user, let envelope):
            return channels[user].map { .deliver($0.subscribers, envelope) } ?? .none
        case .resyncAll:
            return channels.isEmpty ? .none : .resyncAll(channels.values.map(\.subscribers))
        case .subscribedResyncChannel:
            guard expected.first?.kind == .resyncChannel else { return .protocolViolation("unexpected confirmation \(push)") }
            expected.removeFirst()
            return .none
        case .subscribed(let user), .unsubscribed(let user):
            let subscribed = push == .subscribed(user)
            guard var head = expected.first, head.kind == (subscribed ? .subscribe : .unsubscribe), head.users[head.next] == user else {
                return .protocolViolation("unexpected confirmation \(push)")
            }
            let token = subscribed ? head.tokens[head.next] : 0
            head.next += 1
            if head.next == head.users.count {
                expected.removeFirst()
            } else {
                expected[expected.startIndex] = head
            }
            guard subscribed, var entry = channels[user], entry.token == token,
                  case .subscribing(let waiters, let resync) = entry.remote else { return .none }
            entry.remote = .subscribed
            channels[user] = entry
            return .confirmed(waiters, resync: resync ? entry.subscribers : nil)
        case .error(let message):
            guard let head = expected.popFirst() else { return .protocolViolation("error without a command: \(message)") }
            return .refused(head.kind == .subscribe ? refuse(head) : [], message)
        case .ignored, .pong:
            return .none
        case .unexpected(let value):
            return .protocolViolation("unexpected push \(value)")
        }
    }

    /// The waiters of the entries a refused SUBSCRIBE was for, their subscribers dropped. An entry
    /// that keeps subscribers (from before an outage) is ``Remote/lost``: no confirmation is due,
    /// and the next subscribe or connection asks Redis again.
    private mutating func refuse(_ expectation: Expectation) -> [Waiter] {
        var failed: [Waiter] = []
        for (user, token) in zip(expectation.users, expectation.tokens) {
            guard var entry = channels[user], entry.token == token, case .subscribing(let waiters, _) = entry.remote else { continue }
            var left: LocalSubscribers<Receiver>? = entry.subscribers
            for (id, waiter) in waiters {
                failed.append(waiter)
                left = left?.removing(id)
            }
            guard let left else {
                channels[user] = nil
                continue
            }
            entry.subscribers = left
            entry.remote = .lost
            channels[user] = entry
        }
        return failed
    }

    /// A (UN)SUBSCRIBE for `users`, expected to be confirmed channel by channel.
    private mutating func command(subscribe: Bool, _ users: [UserID], tokens: [UInt64]) -> RedisCommand {
        expected.append(Expectation(kind: subscribe ? .subscribe : .unsubscribe, users: users, tokens: tokens))
        return RedisCommand(subscribe ? "SUBSCRIBE" : "UNSUBSCRIBE", users.map { channelPrefix + $0.rawValue })
    }
}
