import ChatServer
import Foundation
import Testing
import TestSupport

/// PROTOCOL.md §2-§5 end to end: each scenario of `Tests/e2e/run_scenario.py` drives a
/// live server with python-socketio clients and the REST API, and must exit 0.
@Suite("Chat end to end", .serialized)
struct ChatEndToEndTests {
    static let inProcessScenarios = [
        "online_delivery", "delivered_after_ack", "read_receipts", "from_is_ignored", "idempotent_resend",
        "store_and_forward", "unacked_replayed", "since_replay", "bad_input_errors", "call_log",
        "history_paging", "history_of_others_is_404", "rest_requires_token", "socket_requires_token",
        "typing", "presence", "polling_transport", "operational_endpoints", "openapi_matches",
    ]

    @Test("scenario on an in-process server (open auth, SQLite)", arguments: inProcessScenarios)
    func scenario(_ name: String) async throws {
        try await LiveChatServer.with(LiveChatServer.openAuth) { server in
            try await E2E.run(name, "--url", server.url)
        }
    }

    @Test("a connection holds at most 1,000 unacknowledged events; the rest wait and are replayed")
    func unackedLimit() async throws {
        // The scenario sends 1,012 messages as fast as the server answers.
        try await run("unacked_limit_then_replay", rateBurst: 100_000, ratePerSecond: 100_000)
    }

    @Test("rate limits answer rate_limited and disconnect a flood only")
    func rateLimited() async throws {
        try await run("rate_limited", rateBurst: 20, ratePerSecond: 5)
    }

    /// Runs `scenario` on an in-process server with these per-connection rate limits.
    private func run(_ scenario: String, rateBurst: Int, ratePerSecond: Double) async throws {
        var configuration = LiveChatServer.openAuth
        configuration.rateBurst = rateBurst
        configuration.ratePerSecond = ratePerSecond
        try await LiveChatServer.with(configuration) { server in
            try await E2E.run(scenario, "--url", server.url)
        }
    }

    @Test("a user holds at most --max-connections-per-user connections on a node")
    func connectionsPerUser() async throws {
        var configuration = LiveChatServer.openAuth
        configuration.maxConnectionsPerUser = 3
        try await LiveChatServer.with(configuration) { server in
            try await E2E.run("connections_per_user", "--url", server.url)
        }
    }

    @Test("a client address holds at most --max-pending-connections-per-address sessions not yet connected")
    func pendingConnectionsPerAddress() async throws {
        var configuration = LiveChatServer.openAuth
        configuration.maxPendingConnectionsPerAddress = 3
        configuration.connectTimeoutMS = 1_500
        configuration.trustedProxies = [AddressRange("127.0.0.1")!]
        try await LiveChatServer.with(configuration) { server in
            try await E2E.run("pending_connections_per_address", "--url", server.url)
        }
    }

    @Test("CORS and WebSocket origins follow --cors-origins")
    func corsAndOrigins() async throws {
        var configuration = LiveChatServer.openAuth
        configuration.corsOrigins = ["http://allowed.example"]
        try await LiveChatServer.with(configuration) { server in
            try await E2E.run("cors_and_origins", "--url", server.url)
        }
    }

    @Test("scenario with the server as a child process (kill -9 and restart; one process per SQLite file; password mode and its logs; sign-ins per address; tokens ending sockets; SIGTERM)",
          arguments: ["kill9_nothing_lost", "sqlite_one_process", "password_mode", "sign_in_limit_per_address", "tokens_end_sockets", "graceful_shutdown"])
    func childProcessScenario(_ name: String) async throws {
        let binary = try Executables.path(of: "webchat")
        let tmp = try TemporaryDirectory()
        try await E2E.run(name, "--server-bin", binary, "--tmp", tmp.path)
    }
}
