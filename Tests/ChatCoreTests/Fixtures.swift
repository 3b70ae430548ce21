import ChatCore
import ChatDynamoDB
import ChatSQLite
import Foundation
import Logging
import Synchronization
import TestSupport
import Testing

/// The store implementations every contract test runs against.
enum StoreKind: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case memory, sqlite, dynamodb
    var testDescription: String { rawValue }
}

/// A clock tests move by hand.
final class ManualClock: Sendable {
    private let now = Atomic<Int64>(1_700_000_000_000)
    var value: Int64 { now.load(ordering: .relaxed) }
    func advance(by ms: Int64) { now.add(ms, ordering: .relaxed) }
    var function: @Sendable () -> Int64 { { self.now.load(ordering: .relaxed) } }
}

/// A service over a fresh store of `kind`, with helpers for the contract tests.
/// How committed entries reach the broker: handed over on the spot (`publishNow`, the
/// in-process broker) or through `publish` only, as a broker over the network would.
enum PublishPath: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case immediate, queued
    var testDescription: String { rawValue }
}

/// A broker that hands everything to an in-process one, for tests that change one behaviour
/// (without `publishNow`, since the default is `false`).
protocol WrappingBroker: Broker {
    var inner: InProcessBroker { get }
}

extension WrappingBroker {
    func publish(_ envelope: BrokerEnvelope, to users: [UserID]) async throws { try await inner.publish(envelope, to: users) }
    func subscribe(_ user: UserID, _ receive: @escaping @Sendable (BrokerEnvelope) -> Void) async throws -> BrokerSubscription {
        try await inner.subscribe(user, receive)
    }
    func connectionOpened(user: UserID, connection: String) async throws -> Bool { try await inner.connectionOpened(user: user, connection: connection) }
    func connectionClosed(user: UserID, connection: String) async throws -> Bool { try await inner.connectionClosed(user: user, connection: connection) }
    func isOnline(_ user: UserID) async throws -> Bool { try await inner.isOnline(user) }
}

/// The in-process broker without `publishNow`: everything goes through the async `publish`.
struct QueuedBroker: WrappingBroker {
    let inner = InProcessBroker()
    func publish(_ envelope: BrokerEnvelope, to users: [UserID]) async throws {
        await Task.yield()
        try await inner.publish(envelope, to: users)
    }
}

struct Fixture {
    let store: any ChatStore
    let broker: any Broker
    let clock = ManualClock()
    let service: ChatService

    init(_ kind: StoreKind, configuration: ChatConfiguration = .init(), publish: PublishPath = .immediate) async throws {
        broker = publish == .immediate ? InProcessBroker() : QueuedBroker()
        switch kind {
        case .memory:
            store = InMemoryChatStore()
        case .sqlite:
            let folder = FileManager.default.temporaryDirectory.appendingPathComponent("chatcore-\(UUID().uuidString)")
            store = try SQLiteChatStore(path: folder.appendingPathComponent("nested/chat.sqlite").path)
        case .dynamodb:
            // moto, shared by the test process; each store has tables of its own.
            let moto = try await TestServices.sharedDynamoDB()
            let prefix = "t\(UUID().uuidString.prefix(8).lowercased())_"
            let configuration = DynamoDBConfiguration(region: "us-east-1", endpoint: "http://127.0.0.1:\(moto.port)", tablePrefix: prefix,
                                                      credentials: .init(accessKeyID: "test", secretAccessKey: "test"))
            store = try await DynamoDBChatStore(configuration: configuration, logger: Logger(label: "test.dynamodb"))
        }
        service = ChatService(store: store, broker: broker, configuration: configuration, logger: Logger(label: "test"), clock: clock.function)
    }

    /// Creates users named after their ids.
    @discardableResult
    func users(_ ids: String...) async throws -> [UserID] {
        var result: [UserID] = []
        for raw in ids {
            let id = uid(raw)
            _ = try await service.createUser(id: id, name: raw.capitalized, passwordHash: nil)
            result.append(id)
        }
        return result
    }

    /// Sends a direct message.
    @discardableResult
    func send(_ from: UserID, to: UserID, _ body: String, id: String = UUID().uuidString) async throws -> Message {
        try await service.send(from: from, SendRequest(id: id, to: to, body: body))
    }

    /// A user's whole stored timeline.
    func timeline(_ user: UserID) async throws -> [TimelineEntry] {
        try await store.timeline(of: user, after: 0, limit: 10_000)
    }

    /// The parsed payloads of a user's timeline entries with `event`.
    func events(_ user: UserID, _ event: String) async throws -> [[String: Any]] {
        try await timeline(user).filter { $0.event == event }.map { try json($0.wirePayload) }
    }
}

func uid(_ raw: String) -> UserID { UserID(raw)! }

func json(_ bytes: [UInt8]) throws -> [String: Any] {
    try #require(JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any])
}

/// Expects `body` to throw a `ChatError` with `code`.
func expectError<T>(_ code: ChatError.Code, sourceLocation: SourceLocation = #_sourceLocation,
                    _ body: () async throws -> T) async {
    do {
        _ = try await body()
        Issue.record("expected \(code.rawValue), got success", sourceLocation: sourceLocation)
    } catch let error as ChatError {
        #expect(error.code == code, "\(error)", sourceLocation: sourceLocation)
    } catch {
        Issue.record("unexpected \(error)", sourceLocation: sourceLocation)
    }
}

/// Reads deliveries from an endpoint.
struct EndpointReader {
    var iterator: Endpoint.AsyncIterator

    init(_ endpoint: Endpoint) { iterator = endpoint.makeAsyncIterator() }

    mutating func next() async throws -> EndpointDelivery {
        try #require(await iterator.next())
    }

    /// The next timeline delivery's seq, event and parsed payload (skipping nothing).
    mutating func nextTimeline() async throws -> (seq: Int64, event: String, payload: [String: Any]) {
        guard case .timeline(let seq, let event, let payload) = try await next() else {
            Issue.record("expected a timeline delivery")
            throw ChatError.internal("unexpected delivery")
        }
        return (seq, event, try json(payload))
    }
}
