import Foundation
import Logging
import Testing

@testable import SocketIO

@Suite("Namespace")
struct NamespaceTests {
    /// Every CONNECT reads the handler. Stored as a bare generic value, a function is wrapped in
    /// two reabstraction thunks on each read and written back, so the chain (and the work and
    /// async frames of every later call) grew with each connection: quadratic in total, and the
    /// memory that once stopped one process from holding 19,000 connections. Two million reads
    /// would keep ~200 MB of thunk contexts alive that way; the bound leaves room for what the
    /// suites running beside this one allocate meanwhile (resident memory is the process's: 15 MB
    /// was seen over half a million reads with the live conformance tests running).
    @Test("reading the connection handler leaves it as it was")
    func handlerReadsDoNotAccumulate() throws {
        let server = SocketIOServer(logger: Logger(label: "test"))
        let namespace = server.namespace("/")
        namespace.onConnection { _, _ in }
        _ = namespace.connectionHandler
        let before = try Self.residentBytes()
        for _ in 0..<2_000_000 {
            #expect(namespace.connectionHandler != nil)
        }
        let growth = try Self.residentBytes() - before
        #expect(growth < 48 << 20, "resident memory grew \(growth) bytes over 2,000,000 reads")
    }

    private static func residentBytes() throws -> Int {
        let status = try String(contentsOfFile: "/proc/self/status", encoding: .utf8)
        let line = try #require(status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") })
        let kilobytes = try #require(Int(line.split(separator: " ", omittingEmptySubsequences: true)[1]))
        return kilobytes * 1024
    }
}
