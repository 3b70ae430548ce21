import ChatCore
import NIOCore

extension RedisBroker {
    /// Adds the connection to the user's presence set (as `<node>/<connection>`) and to this
    /// node's members, in one script: `true` when it is the user's first connection cluster-wide.
    public func connectionOpened(user: UserID, connection: String) async throws -> Bool {
        try await self.presenceScript(PresenceScripts.open, user: user, connection: connection, opening: true)
    }

    /// Removes the connection, in one script: `true` when it was the user's last cluster-wide.
    public func connectionClosed(user: UserID, connection: String) async throws -> Bool {
        try await self.presenceScript(PresenceScripts.close, user: user, connection: connection, opening: false)
    }

    /// Whether the user's presence set has a member, on any node.
    public func isOnline(_ user: UserID) async throws -> Bool {
        try await self.commands.send(RedisCommand("EXISTS", self.keys.presence(user))).integer == 1
    }

    /// Records that the nodes under this prefix share the store `identity`, or throws when the
    /// first node recorded another: nodes on one prefix with different stores would number a
    /// user's timeline each on their own and publish it on one channel, where one node's events
    /// pass for the other's (a connection drops the real ones as repeats). Once recorded, the
    /// key stays: a store that moved needs it deleted (the error says which).
    public func bind(toStore identity: String) async throws {
        let replies = try await self.commands.send(self.recordingStore(identity))
        if let message = replies.lazy.compactMap(\.errorMessage).first { throw RedisError.server(message) }
        if let recorded = replies[1].string, recorded != identity {
            throw RedisError.invalidConfiguration("""
                the nodes on Redis \(self.configuration.endpoint) with key prefix '\(self.configuration.prefix)' share the store \
                \(recorded), and this node's is \(identity): give each cluster a prefix of its own (?prefix=) or this node the \
                same --store (if that store moved, delete the key '\(self.keys.store)' once every node is stopped)
                """)
        }
        self.presence.withLock { $0.store = identity }
    }

    /// Records `identity` unless a store is recorded, then reads the one recorded.
    private func recordingStore(_ identity: String) -> [RedisCommand] {
        [RedisCommand("SET", self.keys.store, identity, "NX"), RedisCommand("GET", self.keys.store)]
    }

    /// Claims `job` with `SET NX PX`: the key names this node until it expires, and no other
    /// node's claim succeeds before then.
    public func claim(_ job: String, for duration: Duration) async throws -> Bool {
        let milliseconds = max(duration.wholeMilliseconds, 1)
        let reply = try await self.commands.send(RedisCommand("SET", self.keys.claim(job), self.nodeID, "NX", "PX", String(milliseconds)))
        return reply.string == "OK"
    }

    /// Records the change locally and writes its script under the same lock, so Redis sees the
    /// changes in the order of the local record. The local record changes even when Redis is out
    /// of reach: the node still has (or no longer has) the connection, and Redis is brought in
    /// line once it is back (``restorePresence(registered:)``).
    private func presenceScript(_ script: String, user: UserID, connection: String, opening: Bool) async throws -> Bool {
        let command = PresenceScripts.eval(
            script, keys: [self.keys.presence(user), self.keys.members(of: self.nodeID)],
            arguments: ["\(self.nodeID)/\(connection)", "\(user.rawValue)/\(connection)"]
        )
        do {
            let replies = try self.presence.withLock { state in
                // After the node left, a change would outlive it: nobody reaps a node off the registry.
                guard !state.left else { throw RedisError.closed }
                if opening {
                    state.connections.insert(user, connection)
                } else {
                    state.connections.remove(user, connection)
                }
                return try self.commands.enqueue([command])
            }
            return try Self.checked(try await replies.get()[0]).integer == 1
        } catch let error as RedisError where error == .closed {
            throw error
        } catch {
            if !opening {
                // The caller cannot report this user offline; the restore will, if they are.
                self.presence.withLock { if !$0.connections.contains(user) { $0.unreported.insert(user) } }
            }
            throw error
        }
    }

    /// What a restore changed in Redis.
    struct RestoredPresence: Equatable, Sendable {
        /// The users who went offline meanwhile and were not reported.
        var offline: [UserID] = []
        /// The users who had no connection left in Redis and have one again.
        var restored: [UserID] = []
    }

    /// Makes this node's presence records in Redis match the connections it has, when Redis lost
    /// them (`registered` false: the heartbeat found the node missing from the registry, after
    /// Redis lost its data or another node took this one for dead) or may have missed changes
    /// (the command connection is not the one last brought in line); returns who went offline
    /// or came back online thereby.
    func restorePresence(registered: Bool) async throws -> RestoredPresence {
        guard let epoch = self.commands.epoch else { throw RedisError.notConnected(self.configuration.endpoint) }
        let restore = try self.presence.withLock { state -> (EventLoopFuture<[RESPValue]>, [UserID])? in
            guard !state.left, !registered || state.syncedEpoch != epoch else { return nil }
            state.syncedEpoch = epoch
            let candidates = Array(state.unreported)
            let command = PresenceScripts.eval(
                PresenceScripts.restore, keys: [self.keys.members(of: self.nodeID), self.keys.nodes],
                arguments: [self.nodeID, self.keys.presencePrefix, String(candidates.count)]
                    + candidates.map(\.rawValue) + state.connections.members
            )
            return (try self.commands.enqueue([command]), candidates)
        }
        guard let (replies, candidates) = restore else { return RestoredPresence() }
        let reply: RESPValue
        do {
            reply = try Self.checked(try await replies.get()[0])
        } catch {
            self.presence.withLock { $0.syncedEpoch = nil }
            throw error
        }
        self.presence.withLock { $0.unreported.subtract(candidates) }
        let lists = reply.array ?? []
        let changes = RestoredPresence(
            offline: lists.first.map { Self.users(in: $0) } ?? [], restored: lists.dropFirst().first.map { Self.users(in: $0) } ?? []
        )
        if !registered {
            self.logger.warning("this node's presence was missing from Redis (Redis lost its data, or the node missed its heartbeats); restored it", metadata: [
                "offline": "\(changes.offline.count)", "restored": "\(changes.restored.count)",
            ])
        }
        return changes
    }

    /// Refreshes this node's heartbeat and registry entry; `false` when the node was missing from
    /// the registry (a first beat, or Redis lost it).
    func heartbeat() async throws -> Bool {
        let ttl = self.configuration.heartbeatTimeout.wholeMilliseconds
        let store = self.presence.withLock { $0.store }
        let replies = try await self.commands.send([
            RedisCommand("SET", self.keys.alive(self.nodeID), String(ChatService.wallClock()), "PX", String(max(ttl, 1))),
            RedisCommand("SADD", self.keys.nodes, self.nodeID),
        ] + (store.map(self.recordingStore) ?? []))
        if let message = replies.lazy.compactMap(\.errorMessage).first { throw RedisError.server(message) }
        if let store { self.check(recordedStore: replies[3].string, against: store) }
        return replies[1].integer == 0
    }

    /// Logs, once until it is gone, another store recorded under the prefix while this node
    /// runs: Redis lost its data and a node with other tables started before this one's
    /// heartbeat recorded its store again. Nothing here can stop either node; the operator must.
    private func check(recordedStore recorded: String?, against store: String) {
        let foreign = recorded.flatMap { $0 == store ? nil : $0 }
        let news = self.presence.withLock { state in
            defer { state.foreignStore = foreign }
            return foreign != nil && foreign != state.foreignStore
        }
        guard news, let foreign else { return }
        self.logger.error("""
            another node recorded its store under this Redis prefix while Redis was empty: nodes with different \
            stores now share the prefix, and their timelines' seqs pass for each other's; stop the node(s) with the \
            other store, then delete the key '\(self.keys.store)'
            """, metadata: ["recorded": "\(foreign)", "this node's": "\(store)"])
    }

    /// Removes the presence of every registered node whose heartbeat expired and reports the
    /// users who thereby went offline (each by one reaper only) node by node, as each script
    /// returns: what a script removed is reported even when a later node fails. A node that fails
    /// does not stop the others; the first failure is thrown once all were tried.
    func reapDeadNodes() async throws {
        let nodes = try await self.commands.send(RedisCommand("SMEMBERS", self.keys.nodes)).array?.compactMap(\.string) ?? []
        let others = nodes.filter { $0 != self.nodeID }
        guard !others.isEmpty else { return }
        let alive = try await self.commands.send(others.map { RedisCommand("EXISTS", self.keys.alive($0)) })
        var failure: (any Error)?
        for (node, beat) in zip(others, alive) where beat.integer == 0 {
            do {
                let users = try await self.removePresence(of: node, leaving: false)
                self.logger.notice("removed the presence of a node whose heartbeat expired", metadata: [
                    "deadNode": "\(node)", "offline": "\(users.count)",
                ])
                self.reports.report(lost: users)
            } catch {
                failure = failure ?? error
            }
        }
        if let failure { throw failure }
    }

    /// Removes this node's presence on shutdown and reports who went offline, returning once
    /// every report is handed over; later presence changes are refused.
    func leave() async {
        do {
            let replies = try self.presence.withLock { state in
                state.left = true
                return try self.commands.enqueue([self.removePresenceCommand(of: self.nodeID, leaving: true)])
            }
            self.reports.report(lost: try Self.users(in: Self.checked(try await replies.get()[0])))
            await self.reports.drained()
        } catch {
            self.logger.warning("could not remove this node's presence; the other nodes will once its heartbeat expires", metadata: [
                "error": "\(error)",
            ])
        }
    }

    private func removePresence(of node: String, leaving: Bool) async throws -> [UserID] {
        Self.users(in: try await self.commands.send(self.removePresenceCommand(of: node, leaving: leaving)))
    }

    func removePresenceCommand(of node: String, leaving: Bool) -> RedisCommand {
        PresenceScripts.eval(
            PresenceScripts.remove, keys: [self.keys.nodes, self.keys.alive(node), self.keys.members(of: node)],
            arguments: [node, self.keys.presencePrefix, leaving ? "leave" : "reap"]
        )
    }

    /// The users a script returned.
    private static func users(in reply: RESPValue) -> [UserID] {
        reply.array?.compactMap { $0.string.flatMap(UserID.init) } ?? []
    }

    /// `reply`, unless it is an error reply: then that error.
    private static func checked(_ reply: RESPValue) throws -> RESPValue {
        if case .error(let message) = reply { throw RedisError.server(message) }
        return reply
    }
}
