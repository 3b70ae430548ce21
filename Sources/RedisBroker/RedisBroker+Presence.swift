import ChatCore

extension RedisBroker {
    /// Adds the connection to the user's presence set (as `<node>/<connection>`) and to this
    /// node's members, in one script: `true` when it is the user's first connection cluster-wide.
    public func connectionOpened(user: UserID, connection: String) async throws -> Bool {
        try await self.presenceScript(PresenceScripts.open, user: user, connection: connection)
    }

    /// Removes the connection, in one script: `true` when it was the user's last cluster-wide.
    public func connectionClosed(user: UserID, connection: String) async throws -> Bool {
        try await self.presenceScript(PresenceScripts.close, user: user, connection: connection)
    }

    public func isOnline(_ user: UserID) async throws -> Bool {
        try await self.commands.send(RedisCommand("EXISTS", self.keys.presence(user))).integer == 1
    }

    private func presenceScript(_ script: String, user: UserID, connection: String) async throws -> Bool {
        let command = PresenceScripts.eval(
            script, keys: [self.keys.presence(user), self.keys.members(of: self.nodeID)],
            arguments: ["\(self.nodeID)/\(connection)", "\(user.rawValue)/\(connection)"]
        )
        return try await self.commands.send(command).integer == 1
    }

    /// Refreshes this node's heartbeat and registry entry; `false` when the node was missing from
    /// the registry (a first beat, or Redis lost it).
    func heartbeat() async throws -> Bool {
        let ttl = self.configuration.heartbeatTimeout.milliseconds
        let replies = try await self.commands.send([
            RedisCommand("SET", self.keys.alive(self.nodeID), String(ChatService.wallClock()), "PX", String(max(ttl, 1))),
            RedisCommand("SADD", self.keys.nodes, self.nodeID),
        ])
        if let message = replies.lazy.compactMap(\.errorMessage).first { throw RedisError.server(message) }
        return replies[1].integer == 0
    }

    /// Removes the presence of every registered node whose heartbeat expired; returns the users
    /// who thereby went offline (each reported by one reaper only).
    func reapDeadNodes() async throws -> [UserID] {
        let nodes = try await self.commands.send(RedisCommand("SMEMBERS", self.keys.nodes)).array?.compactMap(\.string) ?? []
        let others = nodes.filter { $0 != self.nodeID }
        guard !others.isEmpty else { return [] }
        let alive = try await self.commands.send(others.map { RedisCommand("EXISTS", self.keys.alive($0)) })
        var offline: [UserID] = []
        for (node, beat) in zip(others, alive) where beat.integer == 0 {
            let users = try await self.removePresence(of: node, leaving: false)
            self.logger.notice("removed the presence of a node whose heartbeat expired", metadata: [
                "deadNode": "\(node)", "offline": "\(users.count)",
            ])
            offline += users
        }
        return offline
    }

    /// Removes this node's presence on shutdown and reports who went offline.
    func leave() async {
        do {
            let offline = try await self.removePresence(of: self.nodeID, leaving: true)
            if !offline.isEmpty, let presenceLost = self.presenceLost { await presenceLost(offline) }
        } catch {
            self.logger.warning("could not remove this node's presence; the other nodes will once its heartbeat expires", metadata: [
                "error": "\(error)",
            ])
        }
    }

    private func removePresence(of node: String, leaving: Bool) async throws -> [UserID] {
        let command = PresenceScripts.eval(
            PresenceScripts.remove, keys: [self.keys.nodes, self.keys.alive(node), self.keys.members(of: node)],
            arguments: [node, self.keys.presencePrefix, leaving ? "leave" : "reap"]
        )
        return try await self.commands.send(command).array?.compactMap { $0.string.flatMap(UserID.init) } ?? []
    }
}

extension Duration {
    /// Whole milliseconds.
    var milliseconds: Int64 {
        let (seconds, attoseconds) = self.components
        return seconds * 1000 + attoseconds / 1_000_000_000_000_000
    }
}
