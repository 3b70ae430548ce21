import ChatCore
import Foundation
import Logging
import Testing

/// What a broker reports about presence it found changed (a dead node's users reaped, a
/// node's users restored after Redis lost them) reaches the contacts like a close or an open.
@Suite(.timeLimit(.minutes(1))) struct PresenceReportTests {
    @Test func lostAndRestoredConnectionsTellTheContacts() async throws {
        let clock = ManualClock()
        let store = InMemoryChatStore()
        let service = ChatService(store: store, broker: InProcessBroker(), logger: Logger(label: "test"), clock: clock.function)
        let (alice, bob, carol) = (uid("alice"), uid("bob"), uid("carol"))
        for user in [alice, bob, carol] { _ = try await service.createUser(id: user, name: user.rawValue, passwordHash: nil) }
        _ = try await service.send(from: alice, SendRequest(id: "m1", to: bob, body: "hi"))
        var reader = EndpointReader(try await service.openEndpoint(user: bob, since: nil))
        _ = try await reader.nextTimeline()
        _ = try await reader.next()  // synced

        clock.advance(by: 5_000)
        await service.connectionsLost(of: [alice])
        guard case .ephemeral("presence", let lost) = try await reader.next() else { Issue.record("no presence"); return }
        #expect(try json(lost)["user"] as? String == "alice" && json(lost)["online"] as? Bool == false)
        #expect(try json(lost)["lastSeen"] as? Int == Int(clock.value))
        #expect(await store.user(alice)?.lastSeen == clock.value)

        await service.connectionsRestored(of: [alice, carol])
        guard case .ephemeral("presence", let restored) = try await reader.next() else { Issue.record("no presence"); return }
        #expect(try json(restored)["user"] as? String == "alice" && json(restored)["online"] as? Bool == true)
    }
}
