import ChatCore

extension DynamoDBChatStore {
    /// `ChatStore` requirement: deletes each user's entries older than `ts`.
    ///
    /// Each user loses a prefix of their timeline: the entries before their first one at or
    /// after `ts`, as replay's `truncated` expects. Runs in the background: it scans
    /// `users` page by page and reads each user's oldest entries. The counter stays on the
    /// user's item, so seqs go on where they were; `pruned` (the last seq deleted) lets a later
    /// run skip users with nothing new since.
    public func pruneTimeline(before ts: Int64) async throws {
        var start: Item?
        repeat {
            var e = Expression()
            let projection = e.projection([["id"], ["seq"], ["pruned"]])
            let page = try await client.scan(QueryInput(TableName: tables.users, ProjectionExpression: projection,
                                                        ExpressionAttributeNames: e.namesOrNil, ExclusiveStartKey: start))
            let users = try (page.Items ?? []).filter { try $0.int("seq") > ($0["pruned"]?.int64 ?? 0) }.map { try $0.userID("id") }
            _ = try await concurrentMap(users, limit: 8) { user in try await self.prune(user, before: ts) }
            start = page.LastEvaluatedKey
        } while start != nil
    }

    private func prune(_ user: UserID, before ts: Int64) async throws {
        var expired: [Int64] = []
        var e = Expression()
        var input = QueryInput(TableName: tables.timeline, KeyConditionExpression: "\(e.name("user")) = \(e.value(.s(user.rawValue)))",
                               ProjectionExpression: "\(e.name("seq")), \(e.name("ts"))",
                               ExpressionAttributeNames: e.namesOrNil, ExpressionAttributeValues: e.valuesOrNil, Limit: 200)
        scanning: while true {
            let page = try await client.query(input)
            for item in page.Items ?? [] {
                guard try item.int("ts") < ts else { break scanning }
                expired.append(try item.int("seq"))
            }
            guard let next = page.LastEvaluatedKey else { break }
            input.ExclusiveStartKey = next
        }
        guard let last = expired.last else { return }
        try await client.batchWrite(tables.timeline, expired.map { WriteRequest(DeleteRequest: .init(Key: tables.entry(user, $0))) })
        var u = Expression()
        let pruned = u.name("pruned")
        let value = u.value(.int(last))
        do {
            try await client.updateItem(UpdateAction(tables.users, tables.user(user), update: "SET \(pruned) = \(value)",
                                                     condition: "attribute_not_exists(\(pruned)) OR \(pruned) < \(value)", u))
        } catch let error as DynamoDBError where error.code == .conditionalCheckFailed {}
    }
}
