import Testing
import TestSupport

/// The web client in headless Chromium (Selenium), against the real server binary:
/// `Tests/browser/test_webchat.py` (the people's scenarios) and
/// `Tests/browser/test_socketio_client.py` (our Socket.IO client module against
/// python-socketio's server). pytest must report every test passed and none skipped.
@Suite("Web client in a browser", .serialized)
struct BrowserTests {
    @Test(arguments: ["test_socketio_client.py", "test_webchat.py"])
    func pytest(_ file: String) async throws {
        let binary = try Executables.path(of: "webchat")
        let result = try await PythonScript.run(
            module: "pytest",
            arguments: ["-q", "-p", "no:cacheprovider", "-rs", "Tests/browser/\(file)"],
            environment: ["WEBCHAT_BIN": binary],
            timeout: .seconds(900)
        )
        #expect(result.exitCode == 0, "\(file) failed:\n\(result.output)")
        #expect(!result.output.contains(" skipped"), "\(file) skipped tests:\n\(result.output)")
        #expect(result.output.contains(" passed"), "\(file) ran no test:\n\(result.output)")
    }
}
