/// The subscribers one node has for one channel.
///
/// Most users have one connection, so one subscriber is kept inline and a dictionary exists only
/// for users with several (the same trade as `InProcessBroker`'s).
enum LocalSubscribers<Receiver> {
    case one(UInt64, Receiver)
    case many([UInt64: Receiver])

    /// With `receive` added as `id`.
    func adding(_ id: UInt64, _ receive: Receiver) -> LocalSubscribers {
        switch self {
        case .one(let other, let otherReceive):
            return .many([other: otherReceive, id: receive])
        case .many(var all):
            all[id] = receive
            return .many(all)
        }
    }

    /// Without `id`; nil when none is left.
    func removing(_ id: UInt64) -> LocalSubscribers? {
        switch self {
        case .one(let only, _):
            return only == id ? nil : self
        case .many(var all):
            all.removeValue(forKey: id)
            return all.isEmpty ? nil : .many(all)
        }
    }

    /// Calls `body` with each subscriber.
    func forEach(_ body: (Receiver) -> Void) {
        switch self {
        case .one(_, let receive): body(receive)
        case .many(let all): for receive in all.values { body(receive) }
        }
    }

    /// How many there are.
    var count: Int {
        switch self {
        case .one: 1
        case .many(let all): all.count
        }
    }
}

extension LocalSubscribers: Sendable where Receiver: Sendable {}
