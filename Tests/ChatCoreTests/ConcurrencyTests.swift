import ChatCore
@testable import ChatSQLite
import Testing

@Suite struct ConcurrencyTests {
    /// Many concurrent sends to one recipient go through the group-commit path together:
    /// every one is acknowledged, stored once, and the recipient's seqs stay gap-free.
    @Test(arguments: StoreKind.allCases)
    func concurrentSendsToOneRecipient(kind: StoreKind) async throws {
        let f = try Fixture(kind)
        let senders = try await f.users("bob", "s1", "s2", "s3", "s4")
        let bob = senders[0]
        let transactionsBefore = (f.store as? SQLiteChatStore)?.writer.transactions ?? 0
        let messages = try await withThrowingTaskGroup(of: Message.self) { group in
            for i in 0..<200 {
                group.addTask { try await f.send(senders[1 + i % 4], to: bob, "n\(i)", id: "c\(i)") }
            }
            // A duplicate of each of the first 20 at the same time must not add entries.
            for i in 0..<20 {
                group.addTask { try await f.send(senders[1 + i % 4], to: bob, "n\(i)", id: "c\(i)") }
            }
            return try await group.reduce(into: [Message]()) { $0.append($1) }
        }
        #expect(Set(messages.map(\.id)).count == 200)
        if let sqlite = f.store as? SQLiteChatStore {
            // Group commit: 220 writes shared far fewer transactions.
            #expect(sqlite.writer.transactions - transactionsBefore < 220)
        }
        let timeline = try await f.timeline(bob)
        #expect(timeline.map(\.seq) == Array(1...200))
        #expect(try await f.store.timelineHead(of: bob).latest == 200)
        let bodies = try timeline.map { try json($0.payload)["body"] as? String }
        #expect(Set(bodies.compactMap { $0 }) == Set((0..<200).map { "n\($0)" }))
        for sender in senders.dropFirst() {
            let page = try await f.service.history(of: .direct(sender, bob), viewer: bob, before: nil, limit: 100)
            #expect(page.messages.map(\.message.pos) == Array(1...50))
        }
    }
}
