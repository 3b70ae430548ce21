@testable import ChatDynamoDB
import Foundation
import NIOCore
import TestSupport
import Testing

/// The client against moto: operations, and the service's errors as typed ones.
@Suite struct DynamoDBClientTests {
    @Test func missingTableIsResourceNotFoundWithTheServicesMessage() async throws {
        let client = try await Moto.client()
        do {
            _ = try await client.getItem("no_such_table", key: ["id": .s("x")])
            Issue.record("read a missing table")
        } catch let error as DynamoDBError {
            #expect(error.code == .resourceNotFound)
            #expect(error.type == "ResourceNotFoundException")
            #expect(error.message == "Requested resource not found")
        }
        try await client.shutdown()
    }

    @Test func conditionsTransactionsAndValidation() async throws {
        let prefix = Moto.prefix()
        let store = try await Moto.store(prefix: prefix)
        let client = store.client
        let table = prefix + "tokens"
        var e = Expression()
        let put = PutAction(table, ["hash": .s("h1"), "n": .int(Int64(1))], condition: "attribute_not_exists(\(e.name("hash")))", e)
        try await client.putItem(put)
        await #expect { try await client.putItem(put) } throws: { ($0 as? DynamoDBError)?.code == .conditionalCheckFailed }

        // A transaction whose second item fails: cancelled, nothing written, the reasons in order.
        let fresh = PutAction(table, ["hash": .s("h2")])
        do {
            try await client.transactWrite([.put(fresh), .put(put)])
            Issue.record("the transaction committed")
        } catch let error as DynamoDBError {
            #expect(error.code == .transactionCanceled)
            #expect(error.cancellationReasons.map(\.code) == ["None", "ConditionalCheckFailed"])
            #expect(DynamoDBChatStore.failed(error, at: 1) && !DynamoDBChatStore.failed(error, at: 0))
        }
        #expect(try await client.getItem(table, key: ["hash": .s("h2")]) == nil)

        // Any other refusal carries the service's message.
        var key = Expression()
        let invalid = UpdateAction(table, ["hash": .s("h1")], update: "SET \(key.name("hash")) = \(key.value(.s("h9")))", key)
        await #expect { try await client.updateItem(invalid) } throws: { error in
            guard let error = error as? DynamoDBError else { return false }
            return error.code == .service && error.type == "ValidationException" && error.message.contains("part of the key")
        }

        // Placeholders an item does not use: refused before sending in debug builds, as DynamoDB does.
        var unused = Expression()
        _ = unused.name("unused")
        let sloppy = UpdateAction(table, ["hash": .s("h1")], update: "SET \(unused.name("n")) = \(unused.value(.int(Int64(2))))", unused)
        await #expect { try await client.transactWrite([.update(sloppy)]) } throws: { error in
            guard let error = error as? DynamoDBError else { return false }
            return error.code == .service && error.type == "ValidationException" && error.message.hasSuffix("item 0: unused #a0")
        }
        try await store.shutdown()
    }

    @Test func batchesOfAnySize() async throws {
        let prefix = Moto.prefix()
        let store = try await Moto.store(prefix: prefix)
        let table = prefix + "tokens"
        let keys = (0..<130).map { ["hash": AttributeValue.s("k\($0)")] }
        try await store.client.batchWrite(table, keys.map { WriteRequest(PutRequest: .init(Item: $0)) })
        let read = try await store.client.batchGet(table, keys: keys + keys.prefix(3), projection: ["hash"])
        #expect(Set(read.compactMap { $0["hash"]?.string }) == Set((0..<130).map { "k\($0)" }))
        try await store.shutdown()
    }

    @Test func unreachableEndpoint() async throws {
        let port = try FreePort.find()
        let configuration = DynamoDBConfiguration(region: "us-east-1", endpoint: "http://127.0.0.1:\(port)", credentials: Moto.credentials)
        await #expect { try await DynamoDBChatStore(configuration: configuration, logger: Moto.logger) } throws: { error in
            guard let error = error as? DynamoDBError else { return false }
            return error.code == .unreachable && error.message.contains("http://127.0.0.1:\(port)")
        }
    }

    /// An endpoint that takes connections and never answers: a request fails once its budget
    /// is spent, not after every attempt's timeout in turn (6 × 10 s by default).
    @Test func silentEndpointFailsWithinTheBudget() async throws {
        let listener = try SilentListener()
        defer { listener.close() }
        var configuration = DynamoDBConfiguration(region: "us-east-1", endpoint: "http://127.0.0.1:\(listener.port)", credentials: Moto.credentials)
        configuration.attemptTimeout = .milliseconds(400)
        configuration.requestBudget = .seconds(1)
        let client = try DynamoDBClient(configuration: configuration, logger: Moto.logger)
        let started = ContinuousClock.now
        await #expect { try await client.call("ListTables", [String: String](), as: [String: [String]].self) } throws: { error in
            (error as? DynamoDBError)?.code == .unreachable
        }
        let elapsed = ContinuousClock.now - started
        // Two attempts fit (0.4 s each, with a backoff between); six would take 2.4 s and more.
        #expect(elapsed >= .milliseconds(750) && elapsed < .milliseconds(1_500), "took \(elapsed)")
        try await client.shutdown()
    }

    @Test func errorAnswers() {
        func error(_ status: Int, _ body: String) -> DynamoDBError {
            DynamoDBClient.error(status: .init(statusCode: status), body: ByteBuffer(string: body))
        }
        let throttled = error(400, #"{"__type":"com.amazonaws.dynamodb.v20120810#ThrottlingException","message":"Rate exceeded"}"#)
        #expect(throttled.code == .throttled && throttled.message == "Rate exceeded" && throttled.type == "ThrottlingException")
        #expect(error(400, #"{"__type":"com.amazon.coral.service#ProvisionedThroughputExceededException","message":"slow down"}"#).code == .throttled)
        #expect(error(503, "").code == .throttled)
        let canceled = error(400, #"""
            {"__type":"com.amazonaws.dynamodb.v20120810#TransactionCanceledException","Message":"Transaction cancelled",
             "CancellationReasons":[{"Code":"None"},{"Code":"TransactionConflict","Message":"Transaction is ongoing for the item"}]}
            """#)
        #expect(canceled.code == .transactionCanceled && canceled.message == "Transaction cancelled")
        #expect(canceled.cancellationReasons == [.init(code: "None"), .init(code: "TransactionConflict", message: "Transaction is ongoing for the item")])
        let denied = error(400, #"{"__type":"com.amazon.coral.service#AccessDeniedException","Message":"not allowed"}"#)
        #expect(denied.code == .service && denied.type == "AccessDeniedException" && denied.message == "not allowed")
    }
}
