import ChatCore
import Testing

@Suite struct GroupContractTests {
    @Test(arguments: StoreKind.allCases)
    func lifecycleAndPermissions(kind: StoreKind) async throws {
        let f = try await Fixture(kind)
        let u = try await f.users("alice", "bob", "carol", "dave", "erin")
        let (alice, bob, carol, dave, erin) = (u[0], u[1], u[2], u[3], u[4])
        let group = try await f.service.createGroup(by: alice, name: "Team", members: [bob, bob, alice])
        #expect(group.owner == alice && group.members == [alice, bob] && group.name == "Team")
        let created = try #require(try await f.events(bob, "group").first)
        #expect(Set(created.keys) == ["seq", "conversation", "change", "group", "users", "by", "ts"])
        #expect(created["change"] as? String == "created" && created["users"] as? [String] == ["alice", "bob"])
        #expect((created["group"] as? [String: Any])?["members"] as? [String] == ["alice", "bob"])

        // Outsiders can neither see, post, invite, read nor remove.
        await expectError(.notFound) { try await f.service.group(group.id, viewer: carol) }
        await expectError(.forbidden) { try await f.service.send(from: carol, SendRequest(id: "x", group: group.id, body: "hi")) }
        await expectError(.notFound) { try await f.service.invite(by: carol, group: group.id, members: [dave]) }
        await expectError(.notFound) { try await f.service.history(of: .group(group.id), viewer: carol, before: nil, limit: 10) }
        await expectError(.notFound) { try await f.service.removeMember(by: carol, group: group.id, member: bob) }
        await expectError(.notFound) { try await f.service.invite(by: bob, group: group.id, members: [uid("nobody")]) }

        // Any member may invite; the joined event reaches old and new members.
        let grown = try await f.service.invite(by: bob, group: group.id, members: [carol, dave, alice])
        #expect(grown.members == [alice, bob, carol, dave])
        for member in grown.members {
            let joined = try #require(try await f.events(member, "group").last)
            #expect(joined["change"] as? String == "joined" && joined["users"] as? [String] == ["carol", "dave"] && joined["by"] as? String == "bob")
        }

        // Fan-out: every member but the sender.
        _ = try await f.service.send(from: carol, SendRequest(id: "c1", group: group.id, body: "hello"))
        for member in [alice, bob, dave] { #expect(try await f.events(member, "message").count == 1) }
        #expect(try await f.events(carol, "message").isEmpty)
        let message = try #require(try await f.events(dave, "message").first)
        #expect(message["group"] as? String == group.id.rawValue && message["to"] == nil)

        // Only the owner removes others; anyone may leave.
        await expectError(.forbidden) { try await f.service.removeMember(by: bob, group: group.id, member: carol) }
        try await f.service.removeMember(by: alice, group: group.id, member: carol)
        try await f.service.removeMember(by: dave, group: group.id, member: dave)
        let left = try #require(try await f.events(dave, "group").last)
        #expect(left["change"] as? String == "left" && left["users"] as? [String] == ["dave"])
        #expect((left["group"] as? [String: Any])?["members"] as? [String] == ["alice", "bob"])
        #expect(try await f.events(carol, "group").last?["by"] as? String == "alice")
        #expect(try await f.service.group(group.id, viewer: bob).members == [alice, bob])
        await expectError(.forbidden) { try await f.service.send(from: dave, SendRequest(id: "d1", group: group.id, body: "back?")) }
        await expectError(.notFound) { try await f.service.history(of: .group(group.id), viewer: carol, before: nil, limit: 10) }
        await expectError(.notFound) { try await f.service.removeMember(by: alice, group: group.id, member: erin) }
        #expect(try await f.service.conversations(of: carol).isEmpty)

        // The owner leaving hands the group to the longest-standing member, who may then remove.
        _ = try await f.service.invite(by: bob, group: group.id, members: [carol])
        try await f.service.removeMember(by: alice, group: group.id, member: alice)
        let handed = try await f.service.group(group.id, viewer: bob)
        #expect(handed.owner == bob && handed.members == [bob, carol])
        #expect(((try await f.events(carol, "group").last)?["group"] as? [String: Any])?["owner"] as? String == "bob")
        try await f.service.removeMember(by: bob, group: group.id, member: carol)
        #expect(try await f.service.group(group.id, viewer: bob).members == [bob])
    }

    /// The service checks who acts on a read before the write; a member removed in between
    /// must not act on that stale read. Each store checks again on the group its write finds:
    /// here the store is called as a request that read the group before the removal would.
    @Test(arguments: StoreKind.allCases)
    func storesCheckTheActorOnTheGroupTheyWrite(kind: StoreKind) async throws {
        let f = try await Fixture(kind)
        let u = try await f.users("alice", "bob", "carol", "dave")
        let (alice, bob, carol, dave) = (u[0], u[1], u[2], u[3])
        let group = try await f.service.createGroup(by: alice, name: "Team", members: [bob, carol])
        try await f.service.removeMember(by: alice, group: group.id, member: carol)
        let ignore: PayloadEncoder<(Group, [UserID])> = { _ in [] }
        await expectError(.notFound) { try await f.store.addMembers([dave], to: group.id, by: carol, at: 1, limit: 100, event: ignore) }
        await expectError(.notFound) { try await f.store.removeMember(bob, from: group.id, by: carol, at: 1) { _ in [] } }
        // The owner who left removes nobody; the remaining member still may not remove others.
        try await f.service.removeMember(by: alice, group: group.id, member: alice)
        await expectError(.notFound) { try await f.store.removeMember(bob, from: group.id, by: alice, at: 1) { _ in [] } }
        _ = try await f.service.invite(by: bob, group: group.id, members: [carol])
        await expectError(.forbidden) { try await f.store.removeMember(bob, from: group.id, by: carol, at: 1) { _ in [] } }
        #expect(try await f.service.group(group.id, viewer: bob).members == [bob, carol])
        #expect(try await f.events(dave, "group").isEmpty)
    }

    @Test(arguments: StoreKind.allCases)
    func memberLimit(kind: StoreKind) async throws {
        let f = try await Fixture(kind, configuration: ChatConfiguration(maxGroupMembers: 3, maxGroupNameChars: 5))
        let u = try await f.users("alice", "bob", "carol", "dave")
        await expectError(.tooLarge) { try await f.service.createGroup(by: u[0], name: "big", members: [u[1], u[2], u[3]]) }
        await expectError(.badRequest) { try await f.service.createGroup(by: u[0], name: "toolong", members: []) }
        await expectError(.notFound) { try await f.service.createGroup(by: u[0], name: "g", members: [uid("ghost")]) }
        let group = try await f.service.createGroup(by: u[0], name: "g", members: [u[1]])
        _ = try await f.service.invite(by: u[0], group: group.id, members: [u[2]])
        await expectError(.tooLarge) { try await f.service.invite(by: u[0], group: group.id, members: [u[3]]) }
    }
}
