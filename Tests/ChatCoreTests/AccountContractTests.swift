import ChatCore
import Foundation
import Testing

@Suite struct AccountContractTests {
    @Test(arguments: StoreKind.allCases)
    func createConflictSearchRename(kind: StoreKind) async throws {
        let f = try await Fixture(kind)
        let alice = try await f.service.createUser(id: uid("alice"), name: "Alice", passwordHash: "h1")
        #expect(alice == User(id: uid("alice"), name: "Alice"))
        await expectError(.conflict) { try await f.service.createUser(id: uid("alice"), name: "Other", passwordHash: nil) }
        await expectError(.badRequest) { try await f.service.createUser(id: uid("bob"), name: "", passwordHash: nil) }
        await expectError(.badRequest) { try await f.service.createUser(id: uid("bob"), name: String(repeating: "x", count: 65), passwordHash: nil) }
        try await f.users("albert", "bob")
        #expect(try await f.service.passwordHash(of: uid("alice")) == "h1")
        #expect(try await f.service.passwordHash(of: uid("bob")) == nil)

        let found = try await f.service.searchUsers(prefix: "Al", limit: 10).map(\.id)
        #expect(found == [uid("albert"), uid("alice")])
        #expect(try await f.service.searchUsers(prefix: "al", limit: 1).count == 1)

        #expect(try await f.service.rename(uid("alice"), to: "Alice B.").name == "Alice B.")
        #expect(try await f.service.profile(of: uid("alice"))?.name == "Alice B.")
        await expectError(.notFound) { try await f.service.rename(uid("nobody"), to: "X") }
        #expect(try await f.service.profile(of: uid("nobody")) == nil)

        #expect(try await f.service.ensureUser(id: uid("carol")) == User(id: uid("carol"), name: "carol"))
        #expect(try await f.service.ensureUser(id: uid("alice")).name == "Alice B.")
    }

    @Test(arguments: StoreKind.allCases)
    func tokens(kind: StoreKind) async throws {
        let f = try await Fixture(kind)
        let (alice) = try await f.users("alice")[0]
        #expect(try await f.service.user(forTokenHash: "unknown") == nil)
        try await f.service.storeToken(hash: "t1", user: alice, expiresAt: f.clock.value + 1000)
        try await f.service.storeToken(hash: "t2", user: alice, expiresAt: f.clock.value + 1000)
        #expect(try await f.service.user(forTokenHash: "t1") == alice)
        try await f.service.revokeToken(hash: "t1")
        #expect(try await f.service.user(forTokenHash: "t1") == nil)
        #expect(try await f.service.user(forTokenHash: "t2") == alice)
        f.clock.advance(by: 1000)
        #expect(try await f.service.user(forTokenHash: "t2") == nil)
    }

    @Test(arguments: StoreKind.allCases)
    func presenceInProfile(kind: StoreKind) async throws {
        let f = try await Fixture(kind)
        let users = try await f.users("alice", "bob")
        try await f.send(users[0], to: users[1], "hi")
        var bobSees = EndpointReader(try await f.service.openEndpoint(user: users[1], since: nil))
        _ = try await bobSees.nextTimeline()
        _ = try await bobSees.next() // synced
        let endpoint = try await f.service.openEndpoint(user: users[0], since: nil)
        #expect(try await f.service.profile(of: users[0])?.online == true)
        guard case .ephemeral("presence", let online) = try await bobSees.next() else { Issue.record("no presence"); return }
        #expect(try json(online)["online"] as? Bool == true)
        f.clock.advance(by: 5)
        await endpoint.close()
        let profile = try #require(try await f.service.profile(of: users[0]))
        #expect(profile.online == false && profile.lastSeen == f.clock.value)
        guard case .ephemeral("presence", let offline) = try await bobSees.next() else { Issue.record("no presence"); return }
        let payload = try json(offline)
        #expect(payload["online"] as? Bool == false)
        #expect((payload["lastSeen"] as? NSNumber)?.int64Value == f.clock.value)
    }
}
