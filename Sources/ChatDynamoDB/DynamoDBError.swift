/// A failure of the DynamoDB store or its client.
///
/// Match on ``code`` (`error.code == .resourceNotFound`); ``message`` is the service's own
/// message when it sent one.
public struct DynamoDBError: Error, Sendable, CustomStringConvertible {
    fileprivate enum Kind: String, Sendable, Hashable {
        case invalidConfiguration = "invalid configuration"
        case unreachable = "endpoint unreachable"
        case conditionalCheckFailed = "conditional check failed"
        case transactionCanceled = "transaction canceled"
        case resourceNotFound = "resource not found"
        case throttled
        case service = "service error"
        case invalidResponse = "invalid response"
        case contention = "too much contention"
    }

    /// What kind of failure.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        fileprivate let kind: Kind

        /// A store URL or setting that cannot be used.
        public static var invalidConfiguration: Code { Code(kind: .invalidConfiguration) }
        /// The endpoint could not be reached (after retries).
        public static var unreachable: Code { Code(kind: .unreachable) }
        /// A write's condition did not hold (`ConditionalCheckFailedException`).
        public static var conditionalCheckFailed: Code { Code(kind: .conditionalCheckFailed) }
        /// A transaction was cancelled; see ``DynamoDBError/cancellationReasons``.
        public static var transactionCanceled: Code { Code(kind: .transactionCanceled) }
        /// A table (or index) does not exist (`ResourceNotFoundException`).
        public static var resourceNotFound: Code { Code(kind: .resourceNotFound) }
        /// Throttled or a server error, still so after the client's retries.
        public static var throttled: Code { Code(kind: .throttled) }
        /// Any other error the service answered with (validation, access, …).
        public static var service: Code { Code(kind: .service) }
        /// An answer the client could not read.
        public static var invalidResponse: Code { Code(kind: .invalidResponse) }
        /// An optimistic write kept losing to concurrent writers of the same items.
        public static var contention: Code { Code(kind: .contention) }

        /// The kind in words (`conditional check failed`, …).
        public var description: String { kind.rawValue }
    }

    /// Why one item of a cancelled transaction failed, as the service reports it.
    public struct CancellationReason: Sendable, Hashable, Codable {
        /// `None` for items that were fine, else e.g. `ConditionalCheckFailed`, `TransactionConflict`.
        public var code: String?
        /// The service's explanation.
        public var message: String?

        private enum CodingKeys: String, CodingKey {
            case code = "Code", message = "Message"
        }

        /// Whether this item's condition failed.
        public var isConditionalCheckFailed: Bool { code == "ConditionalCheckFailed" }
    }

    /// What kind of failure.
    public let code: Code
    /// What happened, in the service's words when it sent some.
    public let message: String
    /// The service's error type without its namespace (e.g. `ValidationException`), if it sent one.
    public let type: String?
    /// For a cancelled transaction: one reason per item, in the transaction's order.
    public let cancellationReasons: [CancellationReason]
    /// Whether an earlier attempt of the request, retried by the client, may have been applied
    /// (its answer was lost, or the service failed part-way): then a failed condition may be
    /// the request's own earlier write.
    var afterUncertainAttempt = false

    init(_ code: Code, _ message: String, type: String? = nil, cancellationReasons: [CancellationReason] = []) {
        self.code = code
        self.message = message
        self.type = type
        self.cancellationReasons = cancellationReasons
    }

    static func invalidConfiguration(_ message: String) -> DynamoDBError { DynamoDBError(.invalidConfiguration, message) }
    static func invalidResponse(_ message: String) -> DynamoDBError { DynamoDBError(.invalidResponse, message) }

    /// `DynamoDB <code>: <message> (<type>)`, with a cancelled transaction's reasons.
    public var description: String {
        var text = "DynamoDB \(code): \(message)"
        if let type { text += " (\(type))" }
        if !cancellationReasons.isEmpty {
            text += " reasons: " + cancellationReasons.map { $0.code ?? "None" }.joined(separator: ", ")
        }
        return text
    }
}
