import Foundation
import Histogram
import NIOConcurrencyHelpers
import NIOCore
import SocketIO
import Synchronization

/// Counters and the latency histogram of one run, shared by every client.
final class BenchStats: Sendable {
    let connections = Atomic<Int>(0)
    /// The most connections open at once (what the report calls `connections`).
    let peakConnections = Atomic<Int>(0)
    let failedConnections = Atomic<Int>(0)
    let sent = Atomic<Int>(0)
    let acked = Atomic<Int>(0)
    let delivered = Atomic<Int>(0)
    let errors = Atomic<Int>(0)
    private let latency = NIOLockedValueBox(Histogram<UInt64>(highestTrackableValue: 600_000_000, numberOfSignificantValueDigits: .three))
    private let firstErrors = NIOLockedValueBox([String]())

    /// Counts a connection that completed its namespace CONNECT.
    func connected() {
        let now = connections.add(1, ordering: .relaxed).newValue
        peakConnections.max(now, ordering: .relaxed)
    }

    /// A client closed: one connection fewer if it had connected. Returns whether it had.
    @discardableResult
    func closed(_ client: SocketIOClient) -> Bool {
        guard client.isConnected else { return false }
        connections.add(-1, ordering: .relaxed)
        return true
    }

    /// Records one latency, measured from `sentAt` (monotonic nanoseconds) to now.
    func recordLatency(sentAt: UInt64) {
        let now = Self.now()
        let micros = now > sentAt ? (now - sentAt) / 1000 : 0
        latency.withLockedValue { _ = $0.record(Swift.max(micros, 1)) }
    }

    /// Counts an error and keeps the first few messages for the report.
    func error(_ message: String) {
        errors.add(1, ordering: .relaxed)
        firstErrors.withLockedValue { if $0.count < 5 { $0.append(message) } }
    }

    var errorSamples: [String] { firstErrors.withLockedValue { $0 } }

    /// Latency percentiles in milliseconds.
    var latencyMS: JSONValue {
        latency.withLockedValue { h in
            func ms(_ micros: UInt64) -> JSONValue { .double((Double(micros) / 1000 * 1000).rounded() / 1000) }
            guard h.totalCount > 0 else { return ["p50": 0, "p90": 0, "p99": 0, "max": 0, "count": 0] }
            return [
                "p50": ms(h.valueAtPercentile(50)), "p90": ms(h.valueAtPercentile(90)),
                "p99": ms(h.valueAtPercentile(99)), "max": ms(h.max), "count": .int(Int(h.totalCount)),
            ]
        }
    }

    /// Monotonic time in nanoseconds, the same clock on every thread.
    static func now() -> UInt64 { NIODeadline.now().uptimeNanoseconds }

    /// The report every scenario prints, with the scenario's extras merged in.
    func report(scenario: String, seconds: Double, extras: [String: JSONValue] = [:]) -> JSONValue {
        let delivered = self.delivered.load(ordering: .relaxed)
        var object: [String: JSONValue] = [
            "scenario": .string(scenario),
            "connections": .int(max(connections.load(ordering: .relaxed), peakConnections.load(ordering: .relaxed))),
            "sent": .int(sent.load(ordering: .relaxed)),
            "acked": .int(acked.load(ordering: .relaxed)),
            "delivered": .int(delivered),
            "errors": .int(errors.load(ordering: .relaxed)),
            "delivered_per_s": .double(seconds > 0 ? (Double(delivered) / seconds).rounded() : 0),
            "latency_ms": latencyMS,
            "duration_s": .double(seconds),
        ]
        if !errorSamples.isEmpty { object["error_samples"] = .array(errorSamples.map { .string($0) }) }
        for (key, value) in extras { object[key] = value }
        return .object(object)
    }
}

/// Prints a progress line to standard error once a second until cancelled.
func progressTask(_ stats: BenchStats, label: String) -> Task<Void, Never> {
    Task.detached {
        let start = Date()
        var lastDelivered = 0
        while !Task.isCancelled {
            try? await Task.sleep(for: .seconds(1))
            if Task.isCancelled { break }
            let delivered = stats.delivered.load(ordering: .relaxed)
            let line = String(
                format: "[%@ %5.1fs] conn=%d failed=%d sent=%d acked=%d delivered=%d (%d/s) errors=%d\n",
                label, Date().timeIntervalSince(start), stats.connections.load(ordering: .relaxed),
                stats.failedConnections.load(ordering: .relaxed), stats.sent.load(ordering: .relaxed),
                stats.acked.load(ordering: .relaxed), delivered, delivered - lastDelivered, stats.errors.load(ordering: .relaxed))
            lastDelivered = delivered
            FileHandle.standardError.write(line.data(using: .utf8)!)
        }
    }
}

/// Writes a line to standard error.
func log(_ text: String) {
    FileHandle.standardError.write((text + "\n").data(using: .utf8)!)
}
