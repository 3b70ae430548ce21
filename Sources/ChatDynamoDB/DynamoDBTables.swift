import ChatCore
import Logging

/// The store's eight tables (named `<prefix><name>`), their keys, and their creation.
struct DynamoDBTables: Sendable {
    /// What every table's name starts with.
    let prefix: String
    let users: String
    let tokens: String
    let timeline: String
    let conversations: String
    let messages: String
    let memberships: String
    let messageIDs: String
    let outbox: String

    /// The index of `users` by (first character of the id, id), for prefix search.
    static let usersByPrefix = "by_prefix"

    init(prefix: String) {
        self.prefix = prefix
        users = prefix + "users"
        tokens = prefix + "tokens"
        timeline = prefix + "timeline"
        conversations = prefix + "conversations"
        messages = prefix + "messages"
        memberships = prefix + "memberships"
        messageIDs = prefix + "message_ids"
        outbox = prefix + "outbox"
    }

    // MARK: Keys

    func user(_ id: UserID) -> Item { ["id": .s(id.rawValue)] }
    func token(_ hash: String) -> Item { ["hash": .s(hash)] }
    func entry(_ user: UserID, _ seq: Int64) -> Item { ["user": .s(user.rawValue), "seq": .int(seq)] }
    func conversation(_ id: ConversationID) -> Item { ["id": .s(id.rawValue)] }
    func message(_ conversation: ConversationID, _ pos: Int64) -> Item { ["conversation": .s(conversation.rawValue), "pos": .int(pos)] }
    func membership(_ user: UserID, _ conversation: ConversationID) -> Item {
        ["user": .s(user.rawValue), "conversation": .s(conversation.rawValue)]
    }
    /// The idempotency item of `(sender, client id)`: which message it made.
    func sent(_ sender: UserID, _ id: String) -> Item { ["key": .s("s#\(sender)#\(id)")] }
    /// The positions of a group's messages with client id `id` (several senders may use one id).
    func groupIDs(_ conversation: ConversationID, _ id: String) -> Item { ["key": .s("c#\(conversation)#\(id)")] }
    func outboxItem(_ id: String) -> Item { ["id": .s(id)] }
    /// The key of the `message_ids` item holding the payload of a group's event, the one that
    /// made its conversation item's `ver` this (`StoredPayload.shared`).
    func groupEventKey(_ conversation: ConversationID, ver: Int64) -> String { "e#\(conversation)#\(ver)" }
    /// The item of `message_ids` naming the broker the nodes on these tables share (its key
    /// has no `#`, so no idempotency item's can be it).
    var brokerRecord: Item { ["key": .s("broker")] }

    // MARK: Creation

    /// Each table's definition (on-demand capacity).
    var definitions: [CreateTableInput] {
        func table(_ name: String, _ hash: (String, String), _ range: (String, String)? = nil) -> CreateTableInput {
            var attributes = [AttributeDefinition(AttributeName: hash.0, AttributeType: hash.1)]
            var schema = [KeySchemaElement(AttributeName: hash.0, KeyType: "HASH")]
            if let range {
                attributes.append(AttributeDefinition(AttributeName: range.0, AttributeType: range.1))
                schema.append(KeySchemaElement(AttributeName: range.0, KeyType: "RANGE"))
            }
            return CreateTableInput(TableName: name, AttributeDefinitions: attributes, KeySchema: schema, BillingMode: "PAY_PER_REQUEST")
        }
        var users = table(users, ("id", "S"))
        // Keys only: the counters on a user's item change with every entry, and an index that
        // projected them would be written each time.
        users.AttributeDefinitions.append(AttributeDefinition(AttributeName: "p", AttributeType: "S"))
        users.GlobalSecondaryIndexes = [.init(IndexName: Self.usersByPrefix,
                                              KeySchema: [.init(AttributeName: "p", KeyType: "HASH"), .init(AttributeName: "id", KeyType: "RANGE")],
                                              Projection: .init(ProjectionType: "KEYS_ONLY"))]
        return [
            users,
            table(tokens, ("hash", "S")),
            table(timeline, ("user", "S"), ("seq", "N")),
            table(conversations, ("id", "S")),
            table(messages, ("conversation", "S"), ("pos", "N")),
            table(memberships, ("user", "S"), ("conversation", "S")),
            table(messageIDs, ("key", "S")),
            table(outbox, ("id", "S")),
        ]
    }

    /// Creates the missing tables (when `create`) and waits until every table and index is
    /// active; without `create`, a missing table is an error naming it.
    func prepare(_ client: DynamoDBClient, create: Bool, logger: Logger) async throws {
        var created: [String] = []
        for definition in definitions {
            do {
                _ = try await client.describeTable(definition.TableName)
            } catch let error as DynamoDBError where error.code == .resourceNotFound {
                guard create else {
                    throw DynamoDBError(.resourceNotFound, "table \(definition.TableName) does not exist (and creating tables is off)")
                }
                do {
                    try await client.createTable(definition)
                    created.append(definition.TableName)
                } catch let error as DynamoDBError where error.type == "ResourceInUseException" {
                    // Another node created it meanwhile.
                }
            }
        }
        if created.contains(tokens) {
            // Expired tokens go away by themselves (TTL deletes within days; reads check expiry).
            try await client.enableTimeToLive(tokens, attribute: "expires")
        }
        if !created.isEmpty { logger.notice("created DynamoDB tables", metadata: ["tables": "\(created)"]) }
        for definition in definitions { try await waitUntilActive(definition.TableName, client) }
    }

    private func waitUntilActive(_ table: String, _ client: DynamoDBClient) async throws {
        let deadline = ContinuousClock.now + .seconds(120)
        while true {
            let description = try await client.describeTable(table)
            let indexesActive = (description.GlobalSecondaryIndexes ?? []).allSatisfy { $0.IndexStatus == nil || $0.IndexStatus == "ACTIVE" }
            if description.TableStatus == "ACTIVE", indexesActive { return }
            guard ContinuousClock.now < deadline else {
                throw DynamoDBError(.service, "table \(table) is still \(description.TableStatus ?? "unknown") after 120 s")
            }
            try await Task.sleep(for: .milliseconds(500))
        }
    }
}
