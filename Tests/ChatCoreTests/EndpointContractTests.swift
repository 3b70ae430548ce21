import ChatCore
import Testing

@Suite(.timeLimit(.minutes(1))) struct EndpointContractTests {
    @Test(arguments: StoreKind.allCases)
    func replayThenSyncedThenLive(kind: StoreKind) async throws {
        let f = try await Fixture(kind)
        let u = try await f.users("alice", "bob")
        try await f.send(u[0], to: u[1], "one")
        try await f.send(u[0], to: u[1], "two")
        let endpoint = try await f.service.openEndpoint(user: u[1], since: nil)
        var reader = EndpointReader(endpoint)
        let first = try await reader.nextTimeline()
        #expect(first.seq == 1 && first.event == "message" && first.payload["body"] as? String == "one" && first.payload["seq"] as? Int == 1)
        #expect(try await reader.nextTimeline().seq == 2)
        #expect(try await reader.next() == .synced(payload: Array(#"{"seq":2}"#.utf8)))
        try await f.send(u[0], to: u[1], "three")
        #expect(try await reader.nextTimeline().seq == 3)
        try await f.service.typing(from: u[0], to: u[1], group: nil, typing: true)
        guard case .ephemeral("typing", let typing) = try await reader.next() else { Issue.record("no typing"); return }
        #expect(try json(typing)["from"] as? String == "alice")
        #expect(try await f.timeline(u[1]).count == 3) // typing is never stored

        // Acks move the high-water mark: a new endpoint without `since` replays only what is newer.
        await f.service.acknowledge(user: u[1], seq: 2)
        var second = EndpointReader(try await f.service.openEndpoint(user: u[1], since: nil))
        #expect(try await second.nextTimeline().seq == 3)
        #expect(try await second.next() == .synced(payload: Array(#"{"seq":3}"#.utf8)))
        await endpoint.close()
    }

    /// A connection that comes back with `since` past the acked mark has those events: acks
    /// its node took but died before writing are not lost, so the messages count as delivered
    /// and their senders get the receipt. A `since` past the latest seq acks nothing.
    @Test(arguments: StoreKind.allCases)
    func sinceAcknowledgesWhatTheClientHas(kind: StoreKind) async throws {
        let f = try await Fixture(kind)
        let u = try await f.users("alice", "bob", "carol")
        try await f.send(u[0], to: u[1], "one", id: "m1")
        try await f.send(u[0], to: u[1], "two", id: "m2")
        try await f.send(u[0], to: u[1], "three", id: "m3")
        var reader = EndpointReader(try await f.service.openEndpoint(user: u[1], since: 2))
        #expect(try await reader.nextTimeline().seq == 3)
        #expect(try await reader.next() == .synced(payload: Array(#"{"seq":3}"#.utf8)))
        // Acks are written in order: once this one is, so are those `since` stood for.
        await f.service.acknowledge(user: u[1], seq: 3)
        let delivered = try await f.events(u[0], "receipt").flatMap { $0["ids"] as? [String] ?? [] }
        #expect(delivered.sorted() == ["m1", "m2", "m3"])
        // The acked mark rose with them: without `since`, nothing is replayed.
        var second = EndpointReader(try await f.service.openEndpoint(user: u[1], since: nil))
        #expect(try await second.next() == .synced(payload: Array(#"{"seq":3}"#.utf8)))

        try await f.send(u[0], to: u[2], "to carol", id: "c1")
        var carol = EndpointReader(try await f.service.openEndpoint(user: u[2], since: 99))
        #expect(try await carol.next() == .synced(payload: Array(#"{"seq":1}"#.utf8)))
        await f.service.acknowledge(user: u[1], seq: 3)
        #expect(try await f.events(u[0], "receipt").flatMap { $0["ids"] as? [String] ?? [] }.sorted() == ["m1", "m2", "m3"])
    }

    @Test(arguments: StoreKind.allCases)
    func liveDuringReplayIsNeitherLostNorDuplicated(kind: StoreKind) async throws {
        let f = try await Fixture(kind)
        let u = try await f.users("alice", "bob")
        for i in 1...50 { try await f.send(u[0], to: u[1], "m\(i)") }
        var reader = EndpointReader(try await f.service.openEndpoint(user: u[1], since: 0))
        async let more: Void = { for i in 51...100 { try await f.send(u[0], to: u[1], "m\(i)") } }()
        var seqs: [Int64] = []
        while seqs.count < 100 {
            switch try await reader.next() {
            case .timeline(let seq, _, _): seqs.append(seq)
            case .synced, .ephemeral: continue
            }
        }
        try await more
        #expect(seqs == Array(1...100))
    }

    /// Two users message each other with pipelined sends while their endpoints ack what they
    /// get, so each timeline mixes messages and delivered receipts written by different
    /// operations: every entry arrives once, in seq order, through either publish path.
    @Test(arguments: StoreKind.allCases, PublishPath.allCases)
    func mixedTimelinesArriveInOrder(kind: StoreKind, publish: PublishPath) async throws {
        let f = try await Fixture(kind, publish: publish)
        let u = try await f.users("alice", "bob")
        let count = 40
        let endpoints = [try await f.service.openEndpoint(user: u[0], since: nil), try await f.service.openEndpoint(user: u[1], since: nil)]
        async let sends: Void = withThrowingTaskGroup(of: Void.self) { group in
            for (from, to) in [(u[0], u[1]), (u[1], u[0])] {
                group.addTask {
                    var pending: [PendingSend] = []
                    for i in 1...count {
                        pending.append(try await f.service.submitSend(from: from, SendRequest(id: "\(from)-\(i)", to: to, body: "m\(i)")))
                    }
                    for send in pending { _ = try await send.sent() }
                }
            }
            try await group.waitForAll()
        }
        // Each side reads until it has the other's messages and receipts for all of its own.
        func read(_ index: Int) async throws -> [Int64] {
            var reader = EndpointReader(endpoints[index])
            var seqs: [Int64] = []
            var messages = 0
            var delivered = Set<String>()
            while messages < count || delivered.count < count {
                guard case .timeline(let seq, let event, let payload) = try await reader.next() else { continue }
                seqs.append(seq)
                f.service.acknowledgeInBackground(user: u[index], seq: seq, event: event)
                let body = try json(payload)
                if event == "message" {
                    messages += 1
                } else if event == "receipt", body["status"] as? String == "delivered" {
                    delivered.formUnion(body["ids"] as? [String] ?? [])
                }
            }
            return seqs
        }
        async let alice = read(0)
        async let bob = read(1)
        let (aliceSeqs, bobSeqs) = try await (alice, bob)
        try await sends
        #expect(aliceSeqs == Array(1...Int64(aliceSeqs.count)))
        #expect(bobSeqs == Array(1...Int64(bobSeqs.count)))
        for endpoint in endpoints { await endpoint.close() }
    }
}
