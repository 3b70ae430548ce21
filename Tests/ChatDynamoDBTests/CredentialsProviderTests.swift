@testable import ChatDynamoDB
import ChatCore
import Foundation
import Synchronization
import Testing
import TestSupport

/// Temporary credentials: the instance role from moto's instance metadata service (IMDSv2), a
/// web identity's role from moto's STS, and container credentials from a stand-in for ECS's
/// endpoint, which runs only in AWS.
@Suite("DynamoDB credentials")
struct CredentialsProviderTests {
    typealias Source = DynamoDBConfiguration.CredentialSource

    /// The test's token files, removed after it.
    private let folder: TemporaryDirectory

    init() throws {
        folder = try TemporaryDirectory()
    }

    @Test("the instance role, through IMDSv2's session token, signs a store's requests")
    func instanceRole() async throws {
        let moto = try await TestServices.sharedDynamoDB()
        let source = Source.instanceMetadata(endpoint: "http://127.0.0.1:\(moto.port)")
        let provider = CredentialsProvider(source: source, logger: Moto.logger)
        let keys = try await provider.credentials()
        #expect(keys == .init(accessKeyID: "test-key", secretAccessKey: "test-secret-key", sessionToken: "test-session-token"))

        let configuration = DynamoDBConfiguration(region: "us-east-1", endpoint: "http://127.0.0.1:\(moto.port)", tablePrefix: Moto.prefix(),
                                                  credentials: source)
        let store = try await DynamoDBChatStore(configuration: configuration, logger: Moto.logger)
        let service = ChatService(store: store, broker: InProcessBroker(), logger: Moto.logger)
        let (alice, bob) = (UserID("alice")!, UserID("bob")!)
        for user in [alice, bob] { _ = try await service.createUser(id: user, name: user.rawValue, passwordHash: nil) }
        let message = try await service.send(from: alice, SendRequest(id: "m1", to: bob, body: "hi"))
        #expect(message.pos == 1)
        #expect(try await store.timeline(of: bob, after: 0, limit: 10).map(\.event) == ["message"])
        try await store.shutdown()
    }

    @Test("a web identity's role, from STS's AssumeRoleWithWebIdentity, signs a store's requests")
    func webIdentity() async throws {
        let moto = try await TestServices.sharedDynamoDB()
        let source = Source.webIdentity(tokenFile: try tokenFile("eyJhbGciOi.service-account-token"), roleARN: "arn:aws:iam::123456789012:role/webchat",
                                        sessionName: "webchat-test", stsEndpoint: "http://127.0.0.1:\(moto.port)")
        let provider = CredentialsProvider(source: source, logger: Moto.logger)
        let keys = try await provider.credentials()
        #expect(keys.accessKeyID.hasPrefix("ASIA") && !keys.secretAccessKey.isEmpty && keys.sessionToken?.isEmpty == false, "\(keys)")

        let configuration = DynamoDBConfiguration(region: "us-east-1", endpoint: "http://127.0.0.1:\(moto.port)", tablePrefix: Moto.prefix(),
                                                  credentials: source)
        let store = try await DynamoDBChatStore(configuration: configuration, logger: Moto.logger)
        let alice = UserID("alice")!
        #expect(try await store.insertUser(User(id: alice, name: "Alice"), passwordHash: nil, at: 1))
        #expect(try await store.user(alice)?.user.name == "Alice")
        try await store.shutdown()
    }

    @Test("a web identity token file that cannot be read is named")
    func missingTokenFile() async throws {
        let provider = CredentialsProvider(
            source: .webIdentity(tokenFile: "/nonexistent/token", roleARN: "arn:aws:iam::1:role/x", sessionName: "s", stsEndpoint: "http://127.0.0.1:1"),
            logger: Moto.logger)
        do {
            _ = try await provider.credentials()
            Issue.record("credentials without a token")
        } catch let error as DynamoDBError {
            #expect(error.code == .invalidConfiguration && error.message.contains("AWS_WEB_IDENTITY_TOKEN_FILE /nonexistent/token"), "\(error.message)")
        }
    }

    /// The stand-in (`Tests/python/aws_credentials_stand_in.py`) on a free port, requiring
    /// `token`, handing out keys that live `lifetime` seconds.
    private func standIn(token: String, lifetime: Int) async throws -> ServiceProcess {
        let script = RepositoryRoot.url.appending(path: "Tests/python/aws_credentials_stand_in.py").path
        return try await ServiceProcess.start("aws-credentials", executable: "/usr/bin/env") { port in
            PythonScript.interpreter + ["-u", script, "\(port)", token, "\(lifetime)"]
        }
    }

    /// How many requests the stand-in answered with keys, and refused.
    private func stats(_ standIn: ServiceProcess) async throws -> (served: Int, refused: Int) {
        let result = try await ProcessRunner.run("/usr/bin/env", PythonScript.interpreter + [
            "-c", "import sys, urllib.request; print(urllib.request.urlopen(sys.argv[1]).read().decode())",
            "http://127.0.0.1:\(standIn.port)/stats",
        ], timeout: .seconds(30))
        let counts = try JSONDecoder().decode([String: Int].self, from: Data(result.output.utf8))
        return (counts["served"] ?? -1, counts["refused"] ?? -1)
    }

    private func tokenFile(_ token: String, at path: String? = nil) throws -> String {
        let path = path ?? folder.path + "/token-\(UUID().uuidString.prefix(8))"
        try (token + "\n").write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// Asks `provider` every 50 ms until it hands out `key` or 5 s passed; the last key seen.
    private func waitForKey(_ key: String, _ provider: CredentialsProvider) async throws -> String {
        var latest = try await provider.credentials().accessKeyID
        let deadline = ContinuousClock.now + .seconds(5)
        while latest != key, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(50))
            latest = try await provider.credentials().accessKeyID
        }
        return latest
    }

    /// The stand-in handing out keys that live 2 s longer than the refresh margin (due again after
    /// 2 s), and a provider reading its token from a file, with the spacing (a minute in
    /// service) at 2 s too.
    private func containerWithShortKeys() async throws -> (ServiceProcess, tokenFile: String, CredentialsProvider) {
        let endpoint = try await standIn(token: "pod-token", lifetime: Int(CredentialsProvider.refreshMargin) + 2)
        let file = try tokenFile("pod-token")
        let provider = CredentialsProvider(
            source: .container(url: "http://127.0.0.1:\(endpoint.port)/v1/credentials", authorization: .tokenFile(file)), logger: Moto.logger,
            refreshSpacing: 2
        )
        return (endpoint, file, provider)
    }

    @Test("IMDSv2: a session token by PUT with its TTL, then the role and its keys with that token")
    func imdsV2() async throws {
        let endpoint = try await standIn(token: "unused", lifetime: 3600)
        let fetched = Mutex<[Date?]>([])
        let observer = DynamoDBStoreObserver(request: { _, _, _ in }, conflict: {}, credentialsFetched: { date in fetched.withLock { $0.append(date) } })
        let provider = CredentialsProvider(source: .instanceMetadata(endpoint: "http://127.0.0.1:\(endpoint.port)"), logger: Moto.logger,
                                           observer: observer)
        #expect(try await provider.credentials() == .init(accessKeyID: "KEY1", secretAccessKey: "secret1", sessionToken: "token1"))
        #expect(try await stats(endpoint) == (served: 1, refused: 0))
        // The metrics hear of it, with the keys' expiration (an hour ahead, to the second).
        let reported = fetched.withLock { $0 }
        #expect(reported.count == 1 && abs((reported[0]?.timeIntervalSinceNow ?? 0) - 3600) < 5, "\(reported)")
        endpoint.stop()
    }

    @Test("container credentials: the token file's token, one fetch at a time, fetched again before they expire, not more often than the spacing")
    func containerRefresh() async throws {
        let (endpoint, _, provider) = try await containerWithShortKeys()
        // Ten requests at once share one fetch.
        let first = try await withThrowingTaskGroup(of: DynamoDBConfiguration.Credentials.self) { group in
            for _ in 0..<10 { group.addTask { try await provider.credentials() } }
            return try await group.reduce(into: Set<String>()) { $0.insert($1.accessKeyID) }
        }
        #expect(first == ["KEY1"])
        #expect(try await provider.credentials() == .init(accessKeyID: "KEY1", secretAccessKey: "secret1", sessionToken: "token1"))
        try await Task.sleep(for: .milliseconds(2500))
        // Still valid for minutes: served at once while the refresh runs, then the new keys.
        #expect(try await provider.credentials().accessKeyID == "KEY1")
        #expect(try await waitForKey("KEY2", provider) == "KEY2")
        // These too come with less than the margin left: no new fetch within the spacing.
        for _ in 0..<20 {
            #expect(try await provider.credentials().accessKeyID == "KEY2")
            try await Task.sleep(for: .milliseconds(20))
        }
        #expect(try await stats(endpoint) == (served: 2, refused: 0))
        endpoint.stop()
    }

    @Test("failed refreshes are spaced while the keys in hand serve, and the next success replaces them")
    func failedRefreshes() async throws {
        let (endpoint, file, provider) = try await containerWithShortKeys()
        #expect(try await provider.credentials().accessKeyID == "KEY1")
        _ = try tokenFile("rotated-wrongly", at: file)
        try await Task.sleep(for: .milliseconds(2500))
        // 40 requests over ~0.8 s: one refresh, refused, and at most one more after its 1 s wait.
        for _ in 0..<40 {
            #expect(try await provider.credentials().accessKeyID == "KEY1")
            try await Task.sleep(for: .milliseconds(20))
        }
        let refused = try await stats(endpoint).refused
        #expect((1...2).contains(refused), "\(refused) refused fetches")
        _ = try tokenFile("pod-token", at: file)
        #expect(try await waitForKey("KEY2", provider) == "KEY2")
        endpoint.stop()
    }

    @Test("a refused token: the error names the source and its answer, and is not worth retrying")
    func refusedToken() async throws {
        let endpoint = try await standIn(token: "pod-token", lifetime: 3600)
        let url = "http://127.0.0.1:\(endpoint.port)/v1/credentials"
        let provider = CredentialsProvider(source: .container(url: url, authorization: .token("wrong")), logger: Moto.logger)
        do {
            _ = try await provider.credentials()
            Issue.record("credentials with a refused token")
        } catch let error as DynamoDBError {
            #expect(error.code == .service)
            #expect(error.message.contains("container credentials from \(url)") && error.message.contains("401"), "\(error.message)")
        }
        endpoint.stop()
    }

    @Test("no instance metadata service: a store fails at start, naming where it looked")
    func noInstanceMetadata() async throws {
        let moto = try await TestServices.sharedDynamoDB()
        let closed = try FreePort.find()
        let configuration = DynamoDBConfiguration(region: "us-east-1", endpoint: "http://127.0.0.1:\(moto.port)", tablePrefix: Moto.prefix(),
                                                  credentials: .instanceMetadata(endpoint: "http://127.0.0.1:\(closed)"))
        do {
            _ = try await DynamoDBChatStore(configuration: configuration, logger: Moto.logger)
            Issue.record("a store without credentials started")
        } catch let error as DynamoDBError {
            #expect(error.message.contains("no AWS credentials from the instance role, from instance metadata at http://127.0.0.1:\(closed)"),
                    "\(error.message)")
            #expect(error.message.contains("not on EC2, or no role for this instance? set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE"),
                    "\(error.message)")
        }
    }

    @Test("instance metadata refused (a proxy or an instance without a role): the error names the status and the settings")
    func instanceMetadataRefused() async throws {
        // The stand-in knows no /nowhere/latest/api/token: 404, as a proxy or a role-less path answers.
        let endpoint = try await standIn(token: "unused", lifetime: 3600)
        let url = "http://127.0.0.1:\(endpoint.port)/nowhere"
        let provider = CredentialsProvider(source: .instanceMetadata(endpoint: url), logger: Moto.logger)
        do {
            _ = try await provider.credentials()
            Issue.record("credentials from a refusing instance metadata service")
        } catch let error as DynamoDBError {
            #expect(error.code == .service)
            #expect(error.message.contains("no AWS credentials from the instance role, from instance metadata at \(url)") && error.message.contains("404"),
                    "\(error.message)")
            #expect(error.message.contains("not on EC2, or no role for this instance? set AWS_ACCESS_KEY_ID"), "\(error.message)")
        }
        endpoint.stop()
    }

    @Test("a container endpoint over plain http must be local", arguments: [
        ("http://10.0.0.7/credentials", false), ("http://169.254.170.2/v2/credentials/x", true), ("http://127.0.0.1:9/c", true),
        ("http://127.9.8.7/c", true), ("http://169.254.170.23/v1/credentials", true), ("http://[fd00:ec2::23]/v1/credentials", true),
        ("http://[::1]:9/c", true), ("https://creds.example.com/x", true), ("ftp://127.0.0.1/x", false),
        ("http://127.0.0.1.nip.io/c", false), ("http://127.evil.example/c", false), ("http://localhost:9/c", false),
        ("http://169.254.170.3/c", false), ("http://[fd00:ec2::24]/c", false),
    ])
    func containerURLs(_ url: String, _ allowed: Bool) {
        #expect(((try? CredentialsProvider.checkContainerURL(url)) != nil) == allowed)
    }
}
