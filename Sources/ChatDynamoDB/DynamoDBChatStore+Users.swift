import ChatCore

extension DynamoDBChatStore {
    /// `ChatStore` requirement: creates the user unless the id is taken (false then).
    ///
    /// One put conditioned on the id being free. When the client retried it after an attempt
    /// whose answer was lost (the user may already be created by it), a failed condition is
    /// checked by reading the item back: exactly what was written (name, password hash,
    /// creation time) is this sign-up's own.
    public func insertUser(_ user: User, passwordHash: String?, at ts: Int64) async throws -> Bool {
        var item = tables.user(user.id)
        item["p"] = .s(String(user.id.rawValue.prefix(1)))
        item["name"] = .s(user.name)
        item["createdAt"] = .int(ts)
        item["seq"] = .int(0)
        item["acked"] = .int(0)
        if let passwordHash { item["hash"] = .s(passwordHash) }
        var e = Expression()
        do {
            try await client.putItem(PutAction(tables.users, item, condition: "attribute_not_exists(\(e.name("id")))", e))
            return true
        } catch let error as DynamoDBError where error.code == .conditionalCheckFailed {
            // The client retried after an attempt that may have created the user (its answer
            // was lost): then the item is exactly what was written, and the id is ours.
            guard error.afterUncertainAttempt else { return false }
            let stored = try await client.getItem(tables.users, key: tables.user(user.id), projection: ["name", "hash", "createdAt"])
            return stored.map { stored in ["name", "hash", "createdAt"].allSatisfy { stored[$0] == item[$0] } } ?? false
        }
    }

    /// `ChatStore` requirement: the user with `id`, if any.
    public func user(_ id: UserID) async throws -> StoredUser? {
        try await client.getItem(tables.users, key: tables.user(id)).map(StoredUser.init(item:))
    }

    /// `ChatStore` requirement: which of `ids` exist.
    public func existingUsers(_ ids: [UserID]) async throws -> Set<UserID> {
        Set(try await client.batchGet(tables.users, keys: ids.map(tables.user), projection: ["id"]).map { try $0.userID("id") })
    }

    /// `ChatStore` requirement: the users whose id starts with `prefix`, by id, at most `limit`.
    ///
    /// Served by the `by_prefix` index, partitioned by the id's first character: a prefix
    /// names one partition (an empty one walks them in order). The index is eventually
    /// consistent, so a user created a moment ago may be missing; the items themselves are
    /// read consistently.
    public func users(withPrefix prefix: String, limit: Int) async throws -> [StoredUser] {
        guard limit > 0 else { return [] }
        let partitions = prefix.isEmpty ? Array("0123456789abcdefghijklmnopqrstuvwxyz").map(String.init) : [String(prefix.prefix(1))]
        var ids: [Item] = []
        for partition in partitions where ids.count < limit {
            var e = Expression()
            var condition = "\(e.name("p")) = \(e.value(.s(partition)))"
            if prefix.count > 1 { condition += " AND begins_with(\(e.name("id")), \(e.value(.s(prefix))))" }
            let input = QueryInput(TableName: tables.users, IndexName: DynamoDBTables.usersByPrefix, KeyConditionExpression: condition,
                                   ExpressionAttributeNames: e.namesOrNil, ExpressionAttributeValues: e.valuesOrNil)
            ids += try await client.queryAll(input, limit: limit - ids.count).map { tables.user(try $0.userID("id")) }
        }
        let users = try await client.batchGet(tables.users, keys: ids).map(StoredUser.init(item:))
        return users.sorted { $0.user.id < $1.user.id }
    }

    /// `ChatStore` requirement: renames a user; nil if unknown.
    public func renameUser(_ id: UserID, to name: String) async throws -> User? {
        var e = Expression()
        let update = "SET \(e.name("name")) = \(e.value(.s(name)))"
        do {
            try await client.updateItem(UpdateAction(tables.users, tables.user(id), update: update, condition: "attribute_exists(\(e.name("id")))", e))
            return User(id: id, name: name)
        } catch let error as DynamoDBError where error.code == .conditionalCheckFailed {
            return nil
        }
    }

    /// `ChatStore` requirement: records when the user's last connection closed (nothing for an unknown user).
    public func setLastSeen(_ id: UserID, at ts: Int64) async throws {
        var e = Expression()
        let update = "SET \(e.name("lastSeen")) = \(e.value(.int(ts)))"
        do {
            try await client.updateItem(UpdateAction(tables.users, tables.user(id), update: update, condition: "attribute_exists(\(e.name("id")))", e))
        } catch let error as DynamoDBError where error.code == .conditionalCheckFailed {
            // Unknown user: nothing to record.
        }
    }

    /// `ChatStore` requirement: stores a token hash, which TTL deletes a day after it expires.
    public func insertToken(hash: String, user: UserID, expiresAt: Int64) async throws {
        var item = tables.token(hash)
        item["user"] = .s(user.rawValue)
        item["expiresAt"] = .int(expiresAt)
        item["revoked"] = .bool(false)
        // TTL deletes a day after expiry at the earliest; until then reads check `expiresAt`.
        item["expires"] = .int(expiresAt / 1000 + 86_400)
        try await client.putItem(PutAction(tables.tokens, item))
    }

    /// `ChatStore` requirement: the owner of a token neither revoked nor expired at `now`.
    public func tokenOwner(hash: String, now: Int64) async throws -> UserID? {
        guard let item = try await client.getItem(tables.tokens, key: tables.token(hash)),
              item["revoked"]?.bool != true, try item.int("expiresAt") > now else { return nil }
        return try item.userID("user")
    }

    /// `ChatStore` requirement: revokes a token (nothing if unknown).
    public func revokeToken(hash: String) async throws {
        var e = Expression()
        let update = "SET \(e.name("revoked")) = \(e.value(.bool(true)))"
        do {
            try await client.updateItem(UpdateAction(tables.tokens, tables.token(hash), update: update, condition: "attribute_exists(\(e.name("hash")))", e))
        } catch let error as DynamoDBError where error.code == .conditionalCheckFailed {
            // Unknown token: nothing to revoke.
        }
    }
}
