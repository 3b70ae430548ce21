import ChatCore
import Foundation
import Testing
import TestSupport

@testable import RedisBroker

/// `rediss://`: the broker against a redis-server that speaks only TLS, with certificates made
/// for the test by openssl (a CA of its own, a server certificate for 127.0.0.1 and localhost).
@Suite("Redis broker over TLS")
struct RedisTLSTests {
    /// A TLS-only redis-server (`--port 0`) with a password, and the files of its certificates.
    struct TLSRedis {
        let process: ServiceProcess
        let folder: URL
        var caFile: String { folder.appending(path: "ca.pem").path }
        var otherCAFile: String { folder.appending(path: "other-ca.pem").path }
        /// A client certificate the CA signed, and its key.
        var clientFiles: (certificate: String, key: String) { (folder.appending(path: "client.pem").path, folder.appending(path: "client.key").path) }

        /// `names`: the server certificate's subject alternative names; `clientCertificates`:
        /// whether Redis asks clients for a certificate (its default, `tls-auth-clients yes`).
        static func start(names: String = "IP:127.0.0.1,DNS:localhost", clientCertificates: Bool = false) async throws -> TLSRedis {
            let folder = FileManager.default.temporaryDirectory.appending(path: "webchat-redis-tls-\(UUID().uuidString.prefix(8))")
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            try await TestCertificates.make(in: folder.path, names: names)
            let process = try await ServiceProcess.start("redis-tls", executable: RedisTest.executable) { port in
                [
                    "--port", "0", "--tls-port", "\(port)", "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                    "--tls-cert-file", folder.appending(path: "server.pem").path,
                    "--tls-key-file", folder.appending(path: "server.key").path,
                    "--tls-ca-cert-file", folder.appending(path: "ca.pem").path,
                    "--tls-auth-clients", clientCertificates ? "yes" : "no", "--requirepass", "s3cret",
                ]
            }
            return TLSRedis(process: process, folder: folder)
        }

        func url(host: String = "127.0.0.1", caFile: String?, client: (certificate: String, key: String)? = nil,
                 prefix: String = RedisTest.uniquePrefix("tls")) -> String {
            "rediss://:s3cret@\(host):\(process.port)?prefix=\(prefix)" + (caFile.map { "&ca-file=\($0)" } ?? "")
                + (client.map { "&cert-file=\($0.certificate)&key-file=\($0.key)" } ?? "")
        }

        func stop() async {
            process.stop()
            try? FileManager.default.removeItem(at: folder)
        }
    }

    private func broker(_ url: String) async throws -> RedisBroker {
        var configuration = try RedisBrokerConfiguration.parse(url)
        configuration.connectTimeout = .seconds(5)
        return try await RedisBroker(configuration: configuration, logger: RedisTest.logger)
    }

    @Test("two nodes publish, subscribe and share presence over TLS, by address and by host name")
    func acrossNodes() async throws {
        let redis = try await TLSRedis.start()
        let prefix = RedisTest.uniquePrefix("tls")
        let a = try await broker(redis.url(caFile: redis.caFile, prefix: prefix))
        let b = try await broker(redis.url(host: "localhost", caFile: redis.caFile, prefix: prefix))
        let inbox = Inbox()
        _ = try await a.subscribe(uid("alice"), inbox.receive)
        for n in 1...50 { try await b.publish(event(Int64(n)), to: [uid("alice")]) }
        #expect(await inbox.wait(for: 50) == (1...50).map { event(Int64($0)) })
        #expect(try await b.connectionOpened(user: uid("bob"), connection: "c1"))
        #expect(try await a.isOnline(uid("bob")))
        #expect(try await a.claim("retention", for: .seconds(10)))
        #expect(try await b.claim("retention", for: .seconds(10)) == false)
        await a.shutdown()
        await b.shutdown()
        await redis.stop()
    }

    @Test("a certificate from a CA the broker does not trust stops it at start, saying so")
    func untrustedCertificate() async throws {
        let redis = try await TLSRedis.start()
        for caFile in [redis.otherCAFile, nil] {
            await expectRefused(redis, host: "127.0.0.1", caFile: caFile, because: "CERTIFICATE_VERIFY_FAILED")
        }
        await redis.stop()
    }

    /// A broker for `host` trusting `caFile` fails at start, with `reason` in its message.
    private func expectRefused(_ redis: TLSRedis, host: String, caFile: String?, because reason: String,
                               sourceLocation: SourceLocation = #_sourceLocation) async {
        do {
            _ = try await broker(redis.url(host: host, caFile: caFile))
            Issue.record("connected to \(host) (CA file: \(caFile ?? "system"))", sourceLocation: sourceLocation)
        } catch let error as RedisError {
            #expect(error.message.contains("cannot reach Redis at \(host):\(redis.process.port)"), "\(error.message)", sourceLocation: sourceLocation)
            #expect(error.message.contains(reason), "\(error.message)", sourceLocation: sourceLocation)
        } catch {
            Issue.record("unexpected \(error)", sourceLocation: sourceLocation)
        }
    }

    @Test("a certificate from the trusted CA for another name stops it, by address and by host name")
    func wrongName() async throws {
        let redis = try await TLSRedis.start(names: "DNS:other.test")
        for host in ["127.0.0.1", "localhost"] {
            await expectRefused(redis, host: host, caFile: redis.caFile, because: "failedToValidateHostname")
        }
        await redis.stop()
    }

    @Test("a Redis that asks for client certificates: admitted with one, refused without")
    func clientCertificates() async throws {
        let redis = try await TLSRedis.start(clientCertificates: true)
        let a = try await broker(redis.url(caFile: redis.caFile, client: redis.clientFiles))
        #expect(try await a.connectionOpened(user: uid("carol"), connection: "c1"))
        #expect(try await a.isOnline(uid("carol")))
        await a.shutdown()
        do {
            _ = try await broker(redis.url(caFile: redis.caFile))
            Issue.record("admitted without a client certificate")
        } catch let error as RedisError {
            #expect(error.message.contains("cannot reach Redis at 127.0.0.1:\(redis.process.port)"), "\(error.message)")
        }
        await redis.stop()
    }

    @Test("a CA file that cannot be read is named at start")
    func missingCAFile() async throws {
        let missing = "/nonexistent/webchat-ca.pem"
        do {
            _ = try await broker("rediss://127.0.0.1:1?ca-file=\(missing)")
            Issue.record("started without its CA file")
        } catch let error as RedisError {
            #expect(error.message.hasPrefix("cannot read the Redis CA file \(missing):"), "\(error.message)")
        }
    }

    @Test("plain TCP to a TLS-only Redis fails at start instead of hanging")
    func plainToTLS() async throws {
        let redis = try await TLSRedis.start()
        var configuration = try RedisBrokerConfiguration.parse("redis://:s3cret@127.0.0.1:\(redis.process.port)")
        configuration.connectTimeout = .seconds(1)
        await #expect(throws: RedisError.self) {
            _ = try await RedisBroker(configuration: configuration, logger: RedisTest.logger)
        }
        await redis.stop()
    }
}
