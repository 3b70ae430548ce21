@testable import ChatDynamoDB
import ChatCore
import Foundation
import Testing

/// The placeholder check debug builds run on every request before sending it.
@Suite struct ExpressionTests {
    @Test func anActionUsingExactlyWhatItSuppliesPasses() {
        var e = Expression()
        let path = e.path("delivered", "bob")
        let update = "SET \(path) = \(e.value(.int(Int64(5))))"
        let condition = "attribute_exists(\(e.name("pos"))) AND attribute_not_exists(\(path))"
        let action = UpdateAction("messages", ["pos": .int(Int64(1))], update: update, condition: condition, e)
        #expect(action.expressionMismatch == nil)
        #expect(PutAction("t", ["id": .s("x")]).expressionMismatch == nil)
    }

    /// The mistake acks made: one `Expression` for every item of a chunk (a compile error now
    /// that it is noncopyable), so that item k carried the values `:v0 … :vk` of the items
    /// built before it and used only its own.
    @Test func placeholdersOfOtherItemsAreCaught() {
        func mark(_ k: Int) -> WriteAction {
            var action = UpdateAction("messages", ["pos": .int(k)], update: "SET #a0.#a1 = :v\(k)", condition: "attribute_not_exists(#a0.#a1)", Expression())
            action.ExpressionAttributeNames = ["#a0": "delivered", "#a1": "bob"]
            action.ExpressionAttributeValues = Dictionary(uniqueKeysWithValues: (0...k).map { (":v\($0)", AttributeValue.int($0)) })
            return .update(action)
        }
        let actions = (0..<8).map(mark)
        #expect(actions[0].expressionMismatch == nil)
        #expect(actions[1].expressionMismatch == "unused :v0")
        #expect(actions[7].expressionMismatch == "unused :v0, :v1, :v2, :v3, :v4 and 2 more")
        let transaction = TransactWriteItemsInput(TransactItems: Array(actions.prefix(3)), ClientRequestToken: "t")
        #expect(transaction.expressionMismatch == "item 1: unused :v0; item 2: unused :v0, :v1")
        let all = TransactWriteItemsInput(TransactItems: actions, ClientRequestToken: "t")
        #expect(all.expressionMismatch?.hasSuffix("item 3: unused :v0, :v1, :v2; and 4 more items") == true)
    }

    @Test func unusedAndUndefinedNamesAndValues() {
        var e = Expression()
        _ = e.name("spare")
        let extra = UpdateAction("t", ["id": .s("x")], update: "SET #a9 = :v7, #a1_b = :x", e)
        #expect(extra.expressionMismatch == "unused #a0; undefined #a1_b, #a9; undefined :v7, :x")
        let query = QueryInput(TableName: "t", KeyConditionExpression: "#a0 = :v0", ProjectionExpression: "#a1.#a2",
                               ExpressionAttributeNames: ["#a0": "user", "#a1": "delivered", "#a2": "bob"], ExpressionAttributeValues: [":v0": .s("bob")])
        #expect(query.expressionMismatch == nil)
        let get = GetInput(TableName: "t", Key: ["id": .s("x")], ProjectionExpression: "#a0", ExpressionAttributeNames: ["#a0": "seq", "#a1": "acked"])
        #expect(get.expressionMismatch == "unused #a1")
    }

    /// A group's members and a message both change their conversation through one versioned
    /// update: `SET …, ver = old + 1[, pending]` on condition `ver = old`.
    @Test func conversationUpdateRaisesTheVersionItWasReadAt() async throws {
        let store = try await Moto.store()
        let record = try ConversationRecord(item: ["id": .s(ConversationID.group(.random()).rawValue), "members": .strings(["alice"]), "pos": .int(Int64(4)), "ver": .int(Int64(7))])
        for pending in [nil, "outbox-1"] {
            guard case .update(let action) = store.conversationUpdate(record, setting: ["pos": .int(Int64(5)), "members": .strings(["alice", "bob"])],
                                                                      pending: pending) else {
                Issue.record("not an update")
                continue
            }
            #expect(action.expressionMismatch == nil)
            #expect(action.Key == store.tables.conversation(record.id))
            let names = try #require(action.ExpressionAttributeNames)
            let values = try #require(action.ExpressionAttributeValues)
            func resolved(_ expression: String) -> String {
                var text = expression
                for (alias, name) in names.sorted(by: { $0.key > $1.key }) { text = text.replacingOccurrences(of: alias, with: name) }
                for (placeholder, value) in values.sorted(by: { $0.key > $1.key }) {
                    text = text.replacingOccurrences(of: placeholder, with: value.int64.map(String.init) ?? value.string ?? "list")
                }
                return text
            }
            #expect(resolved(action.UpdateExpression) == "SET pos = 5, members = list, ver = 8" + (pending.map { ", pending = \($0)" } ?? ""))
            #expect(resolved(action.ConditionExpression ?? "") == "ver = 7")
        }
        try await store.shutdown()
    }
}
