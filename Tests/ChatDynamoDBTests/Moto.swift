@testable import ChatDynamoDB
import ChatCore
import Foundation
import Logging
import TestSupport

/// Stores and clients on the moto server shared by the test process; each test keeps to
/// tables of its own (a fresh prefix) unless it means to share them.
enum Moto {
    static let credentials = DynamoDBConfiguration.Credentials(accessKeyID: "test", secretAccessKey: "test")

    static func prefix() -> String { "d\(UUID().uuidString.prefix(8).lowercased())_" }

    static func configuration(prefix: String, createTables: Bool = true) async throws -> DynamoDBConfiguration {
        let moto = try await TestServices.sharedDynamoDB()
        return DynamoDBConfiguration(region: "us-east-1", endpoint: "http://127.0.0.1:\(moto.port)", tablePrefix: prefix,
                                     credentials: credentials, createTables: createTables)
    }

    /// A store (a "node") on the tables of `prefix`.
    static func store(prefix: String = prefix(), fanOutLease: Duration = DynamoDBChatStore.defaultFanOutLease) async throws -> DynamoDBChatStore {
        try await DynamoDBChatStore(configuration: configuration(prefix: prefix), logger: logger, fanOutLease: fanOutLease)
    }

    static func client() async throws -> DynamoDBClient {
        try DynamoDBClient(configuration: try await configuration(prefix: prefix()), logger: logger)
    }

    static let logger: Logger = {
        var logger = Logger(label: "test.dynamodb")
        logger.logLevel = .warning
        return logger
    }()
}

/// Two stores ("nodes") on one set of tables and `count` users named `<tag><n>`; the first
/// node's next fan-out stops after `chunks` chunks, as if its process died there.
func nodesWithACrashingFanOut(users count: Int, tag: String, chunks: Int, survivorLease: Duration = .seconds(10))
    async throws -> (crashing: DynamoDBChatStore, survivor: DynamoDBChatStore, users: [UserID]) {
    let prefix = Moto.prefix()
    let crashing = try await Moto.store(prefix: prefix)
    let survivor = try await Moto.store(prefix: prefix, fanOutLease: survivorLease)
    let users = try await makeUsers(crashing, (0..<count).map { "\(tag)\($0 + 100)" })
    crashing.hooks.fanOutChunksBeforeCrash.store(chunks, ordering: .relaxed)
    return (crashing, survivor, users)
}

/// Creates users `ids` (named after them) in `store`.
@discardableResult
func makeUsers(_ store: DynamoDBChatStore, _ ids: [String]) async throws -> [UserID] {
    let users = ids.map { UserID($0)! }
    _ = try await concurrentMap(users, limit: 16) { try await store.insertUser(User(id: $0, name: $0.rawValue), passwordHash: nil, at: 1) }
    return users
}

/// A service over `store` with an in-process broker and a fixed clock.
func service(_ store: DynamoDBChatStore, maxGroupMembers: Int = 1000) -> ChatService {
    ChatService(store: store, broker: InProcessBroker(), configuration: ChatConfiguration(maxGroupMembers: maxGroupMembers),
                logger: Moto.logger, clock: { 1_700_000_000_000 })
}

/// A `delivered` receipt as the service makes it.
let deliveredReceipt: PayloadEncoder<DeliveredMessages> = { d in
    JSONPayload.receipt(ReceiptEvent(conversation: d.conversation, ids: d.ids, by: d.recipient, status: .delivered, ts: 5))
}

/// The client ids a receipt entry reports.
func receiptIDs(_ entry: TimelineEntry) throws -> [String] {
    try json(entry.payload)["ids"] as? [String] ?? []
}
