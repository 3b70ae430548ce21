import ChatCore
import Logging
import Testing

/// `pruneExpired(oncePer:)` over brokers whose claim is refused or cannot be asked (the claim
/// itself, on Redis, is in RedisBrokerTests).
@Suite("Retention: once per cluster")
struct RetentionClaimTests {
    /// The in-process broker, with a claim that says `answer` (or throws, when nil).
    struct ClaimingBroker: WrappingBroker {
        let inner = InProcessBroker()
        let answer: Bool?
        func claim(_ job: String, for duration: Duration) async throws -> Bool {
            guard let answer else { throw ChatError.unavailable("broker down") }
            return answer
        }
    }

    /// A store holding one entry for bob, 31 days old by the returned clock.
    private func service(claim: Bool?) async throws -> (ChatService, InMemoryChatStore, UserID) {
        let store = InMemoryChatStore()
        let clock = ManualClock()
        let service = ChatService(store: store, broker: ClaimingBroker(answer: claim), logger: Logger(label: "test"), clock: clock.function)
        let (alice, bob) = (uid("alice"), uid("bob"))
        for user in [alice, bob] { _ = try await service.createUser(id: user, name: user.rawValue, passwordHash: nil) }
        _ = try await service.send(from: alice, SendRequest(id: "m1", to: bob, body: "old"))
        clock.advance(by: 31 * 86_400_000)
        return (service, store, bob)
    }

    @Test("a refused claim prunes nothing")
    func refused() async throws {
        let (service, store, bob) = try await service(claim: false)
        #expect(try await service.pruneExpired(oncePer: .seconds(3600)) == false)
        #expect(try await store.timeline(of: bob, after: 0, limit: 10).count == 1)
    }

    @Test("a broker that cannot be asked: pruned anyway")
    func brokerDown() async throws {
        let (service, store, bob) = try await service(claim: nil)
        #expect(try await service.pruneExpired(oncePer: .seconds(3600)))
        #expect(try await store.timeline(of: bob, after: 0, limit: 10).isEmpty)
    }

    @Test("a broker of one process always claims")
    func inProcess() async throws {
        let broker = InProcessBroker()
        #expect(try await broker.claim("retention", for: .seconds(10)))
        #expect(try await broker.claim("retention", for: .seconds(10)))
    }
}
