import ChatCore

/// The connections this node has registered for presence: the truth its records in Redis are
/// rebuilt from when Redis lost them (a restart without persistence) or missed changes (made
/// while the connection was down).
///
/// Most users have one connection, so one is kept inline and a set exists only beyond that.
struct NodeConnections {
    private enum Connections {
        case one(String)
        case many(Set<String>)
    }

    private var byUser: [UserID: Connections] = [:]

    /// Adds `connection` of `user`.
    mutating func insert(_ user: UserID, _ connection: String) {
        switch byUser[user] {
        case nil:
            byUser[user] = .one(connection)
        case .one(let other):
            byUser[user] = other == connection ? .one(other) : .many([other, connection])
        case .many(var all):
            byUser[user] = nil
            all.insert(connection)
            byUser[user] = .many(all)
        }
    }

    /// Removes `connection` of `user`, if registered.
    mutating func remove(_ user: UserID, _ connection: String) {
        switch byUser[user] {
        case nil:
            break
        case .one(let only):
            if only == connection { byUser[user] = nil }
        case .many(var all):
            byUser[user] = nil
            all.remove(connection)
            byUser[user] = all.count == 1 ? .one(all.first!) : .many(all)
        }
    }

    /// Whether `user` has a connection here.
    func contains(_ user: UserID) -> Bool { byUser[user] != nil }

    /// Every connection as the node's member set in Redis names it: `<user>/<connection>`.
    var members: [String] {
        byUser.flatMap { user, connections -> [String] in
            switch connections {
            case .one(let connection): ["\(user.rawValue)/\(connection)"]
            case .many(let all): all.map { "\(user.rawValue)/\($0)" }
            }
        }
    }
}
