import ChatServer
import Foundation
import Testing
import TestSupport

/// `--tls-cert-file` and `--tls-key-file`: HTTPS and secure WebSockets from the server itself,
/// with certificates openssl makes for each test.
@Suite("HTTPS and secure WebSockets")
struct TLSTests {
    @Test("REST, wss and an upgraded polling connection over TLS; an untrusting client and plain HTTP get nowhere")
    func endToEnd() async throws {
        let (folder, configuration) = try await Self.serverWithCertificate()
        try await LiveChatServer.with(configuration) { server in
            #expect(server.url.hasPrefix("https://"))
            try await E2E.run(["https_and_wss", "--url", server.url], environment: ["WEBCHAT_TEST_CA_FILE": folder.path + "/ca.pem"])
        }
    }

    @Test("--http-redirect-port sends plain HTTP to the same host and path over HTTPS; --hsts-max-age marks HTTPS answers")
    func redirectAndHSTS() async throws {
        let (folder, tls) = try await Self.serverWithCertificate()
        var configuration = tls
        let redirectPort = try FreePort.find()
        configuration.httpRedirectPort = redirectPort
        configuration.hstsMaxAgeSeconds = 31_536_000
        try await LiveChatServer.with(configuration) { server in
            // The redirect listener is a service of its own: it may bind a moment after HTTPS.
            for _ in 0..<100 where !FreePort.accepts(redirectPort) { try await Task.sleep(for: .milliseconds(50)) }
            try await E2E.run(["https_redirect_and_hsts", "--url", server.url], environment: [
                "WEBCHAT_TEST_CA_FILE": folder.path + "/ca.pem", "WEBCHAT_TEST_REDIRECT_URL": "http://127.0.0.1:\(redirectPort)",
            ])
        }
    }

    @Test("a redirect port that is taken stops the server, saying so")
    func redirectPortTaken() async throws {
        let folder = try TemporaryDirectory()
        try await TestCertificates.make(in: folder.path, names: "IP:127.0.0.1")
        try await LiveChatServer.with(LiveChatServer.openAuth) { server in
            let taken = try #require(URLComponents(string: server.url)?.port)
            let result = try await ProcessRunner.run(try Executables.path(of: "webchat"), [
                "--port", "0", "--auth", "open", "--store", "memory",
                "--tls-cert-file", folder.path + "/server.pem", "--tls-key-file", folder.path + "/server.key", "--http-redirect-port", "\(taken)",
            ], timeout: .seconds(30))
            #expect(result.exitCode == 1 && result.output.contains("Address already in use"), "\(result.output)")
        }
    }

    @Test("SIGHUP reads the certificate again: new connections get the new one; unusable files keep the old one")
    func reloadOnSighup() async throws {
        let folder = try TemporaryDirectory()
        try await TestCertificates.make(in: folder.path, names: "IP:127.0.0.1")
        let live = (certificate: folder.path + "/live.pem", key: folder.path + "/live.key")
        func install(_ certificate: String, _ key: String) throws {
            for (from, to) in [(certificate, live.certificate), (key, live.key)] {
                try? FileManager.default.removeItem(atPath: to)
                try FileManager.default.copyItem(atPath: folder.path + "/" + from, toPath: to)
            }
        }
        try install("server.pem", "server.key")
        let server = try await ServiceProcess.start("webchat-tls", executable: try Executables.path(of: "webchat")) { port in
            ["--port", "\(port)", "--auth", "open", "--store", "memory", "--log-level", "info",
             "--tls-cert-file", live.certificate, "--tls-key-file", live.key]
        }
        defer { server.stop() }
        let first = try await Self.serial(ofFile: folder.path + "/server.pem")
        let second = try await Self.serial(ofFile: folder.path + "/client.pem")
        #expect(first != second)
        #expect(try await Self.presentedSerial(port: server.port) == first)

        // Another certificate and key (the test CA's client pair), then SIGHUP.
        try install("client.pem", "client.key")
        #expect(try await Self.presentedSerial(port: server.port) == first, "read again before SIGHUP")
        kill(try #require(server.pid), SIGHUP)
        #expect(try await Self.eventually { try await Self.presentedSerial(port: server.port) == second }, "\(server.log)")

        // A key that is not one: the server goes on with the certificate it has.
        try "not a key\n".write(toFile: live.key, atomically: true, encoding: .utf8)
        kill(try #require(server.pid), SIGHUP)
        #expect(try await Self.eventually { server.log.contains("TLS certificate not reloaded, the previous one stays") }, "\(server.log)")
        #expect(try await Self.presentedSerial(port: server.port) == second)
    }

    /// A folder with the test CA and a server certificate it signed for 127.0.0.1 and localhost,
    /// and an open-auth configuration that serves TLS with them.
    private static func serverWithCertificate() async throws -> (TemporaryDirectory, ServerConfiguration) {
        let folder = try TemporaryDirectory()
        try await TestCertificates.make(in: folder.path, names: "IP:127.0.0.1,DNS:localhost")
        var configuration = LiveChatServer.openAuth
        configuration.tls = .init(certificateChain: folder.path + "/server.pem", privateKey: folder.path + "/server.key")
        return (folder, configuration)
    }

    private static func serial(ofFile path: String) async throws -> String {
        try await openssl("openssl x509 -noout -serial -in '\(path)'")
    }

    /// The serial number of the certificate the server presents to a new connection.
    private static func presentedSerial(port: Int) async throws -> String {
        try await openssl("openssl s_client -connect 127.0.0.1:\(port) </dev/null 2>/dev/null | openssl x509 -noout -serial")
    }

    private static func openssl(_ command: String) async throws -> String {
        let result = try await ProcessRunner.run("/bin/sh", ["-c", command], timeout: .seconds(20))
        let output = result.output.trimmingCharacters(in: .whitespacesAndNewlines)
        guard result.exitCode == 0, output.hasPrefix("serial=") else { throw LiveServerError(message: "\(command): \(result.output)") }
        return output
    }

    /// Whether `condition` holds within 5 s.
    private static func eventually(_ condition: () async throws -> Bool) async throws -> Bool {
        for _ in 0..<50 {
            if try await condition() { return true }
            try await Task.sleep(for: .milliseconds(100))
        }
        return false
    }

    /// Which files, and what the start-up error must say.
    static let unusable: [(certificate: String, key: String, message: String)] = [
        ("missing.pem", "server.key", "--tls-cert-file FOLDER/missing.pem: no such file"),
        ("server.key", "server.key", "--tls-cert-file FOLDER/server.key: does not hold a PEM certificate"),
        ("server.pem", "server.pem", "--tls-key-file FOLDER/server.pem: does not hold an unencrypted PEM private key"),
        ("server.pem", "client.key", "--tls-key-file FOLDER/client.key does not go with the first certificate in FOLDER/server.pem"),
        ("empty.pem", "server.key", "--tls-cert-file FOLDER/empty.pem: does not hold a PEM certificate"),
    ]

    @Test("a certificate or key that cannot be used stops the server, named, before it opens its storage", arguments: 0..<unusable.count)
    func unusableFiles(_ index: Int) async throws {
        let (certificate, key, message) = Self.unusable[index]
        let folder = try TemporaryDirectory()
        try await TestCertificates.make(in: folder.path, names: "IP:127.0.0.1")
        try Data().write(to: URL(fileURLWithPath: folder.path + "/empty.pem"))
        var configuration = LiveChatServer.openAuth
        configuration.port = 0
        configuration.store = .sqlite(path: folder.path + "/data/chat.sqlite")
        configuration.tls = .init(certificateChain: folder.path + "/" + certificate, privateKey: folder.path + "/" + key)
        do {
            _ = try await buildApplication(configuration: configuration, logger: LiveServer.logger("tls-test"))
            Issue.record("the server was built with \(certificate) and \(key)")
        } catch {
            let expected = message.replacingOccurrences(of: "FOLDER", with: folder.path)
            #expect("\(error)".hasPrefix(expected), "\(error)")
        }
        #expect(!FileManager.default.fileExists(atPath: folder.path + "/data"), "the store was opened before the certificate was checked")
    }
}
