import ChatDynamoDB
import RedisBroker
import Testing

@testable import ChatServer

/// The store nodes on one Redis prefix must share (`RedisBroker.bind(toStore:)`): the same
/// tables whichever of AWS's endpoints reaches them, other tables behind another emulator.
@Suite("The store identity recorded in Redis")
struct StoreIdentityTests {
    private func identity(_ region: String, _ endpoint: String?, _ prefix: String) -> String {
        let keys = DynamoDBConfiguration.CredentialSource.fixed(.init(accessKeyID: "k", secretAccessKey: "s"))
        return Backends.storeIdentity(DynamoDBConfiguration(region: region, endpoint: endpoint, tablePrefix: prefix, credentials: keys))
    }

    @Test func awsEndpointsNameTheSameTables() {
        let plain = identity("eu-west-1", nil, "chat_")
        #expect(plain == "dynamodb://eu-west-1?prefix=chat_")
        #expect(identity("eu-west-1", "https://dynamodb.eu-west-1.amazonaws.com", "chat_") == plain)
        #expect(identity("eu-west-1", "https://vpce-0abc-xyz.dynamodb.eu-west-1.vpce.amazonaws.com", "chat_") == plain)
        #expect(identity("cn-north-1", "https://dynamodb.cn-north-1.amazonaws.com.cn", "chat_") == "dynamodb://cn-north-1?prefix=chat_")
    }

    @Test func otherTablesRegionsAndEmulatorsDiffer() {
        let plain = identity("eu-west-1", nil, "chat_")
        #expect(identity("eu-west-1", nil, "other_") != plain)
        #expect(identity("us-east-1", nil, "chat_") != plain)
        let local = identity("eu-west-1", "http://127.0.0.1:8000", "chat_")
        #expect(local == "dynamodb://eu-west-1?prefix=chat_&endpoint=http://127.0.0.1:8000")
        #expect(identity("eu-west-1", "http://127.0.0.1:8001", "chat_") != local)
    }

    /// The broker recorded in the tables (`DynamoDBChatStore.bind(toBroker:)`): prefix and
    /// database, whatever name the node reaches Redis by.
    @Test func brokerIdentityIsPrefixAndDatabase() throws {
        func identity(_ url: String) throws -> String { Backends.brokerIdentity(try RedisBrokerConfiguration.parse(url)) }
        let plain = try identity("redis://10.0.0.5:6379?prefix=chat:")
        #expect(plain == "Redis key prefix 'chat:' in database 0")
        #expect(try identity("redis://redis.internal?prefix=chat:") == plain)
        #expect(try identity("redis://10.0.0.5:6379/1?prefix=chat:") != plain)
        #expect(try identity("redis://10.0.0.5:6379?prefix=other:") != plain)
    }
}
