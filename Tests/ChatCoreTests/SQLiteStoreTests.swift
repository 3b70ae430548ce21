import ChatCore
import Foundation
import GRDB
import Logging
import Synchronization
import Testing

@testable import ChatSQLite

/// A database written by the first schema opens under the current one with nothing lost.
@Suite struct SQLiteMigrationTests {
    @Test func v1DatabaseKeepsItsTimelineMessagesAndReceipts() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("migration-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let path = folder.appendingPathComponent("chat.sqlite").path

        // The v1 schema, and what a v1 server wrote for alice → bob ("m1" delivered, "m2" not)
        // and a group of three with one message.
        let v1 = try DatabaseQueue(path: path)
        try SQLiteSchema.migrator.migrate(v1, upTo: "v1")
        try await v1.write { db in
            for user in ["alice", "bob", "carol"] {
                try db.execute(sql: "INSERT INTO users (id, name, created_at) VALUES (?, ?, 1)", arguments: [user, user.capitalized])
            }
            try db.execute(sql: """
                UPDATE users SET last_seq = 3, acked_seq = 1 WHERE id = 'bob';
                UPDATE users SET last_seq = 2, acked_seq = 0 WHERE id = 'alice';
                UPDATE users SET last_seq = 1 WHERE id = 'carol';
                INSERT INTO conversations (id, last_pos) VALUES ('dm:alice:bob', 2);
                INSERT INTO conversations (id, last_pos, name, owner) VALUES ('grp:g1', 1, 'Trio', 'alice');
                INSERT INTO members (conversation, user, updated_at, unread) VALUES
                    ('dm:alice:bob', 'alice', 20, 0), ('dm:alice:bob', 'bob', 20, 2),
                    ('grp:g1', 'alice', 30, 0), ('grp:g1', 'bob', 30, 1), ('grp:g1', 'carol', 30, 1);
                INSERT INTO messages (conversation, pos, client_id, sender, recipient, group_id, body, ts) VALUES
                    ('dm:alice:bob', 1, 'm1', 'alice', 'bob', NULL, 'one', 10),
                    ('dm:alice:bob', 2, 'm2', 'alice', 'bob', NULL, 'two', 20),
                    ('grp:g1', 1, 'g1', 'alice', NULL, 'g1', 'hi all', 30);
                INSERT INTO timeline (user, seq, event, payload, ts, conversation, pos) VALUES
                    ('bob', 1, 'message', '{"id":"m1"}', 10, 'dm:alice:bob', 1),
                    ('bob', 2, 'message', '{"id":"m2"}', 20, 'dm:alice:bob', 2),
                    ('alice', 1, 'receipt', '{"ids":["m1"]}', 15, NULL, NULL),
                    ('bob', 3, 'message', '{"id":"g1"}', 30, 'grp:g1', 1),
                    ('carol', 1, 'message', '{"id":"g1"}', 30, 'grp:g1', 1),
                    ('alice', 2, 'group', '{"change":"created"}', 25, NULL, NULL);
                INSERT INTO deliveries (conversation, pos, user, ts) VALUES ('dm:alice:bob', 1, 'bob', 15);
                """)
        }
        try v1.close()

        let store = try SQLiteChatStore(path: path)
        let alice = UserID("alice")!, bob = UserID("bob")!, carol = UserID("carol")!
        #expect(try await store.timeline(of: bob, after: 0, limit: 10).map(\.seq) == [1, 2, 3])
        #expect(try await store.timeline(of: bob, after: 1, limit: 10).map(\.event) == ["message", "message"])
        #expect(try await store.timeline(of: alice, after: 0, limit: 10).map(\.event) == ["receipt", "group"])
        #expect(try await store.timelineHead(of: bob) == TimelineHead(latest: 3, acked: 1))
        let page = try await store.history(of: .direct(alice, bob), before: nil, limit: 10)
        #expect(page.messages.map(\.message.id) == ["m1", "m2"])
        #expect(page.messages.map(\.delivered) == [[bob], []])

        // The indexes the new schema relies on are there: an ack of "m2" delivers it (timeline →
        // message lookup), a resend of "m1" is idempotent, and positions go on from 2.
        let entries = try await store.acknowledge([UserAcks(user: bob, seqs: [2])], at: 40) { delivered in
            Array(#"{"ids":["\#(delivered.ids.joined(separator: "\",\""))"]}"#.utf8)
        }
        #expect(entries.map(\.user) == [alice] && entries.map(\.seq) == [3])
        #expect(try await store.history(of: .direct(alice, bob), before: nil, limit: 10).messages.map(\.delivered) == [[bob], [bob]])
        #expect(try await store.acknowledge([UserAcks(user: bob, seqs: [1, 2])], at: 41) { _ in [] }.isEmpty)
        let resend = MessageDraft(id: "m1", conversation: .direct(alice, bob), from: alice, to: bob, group: nil, body: "one", ts: 50)
        guard case .existing(let original) = try await store.appendMessage(resend, encode: { _ in [] }) else {
            Issue.record("a resend of m1 made a new message")
            return
        }
        #expect(original.pos == 1 && original.body == "one")
        let next = MessageDraft(id: "m3", conversation: .direct(alice, bob), from: alice, to: bob, group: nil, body: "three", ts: 60)
        guard case .created(let created, let newEntries) = try await store.appendMessage(next, encode: { _ in Array("{}".utf8) }) else {
            Issue.record("m3 was not created")
            return
        }
        #expect(created.pos == 3 && newEntries.map(\.seq) == [4])
        // A group read still resolves its ids (the read lookup is partial now).
        let read = try await store.markRead(reader: carol, conversation: .group(GroupID("g1")!), ids: ["g1"], at: 70,
                                            delivered: { _ in Array("{}".utf8) }) { sender, ids in
            Array(#"{"ids":["\#(ids.joined())"],"to":"\#(sender)"}"#.utf8)
        }
        // Carol had not acked it: delivered, then read, both to alice.
        #expect(read.map(\.user) == [alice, alice])
    }
}

/// Retention on SQLite deletes a prefix of the timeline in rowid order, a chunk per operation.
@Suite struct SQLitePruningTests {
    @Test func pruningTakesEachUsersOldestEntriesInChunks() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("prune-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: folder) }
        let store = try SQLiteChatStore(path: folder.appendingPathComponent("chat.sqlite").path)
        // Two users' entries interleaved in time: 12,000 old ones (more than two chunks), then 10 new.
        let old = Int(SQLiteChatStore.pruneChunk) * 2 + 2_000
        try await store.pool.write { db in
            for i in 0..<(old + 10) {
                try db.execute(sql: "INSERT INTO timeline (user, seq, event, payload, ts) VALUES (?, ?, 'message', '{}', ?)",
                               arguments: [i % 2 == 0 ? "alice" : "bob", i / 2 + 1, i < old ? 1_000 : 5_000])
            }
        }
        try await store.pruneTimeline(before: 2_000)
        let alice = try await store.timeline(of: UserID("alice")!, after: 0, limit: 100)
        let bob = try await store.timeline(of: UserID("bob")!, after: 0, limit: 100)
        #expect(alice.map(\.seq) == Array(Int64(old / 2 + 1)...Int64(old / 2 + 5)))
        #expect(bob.map(\.seq) == Array(Int64(old / 2 + 1)...Int64(old / 2 + 5)))
        // Nothing left to prune, and an empty timeline prunes too.
        try await store.pruneTimeline(before: 2_000)
        #expect(try await store.timeline(of: UserID("alice")!, after: 0, limit: 100).count == 5)
        try await store.pruneTimeline(before: 10_000)
        #expect(try await store.timeline(of: UserID("bob")!, after: 0, limit: 100).isEmpty)
        try await store.pruneTimeline(before: 10_000)
    }
}

/// The SQLite store's checkpointer follows commits and sleeps while nothing is written.
@Suite struct SQLiteCheckpointTests {
    @Test func commitsCauseCheckpointsAndIdlenessDoesNot() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("checkpoint-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: folder) }
        let store = try SQLiteChatStore(path: folder.appendingPathComponent("chat.sqlite").path)
        let before = store.checkpoints
        for i in 0..<20 {
            _ = try await store.insertUser(User(id: UserID("user\(i)")!, name: "U\(i)"), passwordHash: nil, at: 1)
        }
        let deadline = ContinuousClock.now + .seconds(5)
        while store.checkpoints == before, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(10)) }
        #expect(store.checkpoints > before)
        // Let the last ask be served (at most one is pending after the last commit; on a busy
        // machine it can take several intervals), then nothing more while idle.
        var settled = store.checkpoints
        let settleDeadline = ContinuousClock.now + .seconds(5)
        repeat {
            settled = store.checkpoints
            try await Task.sleep(for: SQLiteChatStore.checkpointInterval * 4)
        } while store.checkpoints != settled && ContinuousClock.now < settleDeadline
        try await Task.sleep(for: .milliseconds(300))
        #expect(store.checkpoints == settled)
    }

    @Test func aLongWALIsCaughtUpOnTheWriterAndStartedOver() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("checkpoint-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: folder) }
        let store = try SQLiteChatStore(path: folder.appendingPathComponent("chat.sqlite").path, restartFrames: 8)
        // Commits without a pause, each a frame or more, until a catch-up has run.
        let deadline = ContinuousClock.now + .seconds(10)
        var i = 0
        while store.catchUpCheckpoints == 0, ContinuousClock.now < deadline {
            _ = try await store.insertUser(User(id: UserID("user\(i)")!, name: "U\(i)"), passwordHash: nil, at: 1)
            i += 1
        }
        #expect(store.catchUpCheckpoints > 0)
        // Everything was in the database after it, so the next commit started the WAL over: it
        // holds only what came after.
        _ = try await store.insertUser(User(id: UserID("last")!, name: "Last"), passwordHash: nil, at: 1)
        let frames = try await store.pool.writeWithoutTransaction { db in try db.checkpoint(.passive).walFrameCount }
        #expect(frames < i)
        #expect(try await store.user(UserID("user0")!)?.user.name == "U0")
    }

    @Test func syncingTheFilesWorksBeforeAndAfterTheWALIsOpen() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("sync-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let pool = try DatabasePool(path: folder.appendingPathComponent("chat.sqlite").path)
        try pool.writeWithoutTransaction { db in
            try SQLiteChatStore.syncFiles(db)
            try db.execute(sql: "CREATE TABLE t (x); INSERT INTO t VALUES (1)")
            try SQLiteChatStore.syncFiles(db)
            #expect(try db.checkpoint(.passive).walFrameCount > 0)
        }
        // A connection that has not opened the WAL yet syncs only the database.
        let other = try DatabaseQueue(path: folder.appendingPathComponent("other.sqlite").path)
        try other.writeWithoutTransaction { db in try SQLiteChatStore.syncFiles(db) }
    }

    @Test func theObserverHearsOfEveryBatchAndCheckpoint() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("observer-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: folder) }
        let batches = Mutex<[WriterBatch]>([])
        let checkpoints = Mutex<[Bool]>([])
        let observer = SQLiteStoreObserver(batch: { batch in batches.withLock { $0.append(batch) } },
                                           checkpoint: { onWriter, _ in checkpoints.withLock { $0.append(onWriter) } })
        let store = try SQLiteChatStore(path: folder.appendingPathComponent("chat.sqlite").path, restartFrames: 8, observer: observer)
        batches.withLock { $0 = [] } // the migration's

        // One operation holds the writer until the test lets go, 200 ms after three more queued
        // behind it (however late this task runs on a busy box); those three commit together.
        let done = AsyncStream.makeStream(of: Void.self)
        let holding = Atomic<Bool>(false)
        let release = DispatchSemaphore(value: 0)
        store.writer.submit({ _ in
            holding.store(true, ordering: .sequentiallyConsistent)
            release.wait()
        }, completion: { _ in done.continuation.yield() })
        while !holding.load(ordering: .sequentiallyConsistent) { try await Task.sleep(for: .milliseconds(1)) }
        for i in 0..<3 {
            store.writer.submit({ db in try db.execute(sql: "INSERT INTO users (id, name, created_at) VALUES (?, 'Q', 1)", arguments: ["q\(i)"]) },
                                completion: { _ in done.continuation.yield() })
        }
        try await Task.sleep(for: .milliseconds(200))
        release.signal()
        var iterator = done.stream.makeAsyncIterator()
        for _ in 0..<4 { await iterator.next() }
        // Alone in its batch, a failing operation fails by itself (the batch did not fail as a
        // whole), as it would among others.
        struct Failed: Error {}
        await #expect(throws: Failed.self) { try await store.writer.write { _ in throw Failed() } }
        // A COMMIT that fails (the operation ended the transaction behind the writer's back)
        // fails the batch as a whole.
        await #expect(throws: (any Error).self) { try await store.writer.write { db in try FastStatement(db, "ROLLBACK").execute() } }
        let seen = batches.withLock { $0 }
        #expect(seen.map(\.operations) == [1, 3, 1, 1])
        #expect(seen.map(\.failed) == [false, false, false, true])
        #expect(seen[0].duration >= .milliseconds(200))
        #expect(seen[1].oldestWait >= .milliseconds(150))

        // Both kinds of checkpoint are reported: the checkpointer's, and the catch-up of a long WAL.
        let deadline = ContinuousClock.now + .seconds(10)
        var i = 0
        while checkpoints.withLock({ Set($0).count < 2 }), ContinuousClock.now < deadline {
            _ = try await store.insertUser(User(id: UserID("user\(i)")!, name: "U\(i)"), passwordHash: nil, at: 1)
            i += 1
        }
        #expect(checkpoints.withLock { Set($0) } == [false, true])
    }
}

/// The writer's in-memory seq and pos counters (schema v6) hand out what the database would:
/// gap-free after rollbacks, after pruning a user's newest entries, and after a restart.
@Suite struct SQLiteCounterTests {
    let alice = UserID("alice")!, bob = UserID("bob")!

    private func send(_ store: SQLiteChatStore, _ id: String, ts: Int64 = 10) async throws -> (pos: Int64, seqs: [Int64]) {
        let draft = MessageDraft(id: id, conversation: .direct(alice, bob), from: alice, to: bob, group: nil, body: id, ts: ts)
        guard case .created(let message, let entries) = try await store.appendMessage(draft, encode: { _ in Array("{}".utf8) }) else {
            throw CounterTestFailure(description: "\(id) was not created")
        }
        return (message.pos, entries.map(\.seq))
    }

    private func makeStore(_ path: String) async throws -> SQLiteChatStore {
        let store = try SQLiteChatStore(path: path)
        for user in [alice, bob] {
            _ = try await store.insertUser(User(id: user, name: user.rawValue), passwordHash: nil, at: 1)
        }
        return store
    }

    @Test func rolledBackOperationsLeaveNoGaps() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("counters-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: folder) }
        let store = try await makeStore(folder.appendingPathComponent("chat.sqlite").path)
        #expect(try await send(store, "m1") == (1, [1]))

        // Alone in its transaction: an operation takes bob's next seq and the conversation's next
        // pos, then fails.
        struct Failed: Error {}
        let conversation = ConversationID.direct(alice, bob).rawValue
        await #expect(throws: Failed.self) {
            try await store.writer.write { db in
                _ = try store.memory.nextSeq(db, of: "bob")
                _ = try store.memory.nextPosition(db, in: conversation)
                throw Failed()
            }
        }
        #expect(try await send(store, "m2") == (2, [2]))

        // In one batch with others (the first holds the writer so the rest queue behind it): the
        // failing one rolls back alone, the ones after it count on from what survived.
        let results = Mutex<[String: Result<(Int64, [Int64]), any Error>]>([:])
        let done = AsyncStream.makeStream(of: Void.self)
        store.writer.submit({ _ in Thread.sleep(forTimeInterval: 0.2) }, completion: { _ in })
        func submit(_ id: String, fail: Bool) {
            let draft = MessageDraft(id: id, conversation: .direct(alice, bob), from: alice, to: bob, group: nil, body: id, ts: 20)
            store.writer.submit({ [memory = store.memory] db -> (Int64, [Int64]) in
                if fail {
                    _ = try memory.nextSeq(db, of: "bob")
                    _ = try memory.nextPosition(db, in: conversation)
                    throw Failed()
                }
                let outcome = try SQLiteChatStore.appendMessage(db, memory, draft) { _ in Array("{}".utf8) }
                guard case .created(let message, let entries) = outcome else { throw Failed() }
                return (message.pos, entries.map(\.seq))
            }, completion: { result in
                results.withLock { $0[id] = result }
                done.continuation.yield()
            })
        }
        submit("m3", fail: false)
        submit("bad", fail: true)
        submit("m4", fail: false)
        var iterator = done.stream.makeAsyncIterator()
        for _ in 0..<3 { await iterator.next() }
        let m3 = try results.withLock { try $0["m3"]!.get() }
        let m4 = try results.withLock { try $0["m4"]!.get() }
        #expect(m3 == (3, [3]) && m4 == (4, [4]))
        #expect(results.withLock { (try? $0["bad"]!.get()) == nil })
        #expect(try await store.timeline(of: bob, after: 0, limit: 10).map(\.seq) == [1, 2, 3, 4])
        #expect(try await store.history(of: .direct(alice, bob), before: nil, limit: 10).messages.map(\.message.pos) == [1, 2, 3, 4])
        #expect(try await store.timelineHead(of: bob).latest == 4)
    }

    /// A resend is found by its insert failing on the idempotency index: in the middle of one
    /// batch, it writes nothing and hands back the original, and the seq and pos it was given
    /// are taken by the next message, not skipped.
    @Test func aResendInABatchTakesNoSeqOrPos() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("counters-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: folder) }
        let store = try await makeStore(folder.appendingPathComponent("chat.sqlite").path)
        #expect(try await send(store, "m1") == (1, [1]))
        let transactionsBefore = store.writer.transactions
        let outcomes = Mutex<[String: Result<AppendOutcome, any Error>]>([:])
        let done = AsyncStream.makeStream(of: Void.self)
        // A job holds the writer, so that the three queue behind it into one batch of their own.
        let holding = AsyncStream.makeStream(of: Void.self)
        store.writer.submit({ _ in
            holding.continuation.yield()
            Thread.sleep(forTimeInterval: 0.2)
        }, completion: { _ in })
        var held = holding.stream.makeAsyncIterator()
        await held.next()
        for (key, id) in [("m2", "m2"), ("resend", "m1"), ("m3", "m3")] {
            let draft = MessageDraft(id: id, conversation: .direct(alice, bob), from: alice, to: bob, group: nil, body: id, ts: 20)
            store.submitAppendMessageNow(draft, encode: { _ in Array("{}".utf8) }) { result in
                outcomes.withLock { $0[key] = result }
                done.continuation.yield()
            }
        }
        var iterator = done.stream.makeAsyncIterator()
        for _ in 0..<3 { await iterator.next() }
        // The holding job's and the batch's: the resend did not fail the batch (a rerun in
        // savepoints would be a third).
        #expect(store.writer.transactions - transactionsBefore == 2)
        let (m2, resend, m3) = try outcomes.withLock { ($0["m2"]!, try $0["resend"]!.get(), $0["m3"]!) }
        guard case .existing(let original) = resend else {
            Issue.record("the resend of m1 made a new message: \(resend)")
            return
        }
        #expect(original.pos == 1 && original.body == "m1" && original.ts == 10)
        for (result, pos) in [(m2, Int64(2)), (m3, 3)] {
            guard case .created(let message, let entries) = try result.get() else {
                Issue.record("message \(pos) was not created")
                continue
            }
            #expect(message.pos == pos && entries.map(\.seq) == [pos])
        }
        #expect(try await store.timeline(of: bob, after: 0, limit: 10).map(\.seq) == [1, 2, 3])
        #expect(try await store.history(of: .direct(alice, bob), before: nil, limit: 10).messages.map(\.message.id) == ["m1", "m2", "m3"])
    }

    @Test func seqsGoOnAfterPruningAndRestart() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("counters-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: folder) }
        let path = folder.appendingPathComponent("chat.sqlite").path
        do {
            let store = try await makeStore(path)
            for i in 1...3 { _ = try await send(store, "m\(i)", ts: 1_000) }
            // Every one of bob's entries is older than the cut: his timeline is empty after it.
            try await store.pruneTimeline(before: 2_000)
            #expect(try await store.timeline(of: bob, after: 0, limit: 10).isEmpty)
            #expect(try await store.timelineHead(of: bob).latest == 3)
            #expect(try await send(store, "m4", ts: 3_000) == (4, [4]))
            try await store.pruneTimeline(before: 4_000)
        }
        // A new process: the memory start from the database (floor and indexes) again.
        let reopened = try SQLiteChatStore(path: path)
        #expect(try await reopened.timelineHead(of: bob).latest == 4)
        #expect(try await send(reopened, "m5", ts: 5_000) == (5, [5]))
        #expect(try await reopened.timeline(of: bob, after: 0, limit: 10).map(\.seq) == [5])
        // The call log finds the last message by the highest pos.
        #expect(try await reopened.conversations(of: alice).first?.last?.id == "m5")
    }
}

/// Acks of entries the writer remembers (appended since it started) and of entries it does not
/// (appended before a restart) record the same deliveries and receipts.
@Suite struct SQLiteRememberedEntryTests {
    @Test func acksDeliverWhetherTheEntryIsRememberedOrLookedUp() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("remembered-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: folder) }
        let path = folder.appendingPathComponent("chat.sqlite").path
        let alice = UserID("alice")!, bob = UserID("bob")!, carol = UserID("carol")!
        let receipt: PayloadEncoder<DeliveredMessages> = { Array("\($0.conversation.rawValue) \($0.ids) \($0.recipient)".utf8) }
        func send(_ store: SQLiteChatStore, _ id: String, to: UserID? = nil, group: GroupID? = nil) async throws {
            let conversation = group.map(ConversationID.group) ?? .direct(alice, to!)
            let draft = MessageDraft(id: id, conversation: conversation, from: alice, to: to, group: group, body: id, ts: 10)
            _ = try await store.appendMessage(draft, encode: { _ in Array("{}".utf8) })
        }
        let g = GroupID("g1")!
        do {
            let store = try SQLiteChatStore(path: path)
            for user in [alice, bob, carol] { _ = try await store.insertUser(User(id: user, name: user.rawValue), passwordHash: nil, at: 1) }
            _ = try await store.createGroup(Group(id: g, name: "G", owner: alice, members: [alice, bob, carol]), at: 5, event: Array("{}".utf8))
            try await send(store, "d1", to: bob)
            try await send(store, "d2", to: bob)
            try await send(store, "g1", group: g)
            // Bob's timeline: group (1), d1 (2), d2 (3), g1 (4). Remembered: d1, d2, g1.
            let entries = try await store.acknowledge([UserAcks(user: bob, seqs: [2, 4])], at: 20, receipt: receipt)
            #expect(entries.map { String(decoding: $0.payload, as: UTF8.self) }.sorted() == ["dm:alice:bob [\"d1\"] bob", "grp:g1 [\"g1\"] bob"])
            // Once delivered, an ack again records nothing.
            #expect(try await store.acknowledge([UserAcks(user: bob, seqs: [2])], at: 21, receipt: receipt).isEmpty)
        }
        // A new process remembers nothing: d2 and carol's g1 are looked up.
        let reopened = try SQLiteChatStore(path: path)
        let later = try await reopened.acknowledge([UserAcks(user: bob, seqs: [3]), UserAcks(user: carol, seqs: [2])], at: 30, receipt: receipt)
        #expect(later.map { String(decoding: $0.payload, as: UTF8.self) } == ["dm:alice:bob [\"d2\"] bob", "grp:g1 [\"g1\"] carol"])
        let direct = try await reopened.history(of: .direct(alice, bob), before: nil, limit: 10)
        #expect(direct.messages.map(\.delivered) == [[bob], [bob]])
        let group = try await reopened.history(of: .group(g), before: nil, limit: 10)
        #expect(group.messages.map(\.delivered) == [[bob, carol]])
    }
}

private struct CounterTestFailure: Error, CustomStringConvertible {
    let description: String
}

/// Names and bodies stored before U+0000 was refused in them read back whole: GRDB decodes a
/// text value up to its first U+0000, so the reads select them as blobs.
@Suite struct SQLiteWholeTextTests {
    @Test func textHoldingUPlus0000ReadsWhole() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("whole-text-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: folder) }
        let store = try SQLiteChatStore(path: folder.appendingPathComponent("chat.sqlite").path)
        let alice = UserID("alice")!, bob = UserID("bob")!, team = GroupID("team01")!
        for user in [alice, bob] {
            _ = try await store.insertUser(User(id: user, name: user.rawValue), passwordHash: nil, at: 1)
        }
        let draft = MessageDraft(id: "m1", conversation: .direct(alice, bob), from: alice, to: bob, group: nil, body: "plain", ts: 10)
        _ = try await store.appendMessage(draft, encode: { _ in Array("{}".utf8) })
        _ = try await store.createGroup(Group(id: team, name: "team", owner: alice, members: [alice, bob]), at: 20, event: Array("{}".utf8))
        // What a version from before the check could store.
        try await store.pool.write { db in
            try db.execute(sql: """
                UPDATE users SET name = 'Al' || char(0) || 'ice' WHERE id = 'alice';
                UPDATE users SET name = 'Bo' || char(0) || 'b' WHERE id = 'bob';
                UPDATE messages SET body = 'before' || char(0) || 'after' WHERE client_id = 'm1';
                UPDATE conversations SET name = 'te' || char(0) || 'am' WHERE id = 'grp:team01';
                """)
        }
        #expect(try await store.user(alice)?.user.name == "Al\u{0}ice")
        #expect(try await store.users(withPrefix: "b", limit: 5).map(\.user.name) == ["Bo\u{0}b"])
        #expect(try await store.history(of: .direct(alice, bob), before: nil, limit: 10).messages.map(\.message.body) == ["before\u{0}after"])
        #expect(try await store.group(team)?.name == "te\u{0}am")
        let log = try await store.conversations(of: bob)
        #expect(Set(log.map(\.title)) == ["Al\u{0}ice", "te\u{0}am"])
        #expect(log.first { $0.kind == .dm }?.last?.body == "before\u{0}after")
        // The resend's answer is read through `FastStatement`, from the same column list.
        guard case .existing(let original) = try await store.appendMessage(draft, encode: { _ in [] }) else {
            Issue.record("the resend of m1 made a new message")
            return
        }
        #expect(original.body == "before\u{0}after")
    }
}

@Suite struct SQLiteGroupPayloadTests {
    /// A group message is stored once: the members' entries refer to it and read it back whole,
    /// the same bytes the live delivery carried. Entries written with a copy still read as they were.
    @Test func groupMessagesAreStoredOnceAndReplayedWhole() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("group-payload-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: folder) }
        let store = try SQLiteChatStore(path: folder.appendingPathComponent("chat.sqlite").path)
        let service = ChatService(store: store, broker: InProcessBroker(), logger: Logger(label: "test"))
        let users = ["alice", "bob", "carol"].map(uid)
        for user in users { _ = try await service.createUser(id: user, name: user.rawValue, passwordHash: nil) }
        let group = try await service.createGroup(by: users[0], name: "g", members: [users[1], users[2]])
        let body = String(repeating: "😀", count: 4000)
        let sent = try await service.send(from: users[0], SendRequest(id: "big", group: group.id, body: body))
        let dm = try await service.send(from: users[0], SendRequest(id: "dm", to: users[1], body: "hi"))
        let sizes = try await store.pool.read { db in
            try Int.fetchAll(db, sql: "SELECT length(payload) FROM timeline WHERE event = 'message' AND conversation = ? ORDER BY user",
                             arguments: [sent.conversation.rawValue])
        }
        #expect(sizes == [0, 0])
        for member in users[1...] {
            let entries = try await store.timeline(of: member, after: 0, limit: 10).filter { $0.event == "message" }
            #expect(entries.first?.payload == JSONPayload.message(sent))
        }
        #expect(try await store.timeline(of: users[1], after: 0, limit: 10).last?.payload == JSONPayload.message(dm))
        // A row from before, holding its copy, reads as it was.
        try await store.pool.write { db in
            try db.execute(sql: "UPDATE timeline SET payload = ? WHERE user = 'carol' AND event = 'message'",
                           arguments: [Data(JSONPayload.message(sent))])
        }
        #expect(try await store.timeline(of: users[2], after: 0, limit: 10).last?.payload == JSONPayload.message(sent))
    }
}

@Suite struct SQLiteGroupEventPayloadTests {
    /// A group event is stored once (schema v7): every member's entry names the one payload and
    /// replays its bytes; rows from before, holding a copy, read as they were.
    @Test func groupEventsAreStoredOnceAndReplayedWhole() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("group-event-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: folder) }
        let store = try SQLiteChatStore(path: folder.appendingPathComponent("chat.sqlite").path)
        let alice = uid("alice"), bob = uid("bob"), carol = uid("carol"), dave = uid("dave")
        for user in [alice, bob, carol, dave] { _ = try await store.insertUser(User(id: user, name: user.rawValue), passwordHash: nil, at: 1) }
        let g = GroupID("g1")!
        let created = Array(#"{"change":"created"}"#.utf8)
        let entries = try await store.createGroup(Group(id: g, name: "G", owner: alice, members: [alice, bob, carol]), at: 5, event: created)
        #expect(entries.map(\.user) == [alice, bob, carol] && entries.allSatisfy { $0.payload == created })
        let (_, joined) = try await store.addMembers([dave], to: g, by: alice, at: 6, limit: 10) { group, added in
            Array(#"{"change":"joined","users":["\#(added[0])"],"members":\#(group.members.count)}"#.utf8)
        }
        #expect(joined.map(\.user) == [alice, bob, carol, dave])
        let left = try await store.removeMember(carol, from: g, by: carol, at: 7) { group in
            Array(#"{"change":"left","members":\#(group.members.count)}"#.utf8)
        }
        #expect(left.map(\.user) == [alice, bob, dave, carol])

        let (payloads, sizes) = try await store.pool.read { db in
            (try Int.fetchOne(db, sql: "SELECT count(*) FROM shared_payloads"),
             try Int.fetchAll(db, sql: "SELECT length(payload) FROM timeline WHERE event = 'group'"))
        }
        #expect(payloads == 3)
        #expect(sizes == Array(repeating: 0, count: 11))
        let text = { (entries: [TimelineEntry]) in entries.map { String(decoding: $0.payload, as: UTF8.self) } }
        #expect(try await text(store.timeline(of: bob, after: 0, limit: 10)) == [
            #"{"change":"created"}"#, #"{"change":"joined","users":["dave"],"members":4}"#, #"{"change":"left","members":3}"#,
        ])
        #expect(try await text(store.timeline(of: carol, after: 1, limit: 10)) == [
            #"{"change":"joined","users":["dave"],"members":4}"#, #"{"change":"left","members":3}"#,
        ])
        #expect(try await store.timeline(of: dave, after: 0, limit: 10).map(\.seq) == [1, 2])

        // A row from before v7, holding its copy, reads as it was.
        try await store.pool.write { db in
            try db.execute(sql: "UPDATE timeline SET payload = ?, shared = NULL WHERE user = 'alice' AND seq = 1", arguments: [Data("old".utf8)])
        }
        #expect(try await text(store.timeline(of: alice, after: 0, limit: 1)) == ["old"])
    }

    /// Pruning deletes a group event's payload with the last entry naming it, and keeps the
    /// payloads of the entries left.
    @Test func pruningKeepsOnlyThePayloadsStillNamed() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("group-event-prune-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: folder) }
        let store = try SQLiteChatStore(path: folder.appendingPathComponent("chat.sqlite").path)
        let alice = uid("alice"), bob = uid("bob")
        for user in [alice, bob] { _ = try await store.insertUser(User(id: user, name: user.rawValue), passwordHash: nil, at: 1) }
        let payloadCount = { try await store.pool.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM shared_payloads") } }
        for (i, ts) in [Int64(1_000), 1_000, 3_000].enumerated() {
            let group = Group(id: GroupID("g\(i)")!, name: "G\(i)", owner: alice, members: [alice, bob])
            _ = try await store.createGroup(group, at: ts, event: Array("event \(i)".utf8))
        }
        // An entry naming no shared payload (someone else's receipt), after the events in rowid order.
        _ = try await store.pool.write { db in
            try db.execute(sql: "INSERT INTO timeline (user, seq, event, payload, ts) VALUES ('carol', 1, 'receipt', '{}', 2000)")
        }
        #expect(try await payloadCount() == 3)
        try await store.pruneTimeline(before: 2_000)
        #expect(try await payloadCount() == 1)
        #expect(try await store.timeline(of: bob, after: 0, limit: 10).map { String(decoding: $0.payload, as: UTF8.self) } == ["event 2"])
        try await store.pruneTimeline(before: 2_500)
        #expect(try await payloadCount() == 1)
        try await store.pruneTimeline(before: 5_000)
        #expect(try await payloadCount() == 0)
        // The next event's payload is stored and read back as before.
        _ = try await store.createGroup(Group(id: GroupID("g9")!, name: "G9", owner: bob, members: [bob, alice]), at: 6_000,
                                       event: Array("event 9".utf8))
        #expect(try await store.timeline(of: alice, after: 0, limit: 10).map { String(decoding: $0.payload, as: UTF8.self) } == ["event 9"])
        #expect(try await payloadCount() == 1)
    }
}
