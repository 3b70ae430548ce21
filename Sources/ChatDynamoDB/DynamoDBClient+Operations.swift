import Foundation

/// The operations, typed. Reads that correctness depends on pass `consistent: true`.
extension DynamoDBClient {
    /// `GetItem`; nil when there is no such item.
    func getItem(_ table: String, key: Item, consistent: Bool = true, projection: [String]? = nil) async throws -> Item? {
        var expression = Expression()
        let projected = projection.map { $0.map { expression.name($0) }.joined(separator: ", ") }
        let input = GetInput(TableName: table, Key: key, ConsistentRead: consistent, ProjectionExpression: projected,
                             ExpressionAttributeNames: expression.namesOrNil)
        return try await call("GetItem", input, as: GetItemOutput.self).Item
    }

    /// `PutItem`.
    func putItem(_ action: PutAction) async throws {
        _ = try await call("PutItem", action, as: EmptyOutput.self)
    }

    /// `UpdateItem`.
    func updateItem(_ action: UpdateAction) async throws {
        _ = try await call("UpdateItem", action, as: EmptyOutput.self)
    }

    /// `DeleteItem`.
    func deleteItem(_ action: KeyAction) async throws {
        _ = try await call("DeleteItem", action, as: EmptyOutput.self)
    }

    /// One page of `Query`.
    func query(_ input: QueryInput) async throws -> QueryOutput {
        try await call("Query", input)
    }

    /// `Query` page after page until `limit` items (all when nil) or the end.
    func queryAll(_ input: QueryInput, limit: Int? = nil) async throws -> [Item] {
        var input = input
        var items: [Item] = []
        while true {
            if let limit { input.Limit = limit - items.count }
            let page = try await query(input)
            items += page.Items ?? []
            guard let next = page.LastEvaluatedKey, limit.map({ items.count < $0 }) ?? true else { return items }
            input.ExclusiveStartKey = next
        }
    }

    /// One page of `Scan`.
    func scan(_ input: QueryInput) async throws -> QueryOutput {
        try await call("Scan", input)
    }

    /// `BatchGetItem` of any number of keys of one table (duplicates are read once), 100 per
    /// request, unprocessed keys asked again; in no particular order.
    func batchGet(_ table: String, keys: [Item], consistent: Bool = true, projection: [String]) async throws -> [Item] {
        try await batchGet(table, keys: keys, consistent: consistent, paths: projection.map { [$0] })
    }

    /// `BatchGetItem` projecting document `paths` (each a list of names), all attributes when nil.
    func batchGet(_ table: String, keys: [Item], consistent: Bool = true, paths: [[String]]? = nil) async throws -> [Item] {
        var unique: [Item] = []
        var seen = Set<Item>()
        for key in keys where seen.insert(key).inserted { unique.append(key) }
        var expression = Expression()
        let projected = paths.map { expression.projection($0) }
        var items: [Item] = []
        for start in stride(from: 0, to: unique.count, by: 100) {
            var pending: KeysAndAttributes? = KeysAndAttributes(
                Keys: Array(unique[start..<min(start + 100, unique.count)]), ConsistentRead: consistent,
                ProjectionExpression: projected, ExpressionAttributeNames: expression.namesOrNil)
            var attempt = 0
            while let request = pending {
                attempt += 1
                let output = try await call("BatchGetItem", BatchGetItemInput(RequestItems: [table: request]), as: BatchGetItemOutput.self)
                items += output.Responses?[table] ?? []
                pending = output.UnprocessedKeys?[table].flatMap { $0.Keys.isEmpty ? nil : $0 }
                if pending != nil { try await backOffUnprocessed(attempt, "BatchGetItem") }
            }
        }
        return items
    }

    /// `BatchWriteItem` of any number of writes to one table, 25 per request, unprocessed
    /// ones sent again.
    func batchWrite(_ table: String, _ requests: [WriteRequest]) async throws {
        for start in stride(from: 0, to: requests.count, by: 25) {
            var pending = Array(requests[start..<min(start + 25, requests.count)])
            var attempt = 0
            while !pending.isEmpty {
                attempt += 1
                let output = try await call("BatchWriteItem", BatchWriteItemInput(RequestItems: [table: pending]), as: BatchWriteItemOutput.self)
                pending = output.UnprocessedItems?[table] ?? []
                if !pending.isEmpty { try await backOffUnprocessed(attempt, "BatchWriteItem") }
            }
        }
    }

    private func backOffUnprocessed(_ attempt: Int, _ operation: String) async throws {
        guard attempt < Self.maxAttempts else { throw DynamoDBError(.throttled, "\(operation) left items unprocessed \(attempt) times") }
        try await Task.sleep(for: Backoff.delay(attempt: attempt, base: .milliseconds(25), cap: .seconds(1)))
    }

    /// `TransactWriteItems` (at most 100 actions). The client request token makes the
    /// client's own retries of this call idempotent.
    func transactWrite(_ actions: [WriteAction]) async throws {
        precondition(actions.count <= Self.maxTransactionItems, "a transaction holds at most \(Self.maxTransactionItems) items")
        guard !actions.isEmpty else { return }
        _ = try await call("TransactWriteItems", TransactWriteItemsInput(TransactItems: actions, ClientRequestToken: UUID().uuidString),
                           as: EmptyOutput.self)
    }

    /// `TransactGetItems`: a consistent snapshot of up to 100 items, nil for missing ones.
    func transactGet(_ gets: [GetInput]) async throws -> [Item?] {
        let output = try await call("TransactGetItems", TransactGetItemsInput(TransactItems: gets.map { .init(Get: $0) }),
                                    as: TransactGetItemsOutput.self)
        let responses = output.Responses ?? []
        guard responses.count == gets.count else { throw DynamoDBError.invalidResponse("TransactGetItems answered \(responses.count) of \(gets.count)") }
        return responses.map(\.Item)
    }

    /// The most actions one `TransactWriteItems` takes.
    static let maxTransactionItems = 100

    /// `CreateTable`.
    func createTable(_ input: CreateTableInput) async throws {
        _ = try await call("CreateTable", input, as: EmptyOutput.self)
    }

    /// `DescribeTable`: the table's status and its indexes' (throws `resourceNotFound` if missing).
    func describeTable(_ table: String) async throws -> DescribeTableOutput.Table {
        guard let description = try await call("DescribeTable", TableNameInput(TableName: table), as: DescribeTableOutput.self).Table else {
            throw DynamoDBError.invalidResponse("DescribeTable \(table) answered no table")
        }
        return description
    }

    /// `UpdateTimeToLive`: items expire once the epoch seconds in `attribute` have passed.
    func enableTimeToLive(_ table: String, attribute: String) async throws {
        let input = UpdateTimeToLiveInput(TableName: table, TimeToLiveSpecification: .init(Enabled: true, AttributeName: attribute))
        _ = try await call("UpdateTimeToLive", input, as: EmptyOutput.self)
    }
}
