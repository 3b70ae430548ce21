import ChatCore
import Foundation
import Testing

@Suite struct MessagingContractTests {
    @Test(arguments: StoreKind.allCases)
    func seqIsGapFreePerUser(kind: StoreKind) async throws {
        let f = try await Fixture(kind)
        let u = try await f.users("alice", "bob", "carol")
        try await f.send(u[0], to: u[1], "1")
        try await f.send(u[2], to: u[1], "2")
        _ = try await f.service.createGroup(by: u[0], name: "g", members: [u[1]])
        try await f.send(u[1], to: u[0], "3")
        await f.service.acknowledge(user: u[1], seq: 1)
        #expect(try await f.timeline(u[1]).map(\.seq) == [1, 2, 3])
        #expect(try await f.timeline(u[0]).map(\.event) == ["group", "message", "receipt"])
        #expect(try await f.timeline(u[0]).map(\.seq) == [1, 2, 3])
        #expect(try await f.timeline(u[2]).isEmpty)
    }

    @Test(arguments: StoreKind.allCases)
    func idempotentSendAndConflict(kind: StoreKind) async throws {
        let f = try await Fixture(kind)
        let u = try await f.users("alice", "bob")
        let first = try await f.send(u[0], to: u[1], "hello", id: "m-1")
        #expect(first.pos == 1 && first.conversation == .direct(u[0], u[1]) && first.to == u[1] && first.group == nil)
        f.clock.advance(by: 10)
        let again = try await f.send(u[0], to: u[1], "hello", id: "m-1")
        #expect(again == first)
        #expect(try await f.timeline(u[1]).count == 1)
        await expectError(.conflict) { try await f.send(u[0], to: u[1], "other", id: "m-1") }
        // The same id to someone else is other content; to nobody, the recipient is checked first.
        let carol = try await f.users("carol")[0]
        await expectError(.conflict) { try await f.send(u[0], to: carol, "hello", id: "m-1") }
        await expectError(.notFound) { try await f.send(u[0], to: uid("nobody"), "hello", id: "m-1") }
        // Another sender may use the same id.
        #expect(try await f.send(u[1], to: u[0], "hello", id: "m-1").pos == 2)
    }

    @Test(arguments: StoreKind.allCases)
    func sendersAnswerCarriesTheMessagesJSON(kind: StoreKind) async throws {
        let f = try await Fixture(kind)
        let u = try await f.users("alice", "bob", "carol")
        let group = try await f.service.createGroup(by: u[0], name: "g", members: [u[1], u[2]])
        let lonely = try await f.service.createGroup(by: u[0], name: "only me", members: [])
        for request in [SendRequest(id: "d1", to: u[1], body: "dm"), SendRequest(id: "d1", to: u[1], body: "dm"), // the resend too
                        SendRequest(id: "g1", group: group.id, body: "group"), SendRequest(id: "l1", group: lonely.id, body: "nobody else")] {
            let sent = try await f.service.submitSend(from: u[0], request).sent()
            #expect(sent.message.id == request.id && sent.message.body == request.body)
            #expect(sent.json == JSONPayload.message(sent.message))
        }
        #expect(try await f.timeline(u[1]).map { try json($0.wirePayload)["id"] as? String } == [nil, "d1", "g1"])
    }

    /// `whenSent` reports what `sent()` returns, whether it is registered before or after the
    /// commit, including a failure of the store's own checks (unknown recipient).
    @Test(arguments: StoreKind.allCases)
    func whenSentCallsBackWithTheOutcome(kind: StoreKind) async throws {
        let f = try await Fixture(kind)
        let u = try await f.users("alice", "bob")
        func outcome(_ pending: PendingSend) async -> Result<SentMessage, ChatError> {
            await withCheckedContinuation { continuation in pending.whenSent { continuation.resume(returning: $0) } }
        }
        let early = try await f.service.submitSend(from: u[0], SendRequest(id: "w1", to: u[1], body: "hi"))
        let earlyOutcome = await outcome(early)
        #expect(try earlyOutcome.get().message.id == "w1")
        #expect(try earlyOutcome.get().json == (try await early.sent()).json)
        let late = try await f.service.submitSend(from: u[0], SendRequest(id: "w2", to: u[1], body: "again"))
        _ = try await late.sent()
        #expect(try await outcome(late).get().message.pos == 2)
        let unknown = try await f.service.submitSend(from: u[0], SendRequest(id: "w3", to: uid("nobody"), body: "?"))
        guard case .failure(let error) = await outcome(unknown) else { Issue.record("sent to an unknown user"); return }
        #expect(error.code == .notFound)
    }

    @Test(arguments: StoreKind.allCases)
    func sendValidation(kind: StoreKind) async throws {
        let f = try await Fixture(kind, configuration: ChatConfiguration(maxMessageChars: 10))
        let u = try await f.users("alice", "bob")
        await expectError(.notFound) { try await f.send(u[0], to: uid("nobody"), "hi") }
        await expectError(.badRequest) { try await f.send(u[0], to: u[1], "") }
        await expectError(.tooLarge) { try await f.send(u[0], to: u[1], String(repeating: "é", count: 11)) }
        #expect(try await f.send(u[0], to: u[1], String(repeating: "é", count: 10)).pos == 1)
        // Code points, not grapheme clusters: one letter with 10 combining accents is 11.
        await expectError(.tooLarge) { try await f.send(u[0], to: u[1], "a" + String(repeating: "\u{301}", count: 10)) }
        await expectError(.badRequest) { try await f.send(u[0], to: u[1], "\u{0}secret") }
        await expectError(.badRequest) { try await f.send(u[0], to: u[1], "hi", id: "bad id") }
        await expectError(.badRequest) { try await f.send(u[0], to: u[1], "hi", id: String(repeating: "a", count: 65)) }
        await expectError(.badRequest) { try await f.send(u[0], to: u[0], "me") }
        await expectError(.badRequest) { try await f.service.send(from: u[0], SendRequest(id: "x", body: "neither")) }
        #expect(try await f.timeline(u[1]).count == 1)
    }

    @Test(arguments: StoreKind.allCases)
    func namesCountCodePointsAndRefuseNUL(kind: StoreKind) async throws {
        let f = try await Fixture(kind)
        let u = try await f.users("alice", "bob")
        await expectError(.badRequest) { try await f.service.rename(u[0], to: "b" + String(repeating: "\u{301}", count: 64)) }
        await expectError(.badRequest) { try await f.service.rename(u[0], to: "\u{0}x") }
        await expectError(.badRequest) { try await f.service.createGroup(by: u[0], name: "\u{0}x", members: [u[1]]) }
        await expectError(.badRequest) {
            try await f.service.createGroup(by: u[0], name: String(repeating: "b\u{301}", count: 40), members: [u[1]])
        }
        let accented = try await f.service.rename(u[0], to: String(repeating: "é", count: 64))
        #expect(accented.name.unicodeScalars.count == 64)
    }

    @Test(arguments: StoreKind.allCases)
    func deliveredOncePerRecipient(kind: StoreKind) async throws {
        let f = try await Fixture(kind)
        let u = try await f.users("alice", "bob")
        let message = try await f.send(u[0], to: u[1], "hi")
        await f.service.acknowledge(user: u[1], seq: 1)
        await f.service.acknowledge(user: u[1], seq: 1)
        await f.service.acknowledge(user: u[0], seq: 1) // alice acking her receipt delivers nothing
        let receipts = try await f.events(u[0], "receipt")
        #expect(receipts.count == 1)
        let receipt = try #require(receipts.first)
        #expect(Set(receipt.keys) == ["seq", "conversation", "ids", "by", "status", "ts"])
        #expect(receipt["status"] as? String == "delivered")
        #expect(receipt["ids"] as? [String] == [message.id])
        #expect(receipt["by"] as? String == "bob")
        #expect(receipt["conversation"] as? String == "dm:alice:bob")
        let page = try await f.service.history(of: message.conversation, viewer: u[0], before: nil, limit: 10)
        #expect(page.messages.first?.delivered == [u[1]])
        #expect(try await f.store.timelineHead(of: u[1]) == TimelineHead(latest: 1, acked: 1))
    }

    @Test(arguments: StoreKind.allCases)
    func acksTogetherMakeOneDeliveredReceiptPerSenderAndConversation(kind: StoreKind) async throws {
        let f = try await Fixture(kind)
        let u = try await f.users("alice", "bob", "carol")
        let group = try await f.service.createGroup(by: u[0], name: "trio", members: [u[1], u[2]]) // bob's seq 1
        for i in 1...3 { try await f.send(u[0], to: u[1], "dm \(i)", id: "a\(i)") } // seqs 2-4
        try await f.send(u[2], to: u[1], "from carol", id: "c1") // 5
        _ = try await f.service.send(from: u[0], SendRequest(id: "g1", group: group.id, body: "to the group")) // 6
        let encode: PayloadEncoder<DeliveredMessages> = { delivered in
            JSONPayload.receipt(ReceiptEvent(conversation: delivered.conversation, ids: delivered.ids, by: delivered.recipient, status: .delivered, ts: 7))
        }
        // Acked out of order, the group event (seq 1) among them: it delivers nothing.
        let entries = try await f.store.acknowledge([UserAcks(user: u[1], seqs: [3, 2, 1, 6, 5, 4])], at: 7, receipt: encode)
        #expect(entries.map(\.user) == [u[0], u[0], u[2]])
        let toAlice = try await f.events(u[0], "receipt")
        #expect(toAlice.map { $0["ids"] as? [String] } == [["a2", "a1", "a3"], ["g1"]])
        #expect(toAlice.map { $0["conversation"] as? String } == ["dm:alice:bob", ConversationID.group(group.id).rawValue])
        #expect(try await f.events(u[2], "receipt").map { $0["ids"] as? [String] } == [["c1"]])
        #expect(try await f.store.timelineHead(of: u[1]) == TimelineHead(latest: 6, acked: 6))
        // Once per message per recipient: the same acks again deliver nothing.
        #expect(try await f.store.acknowledge([UserAcks(user: u[1], seqs: [2, 3, 4, 5, 6])], at: 8, receipt: encode).isEmpty)
        let page = try await f.service.history(of: .direct(u[0], u[1]), viewer: u[0], before: nil, limit: 10)
        #expect(page.messages.map(\.delivered) == [[u[1]], [u[1]], [u[1]]])
        let inGroup = try await f.service.history(of: .group(group.id), viewer: u[0], before: nil, limit: 10)
        #expect(inGroup.messages.map(\.delivered) == [[u[1]]])
    }

    @Test(arguments: StoreKind.allCases)
    func readReceiptsPerSender(kind: StoreKind) async throws {
        let f = try await Fixture(kind)
        let u = try await f.users("alice", "bob", "carol")
        let group = try await f.service.createGroup(by: u[0], name: "trio", members: [u[1], u[2]])
        let conversation = ConversationID.group(group.id)
        let a1 = try await f.service.send(from: u[0], SendRequest(id: "a1", group: group.id, body: "1"))
        let a2 = try await f.service.send(from: u[0], SendRequest(id: "a2", group: group.id, body: "2"))
        let b1 = try await f.service.send(from: u[1], SendRequest(id: "b1", group: group.id, body: "3"))
        let c1 = try await f.service.send(from: u[2], SendRequest(id: "c1", group: group.id, body: "4"))
        try await f.service.markRead(by: u[2], conversation: conversation, ids: [a1.id, a2.id, b1.id, c1.id])
        try await f.service.markRead(by: u[2], conversation: conversation, ids: [a1.id, a2.id]) // once per reader
        // Nobody acked: each reader's read delivers too (see readBeforeTheAckIsDeliveredFirst).
        let toAlice = try await f.events(u[0], "receipt").filter { $0["status"] as? String == "read" }
        let toBob = try await f.events(u[1], "receipt").filter { $0["status"] as? String == "read" }
        #expect(toAlice.count == 1 && toBob.count == 1)
        #expect(toAlice.first?["ids"] as? [String] == ["a1", "a2"])
        #expect(toAlice.first?["status"] as? String == "read")
        #expect(toBob.first?["ids"] as? [String] == ["b1"])
        #expect(try await f.events(u[2], "receipt").isEmpty) // own message ignored
        let page = try await f.service.history(of: conversation, viewer: u[1], before: nil, limit: 10)
        #expect(page.messages.map(\.read) == [[u[2]], [u[2]], [u[2]], []])
        await expectError(.tooLarge) {
            try await f.service.markRead(by: u[2], conversation: conversation, ids: (0...100).map { "x\($0)" })
        }
    }

    /// As history: a direct conversation with a user who does not exist is not found, whether
    /// the read names ids or none; one with a user who does (no message yet) reads nothing.
    @Test(arguments: StoreKind.allCases)
    func readOfAConversationWithNobodyIsNotFound(kind: StoreKind) async throws {
        let f = try await Fixture(kind)
        let u = try await f.users("alice", "bob")
        for ids in [["m1"], []] {
            await expectError(.notFound) { try await f.service.markRead(by: u[0], conversation: .direct(u[0], uid("nobody")), ids: ids) }
            try await f.service.markRead(by: u[0], conversation: .direct(u[0], u[1]), ids: ids)
        }
        #expect(try await f.events(u[1], "receipt").isEmpty)
    }

    @Test(arguments: StoreKind.allCases)
    func readBeforeTheAckIsDeliveredFirst(kind: StoreKind) async throws {
        let f = try await Fixture(kind)
        let u = try await f.users("alice", "bob", "carol")
        let m1 = try await f.send(u[0], to: u[1], "one")
        let m2 = try await f.send(u[0], to: u[1], "two")
        // Bob reads both before his connection acked them: alice hears delivered, then read.
        try await f.service.markRead(by: u[1], conversation: m1.conversation, ids: [m1.id, m2.id])
        var receipts = try await f.events(u[0], "receipt")
        #expect(receipts.map { $0["status"] as? String } == ["delivered", "read"])
        #expect(receipts.map { $0["ids"] as? [String] } == [[m1.id, m2.id], [m1.id, m2.id]])
        // The acks that come later find them delivered and say nothing more.
        await f.service.acknowledge(user: u[1], seq: 1)
        await f.service.acknowledge(user: u[1], seq: 2)
        receipts = try await f.events(u[0], "receipt")
        #expect(receipts.count == 2)
        let page = try await f.service.history(of: m1.conversation, viewer: u[0], before: nil, limit: 10)
        #expect(page.messages.map(\.delivered) == [[u[1]], [u[1]]] && page.messages.map(\.read) == [[u[1]], [u[1]]])

        // In a group too, per reader; an acked message is not delivered twice.
        let group = try await f.service.createGroup(by: u[0], name: "trio", members: [u[1], u[2]])
        let g1 = try await f.service.send(from: u[0], SendRequest(id: "g1", group: group.id, body: "hi all"))
        let carolSeq = try await f.timeline(u[2]).last!.seq
        await f.service.acknowledge(user: u[2], seq: carolSeq)
        let before = try await f.events(u[0], "receipt").count
        try await f.service.markRead(by: u[1], conversation: .group(group.id), ids: [g1.id])
        try await f.service.markRead(by: u[2], conversation: .group(group.id), ids: [g1.id])
        let groupReceipts = try await f.events(u[0], "receipt").dropFirst(before)
        #expect(groupReceipts.map { "\($0["status"] as? String ?? "")/\($0["by"] as? String ?? "")" }
                == ["delivered/bob", "read/bob", "read/carol"])
    }

    @Test(arguments: StoreKind.allCases)
    func callLogOrderAndUnread(kind: StoreKind) async throws {
        let f = try await Fixture(kind)
        let u = try await f.users("alice", "bob", "carol")
        let m1 = try await f.send(u[0], to: u[1], "one")
        f.clock.advance(by: 1)
        try await f.send(u[0], to: u[1], "two")
        f.clock.advance(by: 1)
        let m3 = try await f.send(u[2], to: u[1], "three")
        var log = try await f.service.conversations(of: u[1])
        #expect(log.map(\.id) == [.direct(u[1], u[2]), .direct(u[0], u[1])])
        #expect(log.map(\.unread) == [1, 2])
        #expect(log.map(\.title) == ["Carol", "Alice"])
        #expect(log[0].last == m3 && log[0].peer == u[2] && log[0].kind == .dm && log[0].updatedAt == m3.ts)
        #expect(try await f.service.conversations(of: u[0]).map(\.unread) == [0])

        try await f.service.markRead(by: u[1], conversation: m1.conversation, ids: [m1.id])
        log = try await f.service.conversations(of: u[1])
        #expect(log.map(\.unread) == [1, 1])
        let two = try #require(log[1].last)
        try await f.service.markRead(by: u[1], conversation: m1.conversation, ids: [two.id])
        #expect(try await f.service.conversations(of: u[1]).map(\.unread) == [1, 0])

        f.clock.advance(by: 1)
        let group = try await f.service.createGroup(by: u[0], name: "Team", members: [u[1]])
        log = try await f.service.conversations(of: u[1])
        #expect(log.first?.id == .group(group.id) && log.first?.title == "Team" && log.first?.group == group.id && log.first?.last == nil)
    }

    @Test(arguments: StoreKind.allCases)
    func historyPaging(kind: StoreKind) async throws {
        let f = try await Fixture(kind)
        let u = try await f.users("alice", "bob", "carol")
        for i in 1...5 { try await f.send(u[0], to: u[1], "m\(i)", id: "m\(i)") }
        await f.service.acknowledge(user: u[1], seq: 5)
        try await f.service.markRead(by: u[1], conversation: .direct(u[0], u[1]), ids: ["m4"])
        let conversation = ConversationID.direct(u[0], u[1])
        var page = try await f.service.history(of: conversation, viewer: u[1], before: nil, limit: 2)
        #expect(page.messages.map(\.message.pos) == [4, 5] && page.hasMore)
        // m5 acked; m4 read (which delivers it), not acked.
        #expect(page.messages.map(\.delivered) == [[u[1]], [u[1]]])
        #expect(page.messages.map(\.read) == [[u[1]], []])
        page = try await f.service.history(of: conversation, viewer: u[0], before: 4, limit: 2)
        #expect(page.messages.map(\.message.pos) == [2, 3] && page.hasMore)
        page = try await f.service.history(of: conversation, viewer: u[0], before: 2, limit: 2)
        #expect(page.messages.map(\.message.body) == ["m1"] && !page.hasMore)
        page = try await f.service.history(of: conversation, viewer: u[0], before: nil, limit: 5)
        #expect(page.messages.count == 5 && !page.hasMore)

        await expectError(.notFound) { try await f.service.history(of: conversation, viewer: u[2], before: nil, limit: 10) }
        await expectError(.notFound) { try await f.service.markRead(by: u[2], conversation: conversation, ids: ["m1"]) }
    }

    @Test(arguments: StoreKind.allCases)
    func retentionTruncatesReplay(kind: StoreKind) async throws {
        let f = try await Fixture(kind, configuration: ChatConfiguration(retentionDays: 30))
        let u = try await f.users("alice", "bob")
        for i in 1...3 { try await f.send(u[0], to: u[1], "old\(i)") }
        f.clock.advance(by: 31 * 86_400_000)
        try await f.send(u[0], to: u[1], "new")
        try await f.service.pruneExpired()
        #expect(try await f.timeline(u[1]).map(\.seq) == [4])

        var reader = EndpointReader(try await f.service.openEndpoint(user: u[1], since: 0))
        #expect(try await reader.nextTimeline().seq == 4)
        guard case .synced(let synced) = try await reader.next() else { Issue.record("no synced"); return }
        #expect(try json(synced)["truncated"] as? Bool == true)

        var fresh = EndpointReader(try await f.service.openEndpoint(user: u[1], since: 3))
        #expect(try await fresh.nextTimeline().seq == 4)
        guard case .synced(let notTruncated) = try await fresh.next() else { Issue.record("no synced"); return }
        #expect(String(decoding: notTruncated, as: UTF8.self) == #"{"seq":4}"#)

        // Every entry pruned: nothing to replay, and synced still names the latest seq.
        f.clock.advance(by: 31 * 86_400_000)
        try await f.service.pruneExpired()
        #expect(try await f.timeline(u[1]).isEmpty)
        var empty = EndpointReader(try await f.service.openEndpoint(user: u[1], since: 2))
        guard case .synced(let allPruned) = try await empty.next() else { Issue.record("no synced"); return }
        #expect(String(decoding: allPruned, as: UTF8.self) == #"{"seq":4,"truncated":true}"#)
        // And the next live entry follows it without a gap to fill.
        try await f.send(u[0], to: u[1], "after pruning")
        #expect(try await empty.nextTimeline().seq == 5)
    }
}
