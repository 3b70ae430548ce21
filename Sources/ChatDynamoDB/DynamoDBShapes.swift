// The JSON shapes of the DynamoDB operations the store uses (API version 2012-08-10), field
// names as the service spells them. Optional fields that are nil are left out of a request.

/// `Put` of `PutItem` and of a transaction.
struct PutAction: Encodable, Sendable {
    var TableName: String
    var Item: Item
    var ConditionExpression: String?
    var ExpressionAttributeNames: [String: String]?
    var ExpressionAttributeValues: [String: AttributeValue]?

    /// A put of `item`, with `expression`'s placeholders (of `condition`).
    init(_ table: String, _ item: Item, condition: String? = nil, _ expression: consuming Expression = Expression()) {
        TableName = table
        self.Item = item
        ConditionExpression = condition
        ExpressionAttributeNames = expression.namesOrNil
        ExpressionAttributeValues = expression.valuesOrNil
    }
}

/// `Update` of `UpdateItem` and of a transaction.
struct UpdateAction: Encodable, Sendable {
    var TableName: String
    var Key: Item
    var UpdateExpression: String
    var ConditionExpression: String?
    var ExpressionAttributeNames: [String: String]?
    var ExpressionAttributeValues: [String: AttributeValue]?

    /// An update of the item at `key`, with `expression`'s placeholders (of `update` and `condition`).
    init(_ table: String, _ key: Item, update: String, condition: String? = nil, _ expression: consuming Expression) {
        TableName = table
        self.Key = key
        UpdateExpression = update
        ConditionExpression = condition
        ExpressionAttributeNames = expression.namesOrNil
        ExpressionAttributeValues = expression.valuesOrNil
    }
}

/// `Delete` of `DeleteItem` and of a transaction; `ConditionCheck` of a transaction.
struct KeyAction: Encodable, Sendable {
    var TableName: String
    var Key: Item
    var ConditionExpression: String?
    var ExpressionAttributeNames: [String: String]?
    var ExpressionAttributeValues: [String: AttributeValue]?

    /// A delete or check of the item at `key`, with `expression`'s placeholders (of `condition`).
    init(_ table: String, _ key: Item, condition: String? = nil, _ expression: consuming Expression = Expression()) {
        TableName = table
        self.Key = key
        ConditionExpression = condition
        ExpressionAttributeNames = expression.namesOrNil
        ExpressionAttributeValues = expression.valuesOrNil
    }
}

/// One item of `TransactWriteItems`.
enum WriteAction: Encodable, Sendable {
    case put(PutAction)
    case update(UpdateAction)
    case delete(KeyAction)
    case check(KeyAction)

    private enum CodingKeys: String, CodingKey {
        case Put, Update, Delete, ConditionCheck
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        switch self {
        case .put(let action): try container.encode(action, forKey: .Put)
        case .update(let action): try container.encode(action, forKey: .Update)
        case .delete(let action): try container.encode(action, forKey: .Delete)
        case .check(let action): try container.encode(action, forKey: .ConditionCheck)
        }
    }
}

struct TransactWriteItemsInput: Encodable {
    var TransactItems: [WriteAction]
    var ClientRequestToken: String
}

// What DynamoDB checks of each request's placeholders, checked before sending in debug builds.

extension PutAction: ExpressionChecked {
    var expressionMismatch: String? {
        Expression.mismatch([ConditionExpression], names: ExpressionAttributeNames, values: ExpressionAttributeValues)
    }
}

extension UpdateAction: ExpressionChecked {
    var expressionMismatch: String? {
        Expression.mismatch([UpdateExpression, ConditionExpression], names: ExpressionAttributeNames, values: ExpressionAttributeValues)
    }
}

extension KeyAction: ExpressionChecked {
    var expressionMismatch: String? {
        Expression.mismatch([ConditionExpression], names: ExpressionAttributeNames, values: ExpressionAttributeValues)
    }
}

extension WriteAction: ExpressionChecked {
    var expressionMismatch: String? {
        switch self {
        case .put(let action): action.expressionMismatch
        case .update(let action): action.expressionMismatch
        case .delete(let action), .check(let action): action.expressionMismatch
        }
    }
}

extension TransactWriteItemsInput: ExpressionChecked {
    /// Each item is checked on its own, as DynamoDB does.
    var expressionMismatch: String? {
        Expression.mismatch(items: TransactItems.map(\.expressionMismatch))
    }
}

extension GetInput: ExpressionChecked {
    var expressionMismatch: String? {
        Expression.mismatch([ProjectionExpression], names: ExpressionAttributeNames, values: nil)
    }
}

extension TransactGetItemsInput: ExpressionChecked {
    var expressionMismatch: String? {
        Expression.mismatch(items: TransactItems.map(\.Get.expressionMismatch))
    }
}

extension BatchGetItemInput: ExpressionChecked {
    var expressionMismatch: String? {
        let problems = RequestItems.sorted { $0.key < $1.key }.compactMap { table, keys in
            Expression.mismatch([keys.ProjectionExpression], names: keys.ExpressionAttributeNames, values: nil).map { "\(table): \($0)" }
        }
        return problems.isEmpty ? nil : problems.joined(separator: "; ")
    }
}

extension QueryInput: ExpressionChecked {
    var expressionMismatch: String? {
        Expression.mismatch([KeyConditionExpression, FilterExpression, ProjectionExpression], names: ExpressionAttributeNames,
                            values: ExpressionAttributeValues)
    }
}

/// `GetItem`, and one `Get` of `TransactGetItems`.
struct GetInput: Encodable, Sendable {
    var TableName: String
    var Key: Item
    var ConsistentRead: Bool?
    var ProjectionExpression: String?
    var ExpressionAttributeNames: [String: String]?
}

struct GetItemOutput: Decodable {
    var Item: Item?
}

struct TransactGetItemsInput: Encodable {
    struct Get: Encodable {
        var Get: GetInput
    }

    var TransactItems: [Get]
}

struct TransactGetItemsOutput: Decodable {
    struct Response: Decodable {
        var Item: Item?
    }

    var Responses: [Response]?
}

/// The keys of one table in `BatchGetItem`.
struct KeysAndAttributes: Codable {
    var Keys: [Item]
    var ConsistentRead: Bool?
    var ProjectionExpression: String?
    var ExpressionAttributeNames: [String: String]?
}

struct BatchGetItemInput: Encodable {
    var RequestItems: [String: KeysAndAttributes]
}

struct BatchGetItemOutput: Decodable {
    var Responses: [String: [Item]]?
    var UnprocessedKeys: [String: KeysAndAttributes]?
}

/// One write of `BatchWriteItem`: a put or a delete.
struct WriteRequest: Codable {
    struct Put: Codable {
        var Item: Item
    }

    struct Delete: Codable {
        var Key: Item
    }

    var PutRequest: Put?
    var DeleteRequest: Delete?
}

struct BatchWriteItemInput: Encodable {
    var RequestItems: [String: [WriteRequest]]
}

struct BatchWriteItemOutput: Decodable {
    var UnprocessedItems: [String: [WriteRequest]]?
}

/// `Query` and `Scan` (a scan has no key condition nor index order).
struct QueryInput: Encodable, Sendable {
    var TableName: String
    var IndexName: String?
    var KeyConditionExpression: String?
    var FilterExpression: String?
    var ProjectionExpression: String?
    var ExpressionAttributeNames: [String: String]?
    var ExpressionAttributeValues: [String: AttributeValue]?
    var ScanIndexForward: Bool?
    var Limit: Int?
    var ExclusiveStartKey: Item?
    var ConsistentRead: Bool?
    var Select: String?
}

struct QueryOutput: Decodable {
    var Items: [Item]?
    var Count: Int?
    var LastEvaluatedKey: Item?
}

struct AttributeDefinition: Codable {
    var AttributeName: String
    var AttributeType: String
}

struct KeySchemaElement: Codable {
    var AttributeName: String
    var KeyType: String
}

struct CreateTableInput: Encodable {
    struct Projection: Encodable {
        var ProjectionType: String
    }

    struct GlobalSecondaryIndex: Encodable {
        var IndexName: String
        var KeySchema: [KeySchemaElement]
        var Projection: Projection
    }

    var TableName: String
    var AttributeDefinitions: [AttributeDefinition]
    var KeySchema: [KeySchemaElement]
    var BillingMode: String
    var GlobalSecondaryIndexes: [GlobalSecondaryIndex]?
}

struct TableNameInput: Encodable {
    var TableName: String
}

struct DescribeTableOutput: Decodable {
    struct Index: Decodable {
        var IndexName: String?
        var IndexStatus: String?
    }

    struct Table: Decodable {
        var TableStatus: String?
        var GlobalSecondaryIndexes: [Index]?
    }

    var Table: Table?
}

struct UpdateTimeToLiveInput: Encodable {
    struct Specification: Encodable {
        var Enabled: Bool
        var AttributeName: String
    }

    var TableName: String
    var TimeToLiveSpecification: Specification
}

/// What an operation without a useful answer returns.
struct EmptyOutput: Decodable {}

/// The body of an error answer: `__type` (`com.amazonaws.dynamodb.v20120810#Name`) and a message
/// (`message` or `Message`, depending on the error), with the reasons of a cancelled transaction.
struct ErrorOutput: Decodable {
    var type: String?
    var message: String?
    var reasons: [DynamoDBError.CancellationReason]?

    private enum CodingKeys: String, CodingKey {
        case type = "__type", message, Message, CancellationReasons
    }

    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        type = try container.decodeIfPresent(String.self, forKey: .type)
        message = try container.decodeIfPresent(String.self, forKey: .message) ?? container.decodeIfPresent(String.self, forKey: .Message)
        reasons = try container.decodeIfPresent([DynamoDBError.CancellationReason].self, forKey: .CancellationReasons)
    }
}
