import Testing

/// Group chat end to end (PROTOCOL.md §4-§5): each scenario of
/// `Tests/e2e/group_scenarios.py` against a live server.
@Suite("Groups end to end", .serialized)
struct GroupEndToEndTests {
    @Test(arguments: [
        "group_create_and_fan_out", "group_read_receipts", "group_invite", "group_leave",
        "group_outsiders", "group_rest_create",
    ])
    func scenario(_ name: String) async throws {
        try await LiveChatServer.with(LiveChatServer.openAuth) { server in
            try await E2E.run(name, "--url", server.url)
        }
    }
}
