import Testing
@testable import webchat_bench

@Suite("The bench's counters and latency histogram")
struct BenchStatsTests {
    @Test("a latency beyond the histogram's range is kept at its maximum and counted, not dropped")
    func overMax() {
        let stats = BenchStats()
        stats.recordLatency(micros: 2_000)
        stats.recordLatency(micros: 700_000_000)
        let latency = stats.latencyMS
        #expect(latency["count"]?.intValue == 2)
        #expect(latency["over_max"]?.intValue == 1)
        #expect((latency["max"]?.doubleValue ?? 0) >= 599_000)
    }

    @Test("messages lost by the end count as errors: undelivered and unacknowledged both")
    func lost() {
        let stats = BenchStats()
        stats.countLost(undelivered: 0, unacked: 0)
        #expect(stats.errors.load(ordering: .relaxed) == 0)
        stats.countLost(undelivered: 3, unacked: 2)
        #expect(stats.errors.load(ordering: .relaxed) == 5)
        #expect(stats.errorSamples.count == 1)
    }

    @Test("every report has the common fields, latency_ms.count and duration_s among them")
    func reportShape() {
        let report = BenchStats().report(scenario: "connections", seconds: 3, extras: ["established": 2])
        for key in ["scenario", "connections", "sent", "acked", "delivered", "errors", "delivered_per_s", "latency_ms", "duration_s", "established"] {
            #expect(report[key] != nil, "missing \(key)")
        }
        #expect(report["latency_ms"]?["count"]?.intValue == 0)
    }
}
