import Foundation
import Testing
@testable import webchat_bench

@Suite("Scenario arguments are checked before anything runs")
struct ValidationTests {
    /// Arguments each scenario must refuse, and what the message must mention.
    static let refusals: [(arguments: [String], mentions: String)] = [
        (["direct", "--pairs=-1"], "--pairs"),
        (["direct", "--pairs", "0"], "--pairs"),
        (["direct", "--window", "0"], "--window"),
        (["direct", "--rate", "0"], "--rate"),
        (["direct", "--rate=-5"], "--rate"),
        (["direct", "--duration", "0"], "--duration"),
        (["direct", "--size=-1"], "--size"),
        (["direct", "--size", "20"], "at least \(minimumBodySize)"),
        (["direct", "--threads", "0"], "--threads"),
        (["group", "--concurrency", "0"], "--concurrency"),
        (["drain", "--url", "http://example.com:80"], "loopback"),
        (["drain", "--url", "http://127.0.0.1:x"], "port"),
        (["connections", "--sources", "127.0.0.9-127.0.0.1"], "--sources"),
        (["group", "--members", "1"], "--members"),
        (["group", "--senders", "0"], "--senders"),
        (["group", "--members", "3", "--senders", "4"], "--senders"),
        (["group", "--window", "0"], "--window"),
        (["group", "--duration=-1"], "--duration"),
        (["group", "--size", "3"], "at least \(minimumBodySize)"),
        (["drain", "--messages", "0"], "--messages"),
        (["drain", "--window", "0"], "--window"),
        (["echo", "--clients", "0"], "--clients"),
        (["connections", "--count", "0"], "--count"),
        (["connections", "--hold", "0"], "--hold"),
        (["connections", "--users", "0"], "--users"),
        (["connections", "--per-process", "0"], "--per-process"),
        // Above the kernel's pid_max (at most 2^22), so no process has it.
        (["connections", "--server-pid", "99999999"], "no such process"),
    ]

    @Test("refused with a usage error (exit 64) that says what is wrong", arguments: refusals)
    func refused(_ arguments: [String], mentions: String) {
        do {
            _ = try WebChatBench.parseAsRoot(arguments)
            Issue.record("accepted \(arguments)")
        } catch {
            #expect(WebChatBench.exitCode(for: error).rawValue == 64)
            let message = WebChatBench.message(for: error)
            #expect(message.contains(mentions), "\(message)")
        }
    }

    @Test("sensible arguments pass: the smallest body, a fractional rate, several URLs, a live server pid")
    func accepted() throws {
        _ = try WebChatBench.parseAsRoot(["direct", "--pairs", "1", "--rate", "0.5", "--size", "\(minimumBodySize)"])
        _ = try WebChatBench.parseAsRoot(["echo", "--url", "http://127.0.0.1:8080,ws://localhost:8081"])
        _ = try WebChatBench.parseAsRoot(["connections", "--count", "1", "--server-pid", "\(getpid())"])
    }
}
