import ChatServer
import Foundation
import Testing
import TestSupport

/// `GET /api/v1/limits` on a live server with limits other than the defaults: it reports
/// them, and each is the one the server enforces (`Tests/python/limits_client.py`).
@Suite("Limits end to end")
struct LimitsEndToEndTests {
    @Test("GET /limits reports the configured limits; input at each is taken, one more is refused")
    func limitsAreReportedAndEnforced() async throws {
        var configuration = LiveChatServer.openAuth
        configuration.chat = .init(maxMessageChars: 20, maxGroupMembers: 3, maxGroupNameChars: 10, maxReadIds: 5)
        let expected = #"{"maxMessageChars":20,"maxGroupMembers":3,"maxGroupNameChars":10,"maxNameChars":64,"maxReadIds":5}"#
        try await LiveChatServer.with(configuration) { server in
            let result = try await PythonScript.run("limits_client.py", arguments: [server.url, expected], timeout: .seconds(120))
            #expect(result.exitCode == 0, "limits_client.py failed:\n\(result.output)")
        }
    }
}
