import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOFoundationCompat
import NIOHTTP1
import Synchronization

/// A small DynamoDB client: the JSON protocol (`POST /`, `X-Amz-Target:
/// DynamoDB_20120810.<Operation>`) over AsyncHTTPClient, signed with ``SigV4Signer``.
///
/// Throttling, server errors and transport failures are retried with jittered exponential
/// backoff (``maxAttempts`` in all, within the configuration's `requestBudget`); every other error is thrown at once as a ``DynamoDBError``
/// carrying the service's type and message.
///
/// A transport failure or a server error may come after the service applied the request, so
/// a retried request must be idempotent: a transaction is (its client request token), and so
/// are unconditional writes and updates whose condition still holds once they are applied. A
/// conditional write that its own earlier attempt makes fail (`attribute_not_exists`) is
/// thrown with ``DynamoDBError/afterUncertainAttempt`` set, and its caller reads the item to
/// tell (see `insertUser`).
final class DynamoDBClient: Sendable {
    let configuration: DynamoDBConfiguration
    private let http: HTTPClient
    private let credentials: CredentialsProvider
    /// The signer of the keys signed with last (a new one when they change).
    private let signer = Mutex<SigV4Signer?>(nil)
    private let url: String
    private let host: String
    private let logger: Logger
    private let isShutDown = Atomic<Bool>(false)
    /// Test hooks (see `ClientHooks`).
    let hooks = ClientHooks()

    /// Attempts per request before a retryable failure is thrown.
    static let maxAttempts = 6

    /// Hears of every request (metrics).
    let observer: DynamoDBStoreObserver

    init(configuration: DynamoDBConfiguration, logger: Logger, observer: DynamoDBStoreObserver = .none) throws(DynamoDBError) {
        self.observer = observer
        guard let components = URLComponents(string: configuration.endpoint), let host = components.host,
              let scheme = components.scheme, scheme == "http" || scheme == "https" else {
            throw .invalidConfiguration("endpoint must be an http or https URL, got '\(configuration.endpoint)'")
        }
        self.configuration = configuration
        self.host = components.port.map { "\(host):\($0)" } ?? host
        url = "\(scheme)://\(self.host)/"
        self.logger = logger
        var http = HTTPClient.Configuration()
        http.timeout = .init(connect: .seconds(3), read: TimeAmount(configuration.attemptTimeout))
        http.connectionPool = .init(idleTimeout: .seconds(50))
        // Many operations run at once on a node, each a few requests in turn.
        http.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = 64
        // A failed connection fails its attempt at once and `send` retries it with the same
        // backoff as everything else (AsyncHTTPClient would retry it for the whole connect
        // timeout on its own, and an unreachable endpoint took 18 s to report).
        http.connectionPool.retryConnectionEstablishment = false
        http.decompression = .disabled
        self.http = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: http)
        credentials = CredentialsProvider(source: configuration.credentials, http: self.http, logger: logger, observer: observer)
    }

    /// Shuts the HTTP client down; further calls fail.
    func shutdown() async throws {
        guard !isShutDown.exchange(true, ordering: .relaxed) else { return }
        try await http.shutdown()
    }

    deinit {
        // A store dropped without `shutdown()` (tests do) must not leave its client running:
        // AsyncHTTPClient traps on that in debug builds. Its shutdown keeps it alive until done.
        if !isShutDown.load(ordering: .relaxed) { http.shutdown { _ in } }
    }

    /// Calls `operation` with `input` and decodes its answer.
    func call<Output: Decodable>(_ operation: String, _ input: some Encodable, as: Output.Type = Output.self) async throws -> Output {
        #if DEBUG
        // DynamoDB refuses placeholders an item does not use, but moto does not check them all
        // (in transactions only names): tests catch such a request here instead.
        if let checked = input as? any ExpressionChecked, let mismatch = checked.expressionMismatch {
            throw DynamoDBError(.service, "\(operation) not sent, its expression placeholders do not match: \(mismatch)", type: "ValidationException")
        }
        #endif
        let body = try JSONEncoder().encode(input)
        let bytes = try await send(operation, body: body)
        do {
            return try JSONDecoder().decode(Output.self, from: bytes)
        } catch {
            throw DynamoDBError.invalidResponse("\(operation): \(error)")
        }
    }

    private func send(_ operation: String, body: Data) async throws -> ByteBuffer {
        var attempt = 0
        var uncertain = false
        let deadline = ContinuousClock.now + configuration.requestBudget
        while true {
            attempt += 1
            var failure: DynamoDBError
            var mayHaveApplied = true
            let started = ContinuousClock.now
            do {
                let timeout = min(configuration.attemptTimeout, deadline - started)
                let (status, bytes) = try await perform(operation, body: body, timeout: TimeAmount(timeout))
                if status == .ok {
                    observer.request(operation, .now - started, nil)
                    return bytes
                }
                failure = Self.error(status: status, body: bytes)
                // A 4xx answer (throttling among them) means the request was not applied.
                mayHaveApplied = status.code >= 500
            } catch let error as CancellationError {
                throw error
            } catch let error as DynamoDBError {
                // No credentials (their endpoint is unreachable or refuses): nothing was sent.
                failure = error
                mayHaveApplied = false
            } catch {
                failure = DynamoDBError(.unreachable, "cannot reach DynamoDB at \(configuration.endpoint): \(error)")
            }
            observer.request(operation, .now - started, failure.code)
            failure.afterUncertainAttempt = uncertain
            let delay = Backoff.delay(attempt: attempt, base: .milliseconds(25), cap: .seconds(1))
            // Another attempt needs the backoff and some time to answer in within the budget.
            guard failure.code == .throttled || failure.code == .unreachable, attempt < Self.maxAttempts,
                  ContinuousClock.now + delay + .milliseconds(100) < deadline else { throw failure }
            uncertain = uncertain || mayHaveApplied
            logger.debug("retrying DynamoDB request", metadata: ["operation": "\(operation)", "attempt": "\(attempt)", "error": "\(failure)"])
            try await Task.sleep(for: delay)
        }
    }

    private func perform(_ operation: String, body: Data, timeout: TimeAmount) async throws -> (HTTPResponseStatus, ByteBuffer) {
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        let signed = [("host", host), ("content-type", "application/x-amz-json-1.0"), ("x-amz-target", "DynamoDB_20120810.\(operation)")]
        let signer = try await signer()
        for (name, value) in signed + signer.sign(method: "POST", path: "/", headers: signed, body: body, date: Date()) {
            request.headers.add(name: name, value: value)
        }
        request.body = .bytes(ByteBuffer(data: body))
        let response = try await http.execute(request, timeout: timeout)
        let bytes = try await response.body.collect(upTo: 32 << 20)
        if hooks.loseAnswer(of: operation) { throw HTTPClientError.readTimeout }
        return (response.status, bytes)
    }

    /// A signer of the current keys.
    private func signer() async throws -> SigV4Signer {
        let keys = try await credentials.credentials()
        return signer.withLock { signer in
            if let current = signer, current.credentials == keys { return current }
            let fresh = SigV4Signer(credentials: keys, region: configuration.region, service: "dynamodb")
            signer = fresh
            return fresh
        }
    }

    /// The error an answer other than 200 stands for.
    static func error(status: HTTPResponseStatus, body: ByteBuffer) -> DynamoDBError {
        let parsed = try? JSONDecoder().decode(ErrorOutput.self, from: body)
        let type = parsed?.type.map { String($0.split(separator: "#").last ?? Substring($0)) }
        let message = parsed?.message ?? "HTTP \(status.code) \(String(buffer: body).prefix(200))"
        let code: DynamoDBError.Code = switch type {
        case "ConditionalCheckFailedException": .conditionalCheckFailed
        case "TransactionCanceledException": .transactionCanceled
        case "ResourceNotFoundException": .resourceNotFound
        case "ThrottlingException", "ProvisionedThroughputExceededException", "RequestLimitExceeded",
             "TransactionInProgressException", "InternalServerError", "ServiceUnavailable": .throttled
        default: status.code >= 500 ? .throttled : .service
        }
        return DynamoDBError(code, message, type: type, cancellationReasons: parsed?.reasons ?? [])
    }
}

/// Jittered exponential backoff: a random delay between half of and all of `base · 2^(attempt-1)`, capped.
enum Backoff {
    static func delay(attempt: Int, base: Duration, cap: Duration) -> Duration {
        let ceiling = min(base * (1 << min(attempt - 1, 20)), cap)
        let ms = max(1, Int(ceiling.components.seconds * 1000 + ceiling.components.attoseconds / 1_000_000_000_000_000))
        return .milliseconds(Int.random(in: ms / 2...ms))
    }
}

/// Hooks for tests: losing answers, as a read timeout after the service applied a request would.
final class ClientHooks: Sendable {
    /// Per operation (`PutItem`, …), how many of its next answers to lose.
    let answersToLose = Mutex<[String: Int]>([:])

    /// Whether to lose this answer of `operation` (counted).
    func loseAnswer(of operation: String) -> Bool {
        answersToLose.withLock { counts in
            guard let count = counts[operation], count > 0 else { return false }
            counts[operation] = count - 1
            return true
        }
    }
}
