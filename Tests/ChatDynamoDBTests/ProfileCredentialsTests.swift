@testable import ChatDynamoDB
import ChatCore
import Foundation
import Testing
import TestSupport

/// The sources only shared profiles name, live: a `credential_process` script, and roles
/// assumed with STS's `AssumeRole` (moto's STS, and the stand-in, which checks the request's
/// SigV4 signature with botocore's signer).
@Suite("DynamoDB credentials from profile sources")
struct ProfileCredentialsTests {
    typealias Source = DynamoDBConfiguration.CredentialSource

    /// A shell script in a temporary folder; every run appends a line to `runs` beside it.
    private struct Script {
        let directory: TemporaryDirectory
        var path: String { directory.path + "/creds.sh" }
        var command: String { "\(path) --token not-printed" }

        init(_ body: String) throws {
            directory = try TemporaryDirectory()
            try "#!/bin/sh\necho run >> \"$(dirname \"$0\")/runs\"\n\(body)\n".write(toFile: directory.path + "/creds.sh", atomically: true, encoding: .utf8)
            try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: directory.path + "/creds.sh")
        }

        var runs: Int { ((try? String(contentsOfFile: directory.path + "/runs", encoding: .utf8)) ?? "").split(separator: "\n").count }
    }

    private func expectFailure(_ provider: CredentialsProvider, code: DynamoDBError.Code, _ fragments: String...,
                               sourceLocation: SourceLocation = #_sourceLocation) async {
        do {
            let keys = try await provider.credentials()
            Issue.record("got \(keys)", sourceLocation: sourceLocation)
        } catch let error as DynamoDBError {
            #expect(error.code == code, "\(error)", sourceLocation: sourceLocation)
            for fragment in fragments { #expect(error.message.contains(fragment), "\(error.message)", sourceLocation: sourceLocation) }
            #expect(!error.message.contains("not-printed") && !error.message.contains("S3CR3T"), sourceLocation: sourceLocation)
        } catch {
            Issue.record("\(error)", sourceLocation: sourceLocation)
        }
    }

    @Test("credential_process: keys without an Expiration are fetched once and sign a store's requests")
    func processKeys() async throws {
        let script = try Script(#"echo '{"Version": 1, "AccessKeyId": "AKIAPROCESS", "SecretAccessKey": "process-secret"}'"#)
        let moto = try await TestServices.sharedDynamoDB()
        let configuration = DynamoDBConfiguration(region: "us-east-1", endpoint: "http://127.0.0.1:\(moto.port)", tablePrefix: Moto.prefix(),
                                                  credentials: .process(command: script.command))
        let store = try await DynamoDBChatStore(configuration: configuration, logger: Moto.logger)
        let alice = UserID("alice")!
        #expect(try await store.insertUser(User(id: alice, name: "Alice"), passwordHash: nil, at: 1))
        #expect(try await store.user(alice)?.user.name == "Alice")
        #expect(script.runs == 1)
        try await store.shutdown()
    }

    @Test("credential_process: keys with an Expiration are fetched again before it, by running the command again")
    func processRefresh() async throws {
        // Keys that expire 2 s after the refresh margin starts: due again after 2 s.
        let script = try Script("""
            n=$(wc -l < "$(dirname "$0")/runs")
            expires=$(date -u -d "+\(Int(CredentialsProvider.refreshMargin) + 2) seconds" +%Y-%m-%dT%H:%M:%SZ)
            echo "{\\"Version\\": 1, \\"AccessKeyId\\": \\"KEY$n\\", \\"SecretAccessKey\\": \\"s\\", \\"SessionToken\\": \\"t$n\\", \\"Expiration\\": \\"$expires\\"}"
            """)
        let provider = CredentialsProvider(source: .process(command: script.command), logger: Moto.logger, refreshSpacing: 1)
        #expect(try await provider.credentials() == .init(accessKeyID: "KEY1", secretAccessKey: "s", sessionToken: "t1"))
        try await Task.sleep(for: .milliseconds(2500))
        var key = try await provider.credentials().accessKeyID
        let deadline = ContinuousClock.now + .seconds(5)
        while key == "KEY1", ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(50))
            key = try await provider.credentials().accessKeyID
        }
        #expect(key == "KEY2")
        #expect(script.runs == 2)
    }

    @Test("credential_process failures: the exit status and standard error; output that is not keys; another Version")
    func processFailures() async throws {
        let failing = try Script("echo 'the vault session expired, log in again' >&2\nexit 3")
        await expectFailure(CredentialsProvider(source: .process(command: failing.command), logger: Moto.logger), code: .invalidConfiguration,
                            "credential_process \(failing.path)", "exited with status 3: the vault session expired, log in again")
        let garbage = try Script("echo 'AccessKeyId=AKIA SecretAccessKey=S3CR3T'")
        await expectFailure(CredentialsProvider(source: .process(command: garbage.command), logger: Moto.logger), code: .invalidResponse,
                            "did not print credentials as JSON")
        let version2 = try Script(#"echo '{"Version": 2, "AccessKeyId": "A", "SecretAccessKey": "S3CR3T"}'"#)
        await expectFailure(CredentialsProvider(source: .process(command: version2.command), logger: Moto.logger), code: .invalidResponse,
                            "printed Version 2; only 1 is known")
        await expectFailure(CredentialsProvider(source: .process(command: "/nonexistent/helper --token not-printed"), logger: Moto.logger),
                            code: .invalidConfiguration, "credential_process /nonexistent/helper exited with status 127")
    }

    @Test("credential_process past its deadline: the whole process group is killed and the fetch fails")
    func processTimeout() async throws {
        let marker = "301.\(Int.random(in: 100_000...999_999))"
        let started = ContinuousClock.now
        do {
            _ = try await CredentialProcess.run("sleep \(marker) | cat", timeout: .seconds(1))
            Issue.record("a command that never finishes gave keys")
        } catch let error as DynamoDBError {
            #expect(error.code == .unreachable && error.message.contains("credential_process sleep did not finish within"), "\(error.message)")
        }
        #expect(ContinuousClock.now - started < .seconds(10))
        // The pipeline's sleep went with the shell.
        try await Task.sleep(for: .milliseconds(200))
        let left = try await ProcessRunner.run("/usr/bin/pgrep", ["-f", "sleep \(marker)"], timeout: .seconds(10))
        #expect(left.output.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty, "still running: \(left.output)")
    }

    @Test("credential_process killed by a signal, or printing too much; secrets before the executable stay out of messages")
    func processEndings() async throws {
        await expectFailure(CredentialsProvider(source: .process(command: "kill -9 $$"), logger: Moto.logger), code: .invalidConfiguration,
                            "credential_process kill was killed by signal 9")
        let chatty = try Script("head -c 100000 /dev/zero")
        await expectFailure(CredentialsProvider(source: .process(command: chatty.command), logger: Moto.logger), code: .invalidResponse,
                            "printed more than 65536 bytes")
        #expect(CredentialProcess.executable(of: "VAULT_TOKEN=S3CR3T env REGION=x /usr/local/bin/helper --token S3CR3T") == "/usr/local/bin/helper")
        #expect("\(Source.process(command: "VAULT_TOKEN=S3CR3T helper"))" == "the credential_process helper")
    }

    @Test("a role assumed at moto's STS with a source profile's keys signs a store's requests, from the files through parse")
    func assumeRoleWithMoto() async throws {
        let moto = try await TestServices.sharedDynamoDB()
        let home = try TemporaryDirectory()
        try FileManager.default.createDirectory(atPath: home.path + "/.aws", withIntermediateDirectories: true)
        try "[base]\naws_access_key_id = AKIABASE\naws_secret_access_key = base-secret\n".write(toFile: home.path + "/.aws/credentials", atomically: true, encoding: .utf8)
        try "[profile chat]\nrole_arn = arn:aws:iam::123456789012:role/webchat\nsource_profile = base\nrole_session_name = node-1\n"
            .write(toFile: home.path + "/.aws/config", atomically: true, encoding: .utf8)
        let environment = ["HOME": home.path, "AWS_PROFILE": "chat", "AWS_ENDPOINT_URL_STS": "http://127.0.0.1:\(moto.port)"]
        let configuration = try DynamoDBConfiguration.parse("dynamodb://us-east-1?endpoint=http://127.0.0.1:\(moto.port)&prefix=\(Moto.prefix())",
                                                            environment: environment)
        guard case .assumeRole(let role) = configuration.credentials else { Issue.record("\(configuration.credentials)"); return }
        let keys = try await CredentialsProvider(source: .assumeRole(role), logger: Moto.logger).credentials()
        #expect(keys.accessKeyID.hasPrefix("ASIA") && keys.sessionToken?.isEmpty == false, "\(keys)")
        let store = try await DynamoDBChatStore(configuration: configuration, logger: Moto.logger)
        let service = ChatService(store: store, broker: InProcessBroker(), logger: Moto.logger)
        let (alice, bob) = (UserID("alice")!, UserID("bob")!)
        for user in [alice, bob] { _ = try await service.createUser(id: user, name: user.rawValue, passwordHash: nil) }
        #expect(try await service.send(from: alice, SendRequest(id: "m1", to: bob, body: "hi")).pos == 1)
        try await store.shutdown()
    }

    /// The stand-in, whose AssumeRole verifies signatures made with `secret`.
    private func standIn(secret: String) async throws -> ServiceProcess {
        let script = RepositoryRoot.url.appending(path: "Tests/python/aws_credentials_stand_in.py").path
        return try await ServiceProcess.start("aws-credentials", executable: "/usr/bin/env") { port in
            PythonScript.interpreter + ["-u", script, "\(port)", secret, "3600"]
        }
    }

    private func lastForm(_ standIn: ServiceProcess) async throws -> [String: String] {
        let result = try await ProcessRunner.run("/usr/bin/env", PythonScript.interpreter + [
            "-c", "import sys, urllib.request; print(urllib.request.urlopen(sys.argv[1]).read().decode())",
            "http://127.0.0.1:\(standIn.port)/last-form",
        ], timeout: .seconds(30))
        return try JSONDecoder().decode([String: String].self, from: Data(result.output.utf8))
    }

    @Test("AssumeRole's SigV4 signature verifies with botocore, session token included; a wrong secret is refused")
    func assumeRoleSignature() async throws {
        let sts = try await standIn(secret: "source-secret")
        // The source's keys come from a credential_process, with a session token that must be signed too.
        let script = try Script(#"echo '{"Version": 1, "AccessKeyId": "AKIASOURCE", "SecretAccessKey": "source-secret", "SessionToken": "source-token"}'"#)
        let role = Source.AssumedRole(roleARN: "arn:aws:iam::1:role/chat", sessionName: "node-7", externalID: "ext-42", durationSeconds: 900,
                                      stsEndpoint: "http://127.0.0.1:\(sts.port)", stsRegion: "eu-west-1", source: .process(command: script.command))
        let keys = try await CredentialsProvider(source: .assumeRole(role), logger: Moto.logger).credentials()
        #expect(keys == .init(accessKeyID: "KEY1", secretAccessKey: "secret1", sessionToken: "token1"))
        #expect(try await lastForm(sts) == ["Action": "AssumeRole", "Version": "2011-06-15", "RoleArn": "arn:aws:iam::1:role/chat",
                                            "RoleSessionName": "node-7", "ExternalId": "ext-42", "DurationSeconds": "900",
                                            "_region": "eu-west-1", "_token": "source-token",
                                            "_signed_headers": "content-type;host;x-amz-date;x-amz-security-token"])

        var wrong = role
        wrong.source = .fixed(.init(accessKeyID: "AKIASOURCE", secretAccessKey: "S3CR3T-but-wrong"))
        await expectFailure(CredentialsProvider(source: .assumeRole(wrong), logger: Moto.logger), code: .service,
                            "the role arn:aws:iam::1:role/chat, assumed at http://127.0.0.1:\(sts.port) with fixed keys AKIASOURCE", "403")
        sts.stop()
    }

    @Test("a role whose source has no keys says so, naming both")
    func assumeRoleWithoutSourceKeys() async throws {
        let closed = try FreePort.find()
        let role = Source.AssumedRole(roleARN: "arn:aws:iam::1:role/chat", stsEndpoint: "http://127.0.0.1:1", stsRegion: "us-east-1",
                                      source: .instanceMetadata(endpoint: "http://127.0.0.1:\(closed)"))
        await expectFailure(CredentialsProvider(source: .assumeRole(role), logger: Moto.logger), code: .unreachable,
                            "no AWS credentials from the role arn:aws:iam::1:role/chat", "to sign AssumeRole, no AWS credentials from the instance role")
    }
}
