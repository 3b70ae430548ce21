import ChatCore
import Foundation
import Testing

@Suite struct JSONPayloadTests {
    static func text(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }
    static func keys(_ value: some Encodable) throws -> Set<String> { Set(try json(JSONPayload.encode(value)).keys) }

    @Test func splicesSeqFirst() {
        #expect(Self.text(JSONPayload.splicingSeq(7, into: Array(#"{"a":1}"#.utf8))) == #"{"seq":7,"a":1}"#)
        #expect(Self.text(JSONPayload.splicingSeq(1, into: Array("{}".utf8))) == #"{"seq":1}"#)
        #expect(Self.text(JSONPayload.splicingSeq(2, into: Array("{ }".utf8))) == #"{"seq":2 }"#)
    }

    @Test func messageFieldNames() throws {
        let direct = Message(id: "m1", conversation: .direct(uid("bob"), uid("alice")), from: uid("alice"), to: uid("bob"),
                             group: nil, body: "a/b", ts: 5, pos: 1)
        let payload = try json(JSONPayload.encode(direct))
        #expect(Set(payload.keys) == ["id", "conversation", "from", "to", "body", "ts", "pos"])
        #expect(payload["conversation"] as? String == "dm:alice:bob" && payload["body"] as? String == "a/b")
        let inGroup = Message(id: "m2", conversation: .group(GroupID("g1")!), from: uid("alice"), to: nil, group: GroupID("g1"), body: "x", ts: 5, pos: 2)
        #expect(try Self.keys(inGroup) == ["id", "conversation", "from", "group", "body", "ts", "pos"])
        let history = HistoryMessage(message: direct, delivered: [uid("bob")], read: [])
        #expect(try Self.keys(history) == ["id", "conversation", "from", "to", "body", "ts", "pos", "delivered", "read"])
        #expect(try JSONDecoder().decode(HistoryMessage.self, from: Data(JSONPayload.encode(history))) == history)
        #expect(try Self.keys(HistoryPage(messages: [history], hasMore: true)) == ["messages", "hasMore"])
    }

    @Test func otherShapes() throws {
        let group = Group(id: GroupID("abc123")!, name: "Team", owner: uid("alice"), members: [uid("alice")])
        #expect(try Self.keys(group) == ["id", "name", "owner", "members"])
        #expect(try Self.keys(GroupEvent(conversation: .group(group.id), change: .joined, group: group, users: [uid("bob")], by: uid("alice"), ts: 1))
                == ["conversation", "change", "group", "users", "by", "ts"])
        #expect(try Self.keys(ReceiptEvent(conversation: .group(group.id), ids: ["a"], by: uid("bob"), status: .read, ts: 1))
                == ["conversation", "ids", "by", "status", "ts"])
        #expect(try Self.keys(TypingEvent(conversation: .group(group.id), from: uid("bob"), typing: true)) == ["conversation", "from", "typing"])
        #expect(try Self.keys(PresenceEvent(user: uid("bob"), online: true, lastSeen: nil)) == ["user", "online"])
        #expect(try Self.keys(PresenceEvent(user: uid("bob"), online: false, lastSeen: 9)) == ["user", "online", "lastSeen"])
        #expect(Self.text(JSONPayload.synced(seq: 3, truncated: false)) == #"{"seq":3}"#)
        #expect(Self.text(JSONPayload.synced(seq: 3, truncated: true)) == #"{"seq":3,"truncated":true}"#)
        #expect(try Self.keys(UserProfile(id: uid("bob"), name: "Bob", online: false, lastSeen: 1)) == ["id", "name", "online", "lastSeen"])
        let summary = ConversationSummary(id: .direct(uid("alice"), uid("bob")), kind: .dm, title: "Bob", peer: uid("bob"), group: nil,
                                          last: nil, unread: 0, updatedAt: 1)
        #expect(try Self.keys(summary) == ["id", "kind", "title", "peer", "unread", "updatedAt"])
        #expect(try json(JSONPayload.encode(ChatError.notFound("x")))["code"] as? String == "not_found")
    }

    @Test func identifiers() {
        #expect(UserID("alice") != nil && UserID("a") == nil && UserID("Alice") == nil && UserID("_al") == nil)
        #expect(UserID("a.b-c_d") != nil && UserID(String(repeating: "a", count: 33)) == nil)
        #expect(ConversationID.direct(uid("bob"), uid("alice")).rawValue == "dm:alice:bob")
        #expect(ConversationID("dm:bob:alice") == nil && ConversationID("dm:alice:bob") == .direct(uid("alice"), uid("bob")))
        #expect(ConversationID("grp:abc")?.groupID == GroupID("abc") && ConversationID("grp:") == nil)
        #expect(GroupID.random().rawValue.count == 12)
    }

    @Test func envelopeBytesRoundTrip() {
        for envelope in [BrokerEnvelope.timeline(seq: 42, event: "receipt", payload: Array(#"{"seq":42}"#.utf8)),
                         .ephemeral(event: "typing", payload: Array("{}\n".utf8))] {
            #expect(BrokerEnvelope(bytes: envelope.bytes) == envelope)
        }
        #expect(BrokerEnvelope(bytes: Array("X".utf8)) == nil)
    }
}

@Suite struct HandWrittenPayloadTests {
    @Test("strings: escapes at either end, between runs, and none at all")
    func strings() {
        let cases = ["": #""""#, "\"": #""\"""#, "a\n": #""a\n""#, "\u{01}xé\\": #""\u0001xé\\""#, "plain text": #""plain text""#]
        for (string, expected) in cases {
            var out: [UInt8] = []
            JSONPayload.writeString(string, to: &out)
            #expect(String(decoding: out, as: UTF8.self) == expected)
        }
    }

    @Test func messageAndReceiptMatchTheEncoder() throws {
        let odd = "q\"u\\o/te\n\t\r\u{01}\u{1F}é😀"
        let messages = [
            Message(id: "m1", conversation: .direct(uid("bob"), uid("alice")), from: uid("alice"), to: uid("bob"),
                    group: nil, body: odd, ts: 1_700_000_000_123, pos: 42),
            Message(id: "m\"2", conversation: .group(GroupID("g1")!), from: uid("alice"), to: nil, group: GroupID("g1"), body: "x", ts: 5, pos: 2),
        ]
        for message in messages {
            let fast = JSONPayload.message(message)
            #expect(try JSONDecoder().decode(Message.self, from: Data(fast)) == message)
            #expect(try json(fast).keys.sorted() == json(JSONPayload.encode(message)).keys.sorted())
        }
        for ids in [["a"], ["a", "b\"c"], []] {
            let receipt = ReceiptEvent(conversation: .group(GroupID("g1")!), ids: ids, by: uid("bob"), status: .delivered, ts: 9)
            #expect(try JSONDecoder().decode(ReceiptEvent.self, from: Data(JSONPayload.receipt(receipt))) == receipt)
        }
    }
}
