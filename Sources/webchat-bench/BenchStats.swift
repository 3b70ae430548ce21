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
    /// Paced sends that fell due while the window was full, so left late (`direct --rate`).
    let behindSchedule = Atomic<Int>(0)
    /// The largest delay from a paced message's intended to its actual send, in nanoseconds.
    let scheduleLagMax = Atomic<Int>(0)
    /// Set once the scenario closes its own clients: closes from then on are no errors.
    let closing = Atomic<Bool>(false)
    /// Latencies above the histogram's range, recorded as its highest value.
    let latencyOverMax = Atomic<Int>(0)
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
        recordLatency(micros: now > sentAt ? (now - sentAt) / 1000 : 0)
    }

    /// Records one latency in microseconds; one beyond the histogram's range is recorded as
    /// its highest value and counted (`latency_ms.over_max`), not dropped.
    func recordLatency(micros: UInt64) {
        let fits = latency.withLockedValue { histogram in
            if micros <= histogram.highestTrackableValue, histogram.record(Swift.max(micros, 1)) { return true }
            histogram.record(histogram.highestTrackableValue)
            return false
        }
        if !fits { latencyOverMax.add(1, ordering: .relaxed) }
    }

    /// Counts an error and keeps the first few messages for the report.
    func error(_ message: String) {
        errors.add(1, ordering: .relaxed)
        firstErrors.withLockedValue { if $0.count < 5 { $0.append(message) } }
    }

    /// Counts messages sent but never delivered, and sent but never acknowledged, by the end
    /// of the run as errors: a message lost outright is both, two errors.
    func countLost(undelivered: Int, unacked: Int) {
        guard undelivered > 0 || unacked > 0 else { return }
        errors.add(undelivered + unacked, ordering: .relaxed)
        firstErrors.withLockedValue {
            if $0.count < 5 { $0.append("\(undelivered) messages never delivered, \(unacked) never acknowledged by the end") }
        }
    }

    /// The schedule's figures for the progress line of a paced run.
    var scheduleProgress: String {
        let lag = milliseconds(nanoseconds: UInt64(scheduleLagMax.load(ordering: .relaxed)))
        return "late=\(behindSchedule.load(ordering: .relaxed)) lag_max=\(lag)ms"
    }

    var errorSamples: [String] { firstErrors.withLockedValue { $0 } }

    /// Latency percentiles in milliseconds.
    var latencyMS: JSONValue {
        latency.withLockedValue { h in
            func ms(_ micros: UInt64) -> JSONValue { .double((Double(micros) / 1000 * 1000).rounded() / 1000) }
            let overMax = JSONValue.int(latencyOverMax.load(ordering: .relaxed))
            guard h.totalCount > 0 else { return ["p50": 0, "p90": 0, "p99": 0, "max": 0, "count": 0, "over_max": overMax] }
            return [
                "p50": ms(h.valueAtPercentile(50)), "p90": ms(h.valueAtPercentile(90)),
                "p99": ms(h.valueAtPercentile(99)), "max": ms(h.max), "count": .int(Int(h.totalCount)),
                "over_max": overMax,
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

/// Prints a progress line to standard error once a second until cancelled; `extra` adds
/// the scenario's own figures to it.
func progressTask(_ stats: BenchStats, label: String, extra: (@Sendable () -> String)? = nil) -> Task<Void, Never> {
    Task.detached {
        let start = Date()
        var lastDelivered = 0
        while !Task.isCancelled {
            try? await Task.sleep(for: .seconds(1))
            if Task.isCancelled { break }
            let delivered = stats.delivered.load(ordering: .relaxed)
            let line = String(
                format: "[%@ %5.1fs] conn=%d failed=%d sent=%d acked=%d delivered=%d (%d/s) errors=%d%@\n",
                label, Date().timeIntervalSince(start), stats.connections.load(ordering: .relaxed),
                stats.failedConnections.load(ordering: .relaxed), stats.sent.load(ordering: .relaxed),
                stats.acked.load(ordering: .relaxed), delivered, delivered - lastDelivered, stats.errors.load(ordering: .relaxed),
                extra.map { " " + $0() } ?? "")
            lastDelivered = delivered
            FileHandle.standardError.write(line.data(using: .utf8)!)
        }
    }
}

/// Writes a line to standard error.
func log(_ text: String) {
    FileHandle.standardError.write((text + "\n").data(using: .utf8)!)
}

/// `nanoseconds` in milliseconds, rounded to the microsecond.
func milliseconds(nanoseconds: UInt64) -> Double {
    (Double(nanoseconds) / 1000).rounded() / 1000
}
