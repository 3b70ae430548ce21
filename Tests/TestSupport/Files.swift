import Foundation

/// A fresh folder under the system's temporary directory, removed when the value is released.
public final class TemporaryDirectory: Sendable {
    /// The folder's path.
    public let path: String

    public init() throws {
        let url = FileManager.default.temporaryDirectory.appending(path: "webchat-test-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        self.path = url.path
    }

    deinit {
        try? FileManager.default.removeItem(atPath: path)
    }
}

/// The package's executables, as built beside the test bundle (`swift build` puts them there).
public enum Executables {
    /// The path of the built executable `name`; throws with a hint when it has not been built.
    public static func path(of name: String) throws -> String {
        let bundle = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent()
        let candidate = bundle.appending(path: name).path
        guard FileManager.default.isExecutableFile(atPath: candidate) else {
            throw LiveServerError(message: "\(candidate) is missing: run `swift build` before `swift test` (scripts/test does)")
        }
        return candidate
    }
}

/// Certificates that openssl makes for a test, in `folder`: a CA of its own (`ca.pem`), a server
/// certificate it signed for `names` (`server.pem`, `server.key`), a client certificate it signed
/// (`client.pem`, `client.key`), and a second CA that signed nothing here (`other-ca.pem`).
public enum TestCertificates {
    /// `names`: the server certificate's subject alternative names, e.g. `IP:127.0.0.1,DNS:localhost`.
    public static func make(in folder: String, names: String) async throws {
        let steps: [[String]] = [
            ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=webchat test CA"],
            ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "other-ca.key", "-out", "other-ca.pem", "-days", "2", "-subj", "/CN=another CA"],
            ["req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=localhost"],
            ["x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-out", "server.pem", "-days", "2",
             "-extfile", "san.cnf"],
            ["req", "-newkey", "rsa:2048", "-nodes", "-keyout", "client.key", "-out", "client.csr", "-subj", "/CN=webchat node"],
            ["x509", "-req", "-in", "client.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-out", "client.pem", "-days", "2"],
        ]
        try "subjectAltName=\(names)\n".write(toFile: folder + "/san.cnf", atomically: true, encoding: .utf8)
        for step in steps {
            let result = try await ProcessRunner.run("/usr/bin/env", ["openssl"] + step, directory: folder, timeout: .seconds(60))
            guard result.exitCode == 0 else {
                throw LiveServerError(message: "openssl \(step[0]) failed (install Debian's openssl; scripts/test does): \(result.output)")
            }
        }
    }
}
