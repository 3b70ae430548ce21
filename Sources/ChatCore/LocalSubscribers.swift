/// The subscribers one process has for one user's channel, by subscription id: what a broker
/// keeps per channel (`InProcessBroker`, `RedisBroker`).
///
/// Most users have one connection, so one subscriber is kept inline and a dictionary exists only
/// for users with several: it is the bulk of an idle connection's broker cost otherwise.
public enum LocalSubscribers<Receiver> {
    /// A single subscriber.
    case one(UInt64, Receiver)
    /// Several (never empty).
    case many([UInt64: Receiver])

    /// With `receive` added as `id`.
    public func adding(_ id: UInt64, _ receive: Receiver) -> LocalSubscribers {
        switch self {
        case .one(let other, let otherReceive):
            return .many([other: otherReceive, id: receive])
        case .many(var all):
            all[id] = receive
            return .many(all)
        }
    }

    /// Without `id`; nil when none is left.
    public func removing(_ id: UInt64) -> LocalSubscribers? {
        switch self {
        case .one(let only, _):
            return only == id ? nil : self
        case .many(var all):
            all.removeValue(forKey: id)
            return all.isEmpty ? nil : .many(all)
        }
    }

    /// Calls `body` with each subscriber.
    public func forEach(_ body: (Receiver) -> Void) {
        switch self {
        case .one(_, let receive): body(receive)
        case .many(let all): for receive in all.values { body(receive) }
        }
    }

    /// Every subscriber.
    public var receivers: [Receiver] {
        switch self {
        case .one(_, let receive): [receive]
        case .many(let all): Array(all.values)
        }
    }

    /// How many there are.
    public var count: Int {
        switch self {
        case .one: 1
        case .many(let all): all.count
        }
    }
}

extension LocalSubscribers: Sendable where Receiver: Sendable {}
