@testable import ChatDynamoDB
import ChatCore
import Foundation
import Testing

/// A group's messages and events are kept once, not in every member's timeline item: the
/// entries refer to the message's item or to one shared payload, and replay gives every member
/// the bytes the live delivery carried.
@Suite struct DynamoDBStoredPayloadTests {
    @Test func groupEntriesReferToOneCopyAndReplayWhole() async throws {
        let store = try await Moto.store()
        // More members than one transaction holds, so every fan-out also goes through the outbox.
        let users = try await makeUsers(store, (0..<125).map { "p\($0 + 100)" })
        let g = GroupID("bigone")!
        var live: [String: [UInt8]] = [:]
        func keep(_ entries: [TimelineEntry]) {
            for entry in entries { live["\(entry.user)#\(entry.seq)"] = entry.payload }
        }
        keep(try await store.createGroup(Group(id: g, name: "big", owner: users[0], members: Array(users[..<120])), at: 1,
                                         event: Array(#"{"change":"created","members":120}"#.utf8)))
        let body = String(repeating: "😀", count: 4000)
        let draft = MessageDraft(id: "big", conversation: .group(g), from: users[3], to: nil, group: g, body: body, ts: 2)
        guard case .created(let message, let sent) = try await store.appendMessage(draft, encode: { JSONPayload.message($0) }) else {
            Issue.record("not created")
            return
        }
        keep(sent)
        let (_, joined) = try await store.addMembers(Array(users[120...]), to: g, by: users[0], at: 3, limit: 1000) { group, added in
            Array(#"{"change":"joined","users":\#(added.count),"members":\#(group.members.count)}"#.utf8)
        }
        keep(joined)
        keep(try await store.removeMember(users[7], from: g, by: users[7], at: 4) { group in
            Array(#"{"change":"left","members":\#(group.members.count)}"#.utf8)
        })
        // A direct message keeps its payload in its entry.
        let direct = MessageDraft(id: "dm", conversation: .direct(users[0], users[1]), from: users[0], to: users[1], group: nil, body: "hi", ts: 5)
        guard case .created(_, let dm) = try await store.appendMessage(direct, encode: { JSONPayload.message($0) }) else {
            Issue.record("not created")
            return
        }
        keep(dm)
        let expectedEntries = 120 + 119 + 125 + 125 + 1 // created, the message, joined, left (the leaver too), the direct one
        #expect(live.count == expectedEntries)

        // Replay gives each entry the bytes of its live delivery.
        for user in users {
            let replayed = try await store.timeline(of: user, after: 0, limit: 100)
            #expect(!replayed.isEmpty)
            for entry in replayed {
                #expect(entry.payload == live["\(entry.user)#\(entry.seq)"], "\(entry.user) \(entry.seq) \(entry.event)")
            }
        }
        #expect(sent.first?.payload == JSONPayload.message(message))

        // What is stored: no group entry holds a payload; the one direct entry does; the three
        // events' payloads are one item each.
        var items: [Item] = []
        var start: Item?
        repeat {
            let page = try await store.client.scan(QueryInput(TableName: store.tables.timeline, ExclusiveStartKey: start))
            items += page.Items ?? []
            start = page.LastEvaluatedKey
        } while start != nil
        #expect(items.count == live.count)
        let holding = items.filter { $0["payload"] != nil }
        #expect(holding.count == 1 && holding.first?["conversation"] == .s(ConversationID.direct(users[0], users[1]).rawValue))
        let shared = Set(items.compactMap { $0["shared"]?.string })
        #expect(shared.count == 3)
        let payloads = try await store.client.batchGet(store.tables.messageIDs, keys: shared.map { ["key": .s($0)] })
        #expect(payloads.count == 3 && payloads.allSatisfy { $0["payload"]?.bytes?.isEmpty == false })
        try await store.shutdown()
    }
}
