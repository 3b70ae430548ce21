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
        let folder = try TemporaryDirectory()
        try await TestCertificates.make(in: folder.path, names: "IP:127.0.0.1,DNS:localhost")
        var configuration = LiveChatServer.openAuth
        configuration.tls = .init(certificateChain: folder.path + "/server.pem", privateKey: folder.path + "/server.key")
        try await LiveChatServer.with(configuration) { server in
            #expect(server.url.hasPrefix("https://"))
            try await E2E.run(["https_and_wss", "--url", server.url], environment: ["WEBCHAT_TEST_CA_FILE": folder.path + "/ca.pem"])
        }
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
