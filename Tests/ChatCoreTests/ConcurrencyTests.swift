import ChatCore
@testable import ChatSQLite
import Testing

@Suite struct ConcurrencyTests {
    /// Many concurrent sends to one recipient go through the group-commit path together:
    /// every one is acknowledged, stored once, and the recipient's seqs stay gap-free.
    @Test(arguments: StoreKind.allCases)
    func concurrentSendsToOneRecipient(kind: StoreKind) async throws {
        let f = try await Fixture(kind)
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

    /// Failing sends batched with good ones fail alone: the good ones are stored (the group
    /// commit reruns a batch with a failure, each operation in its own savepoint), the failing
    /// ones leave nothing behind, and seqs and positions stay gap-free.
    @Test(arguments: StoreKind.allCases)
    func failingSendsInABatchFailAlone(kind: StoreKind) async throws {
        let f = try await Fixture(kind)
        let users = try await f.users("bob", "s1")
        let (bob, sender) = (users[0], users[1])
        _ = try await f.send(sender, to: bob, "original", id: "taken")
        let outcomes = await withTaskGroup(of: (Int, ChatError.Code?).self) { group in
            for i in 0..<120 {
                group.addTask {
                    do {
                        switch i % 3 {
                        case 0: _ = try await f.send(sender, to: bob, "n\(i)", id: "c\(i)")
                        case 1: _ = try await f.send(sender, to: uid("nobody"), "x\(i)", id: "u\(i)")
                        default: _ = try await f.send(sender, to: bob, "other \(i)", id: "taken")
                        }
                        return (i, nil)
                    } catch let error as ChatError {
                        return (i, error.code)
                    } catch {
                        return (i, .internal)
                    }
                }
            }
            return await group.reduce(into: [Int: ChatError.Code?]()) { $0[$1.0] = $1.1 }
        }
        for i in 0..<120 {
            switch i % 3 {
            case 0: #expect(outcomes[i]! == nil)
            case 1: #expect(outcomes[i]! == .notFound)
            default: #expect(outcomes[i]! == .conflict)
            }
        }
        let timeline = try await f.timeline(bob)
        #expect(timeline.map(\.seq) == Array(1...41))
        let page = try await f.service.history(of: .direct(sender, bob), viewer: bob, before: nil, limit: 100)
        #expect(page.messages.map(\.message.pos) == Array(1...41))
        #expect(Set(page.messages.map(\.message.id)) == Set(["taken"] + stride(from: 0, to: 120, by: 3).map { "c\($0)" }))
    }
}
