import ChatCore
import Logging
import Synchronization
import Testing

/// A store that runs `hook` once, inside the first `timelineHead` that follows a `timeline` read
/// that found nothing: an entry committed just there lands between a replay's two reads.
private final class RacingStore: ChatStore {
    let inner = InMemoryChatStore()
    private let lastReadWasEmpty = Atomic<Bool>(false)
    private let hook = Mutex<(@Sendable () async throws -> Void)?>(nil)

    /// Runs `hook` in the first `timelineHead` after the next `timeline` read that finds nothing.
    func arm(_ hook: @escaping @Sendable () async throws -> Void) {
        lastReadWasEmpty.store(false, ordering: .sequentiallyConsistent)
        self.hook.withLock { $0 = hook }
    }

    func timeline(of user: UserID, after seq: Int64, limit: Int) async throws -> [TimelineEntry] {
        let page = try await inner.timeline(of: user, after: seq, limit: limit)
        lastReadWasEmpty.store(page.isEmpty, ordering: .sequentiallyConsistent)
        return page
    }

    func timelineHead(of user: UserID) async throws -> TimelineHead {
        if lastReadWasEmpty.load(ordering: .sequentiallyConsistent), let hook = self.hook.withLock({ $0.take() }) { try await hook() }
        return try await inner.timelineHead(of: user)
    }

    func insertUser(_ user: User, passwordHash: String?, at ts: Int64) async throws -> Bool {
        try await inner.insertUser(user, passwordHash: passwordHash, at: ts)
    }
    func user(_ id: UserID) async throws -> StoredUser? { try await inner.user(id) }
    func existingUsers(_ ids: [UserID]) async throws -> Set<UserID> { try await inner.existingUsers(ids) }
    func users(withPrefix prefix: String, limit: Int) async throws -> [StoredUser] { try await inner.users(withPrefix: prefix, limit: limit) }
    func renameUser(_ id: UserID, to name: String) async throws -> User? { try await inner.renameUser(id, to: name) }
    func setLastSeen(_ id: UserID, at ts: Int64) async throws { try await inner.setLastSeen(id, at: ts) }
    func insertToken(hash: String, user: UserID, expiresAt: Int64) async throws { try await inner.insertToken(hash: hash, user: user, expiresAt: expiresAt) }
    func tokenOwner(hash: String, now: Int64) async throws -> UserID? { try await inner.tokenOwner(hash: hash, now: now) }
    func revokeToken(hash: String) async throws { try await inner.revokeToken(hash: hash) }
    func appendMessage(_ draft: MessageDraft, encode: @escaping PayloadEncoder<Message>) async throws -> AppendOutcome {
        try await inner.appendMessage(draft, encode: encode)
    }
    func acknowledge(_ acks: [UserAcks], at ts: Int64, receipt: @escaping PayloadEncoder<DeliveredMessages>) async throws -> [TimelineEntry] {
        try await inner.acknowledge(acks, at: ts, receipt: receipt)
    }
    func markRead(reader: UserID, conversation: ConversationID, ids: [String], at ts: Int64,
                  delivered: @escaping PayloadEncoder<DeliveredMessages>, receipt: @escaping PayloadEncoder<(UserID, [String])>) async throws -> [TimelineEntry] {
        try await inner.markRead(reader: reader, conversation: conversation, ids: ids, at: ts, delivered: delivered, receipt: receipt)
    }
    func createGroup(_ group: Group, at ts: Int64, event: [UInt8]) async throws -> [TimelineEntry] { try await inner.createGroup(group, at: ts, event: event) }
    func addMembers(_ members: [UserID], to group: GroupID, by: UserID, at ts: Int64, limit: Int,
                    event: @escaping PayloadEncoder<(Group, [UserID])>) async throws -> (Group, [TimelineEntry]) {
        try await inner.addMembers(members, to: group, by: by, at: ts, limit: limit, event: event)
    }
    func removeMember(_ member: UserID, from group: GroupID, by: UserID, at ts: Int64, event: @escaping PayloadEncoder<Group>) async throws -> [TimelineEntry] {
        try await inner.removeMember(member, from: group, by: by, at: ts, event: event)
    }
    func group(_ id: GroupID) async throws -> Group? { try await inner.group(id) }
    func contacts(of user: UserID) async throws -> [UserID] { try await inner.contacts(of: user) }
    func conversations(of user: UserID) async throws -> [ConversationSummary] { try await inner.conversations(of: user) }
    func history(of conversation: ConversationID, before: Int64?, limit: Int) async throws -> HistoryPage {
        try await inner.history(of: conversation, before: before, limit: limit)
    }
    func pruneTimeline(before ts: Int64) async throws { try await inner.pruneTimeline(before: ts) }
}

@Suite struct ReplayRaceTests {
    /// Everything after `since` was pruned, and an entry is committed (and published) between the
    /// replay's empty read and its read of the head: it is replayed, not taken for pruned.
    @Test func anEntryCommittedBetweenTheReplaysReadsIsDelivered() async throws {
        let store = RacingStore()
        let clock = ManualClock()
        let service = ChatService(store: store, broker: InProcessBroker(), logger: Logger(label: "test"), clock: clock.function)
        let alice = uid("alice"), bob = uid("bob")
        for user in [alice, bob] { _ = try await service.createUser(id: user, name: user.rawValue, passwordHash: nil) }
        _ = try await service.send(from: alice, SendRequest(id: "old", to: bob, body: "pruned"))
        clock.advance(by: 1_000)
        try await store.pruneTimeline(before: clock.value)
        #expect(try await store.timeline(of: bob, after: 0, limit: 10).isEmpty)

        store.arm {
            _ = try await service.send(from: alice, SendRequest(id: "racing", to: bob, body: "in between"))
        }
        var reader = EndpointReader(try await service.openEndpoint(user: bob, since: 0))
        let replayed = try await reader.nextTimeline()
        #expect(replayed.seq == 2 && replayed.payload["body"] as? String == "in between")
        #expect(try await reader.next() == .synced(payload: Array(#"{"seq":2,"truncated":true}"#.utf8)))
    }
}
