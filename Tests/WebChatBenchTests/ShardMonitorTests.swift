import Testing
@testable import webchat_bench

@Suite("What a sharded connections run reads from its helpers")
struct ShardMonitorTests {
    @Test("READY and PROGRESS lines, split anywhere; the JSON report and other lines ignored")
    func lines() {
        var status = ShardMonitor.Status()
        status.consume("REA")
        #expect(status.ready == nil)
        status.consume("DY 100\nPROGRESS 98 2")
        #expect(status.ready == 100)
        #expect(status.open == 0)
        status.consume(" 1\n{\"scenario\":\"connections\"}\nPROGRESS 97 3 4\n")
        #expect(status.open == 97)
        #expect(status.failed == 3)
        #expect(status.errors == 4)
        #expect(status.partial.isEmpty)
    }
}
