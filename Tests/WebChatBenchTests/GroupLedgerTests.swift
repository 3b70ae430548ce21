import Testing
@testable import webchat_bench

@Suite("The group scenario's messages in flight")
struct GroupLedgerTests {
    @Test("the last recipient completes a message and names its sender")
    func lastRecipient() {
        var ledger = GroupLedger()
        ledger.sent(id: "m1", sender: 2, recipients: 3, at: 100)
        #expect(ledger.delivered(id: "m1") == nil)
        #expect(ledger.delivered(id: "m1") == nil)
        #expect(ledger.delivered(id: "m1") == GroupLedger.Entry(remaining: 0, sender: 2, sentAt: 100))
        #expect(ledger.pendingCount == 0)
        #expect(ledger.delivered(id: "m1") == nil)
        #expect(ledger.delivered(id: "unknown") == nil)
    }

    @Test("acks map back to their messages per sender; other acks (group:create) to nothing")
    func acks() {
        var ledger = GroupLedger()
        ledger.sent(id: "a", sender: 0, recipients: 1, at: 0)
        ledger.awaitAck(sender: 0, ackID: 7, id: "a")
        ledger.awaitAck(sender: 1, ackID: 7, id: "b")
        #expect(ledger.awaitingAcks == 2)
        #expect(ledger.answered(sender: 0, ackID: 7) == "a")
        #expect(ledger.answered(sender: 0, ackID: 7) == nil)
        #expect(ledger.answered(sender: 0, ackID: 1) == nil)
        #expect(ledger.awaitingAcks == 1)
        #expect(ledger.drop(id: "a")?.sender == 0)
        #expect(ledger.pendingCount == 0)
    }

    @Test("messages some member lacks after the timeout are given up, oldest first; newer ones stay")
    func expiry() {
        var ledger = GroupLedger()
        ledger.sent(id: "old2", sender: 1, recipients: 4, at: 20)
        ledger.sent(id: "old1", sender: 0, recipients: 4, at: 10)
        ledger.sent(id: "new", sender: 0, recipients: 4, at: 50)
        _ = ledger.delivered(id: "old1")
        let expired = ledger.expire(sentBefore: 30)
        #expect(expired.map(\.id) == ["old1", "old2"])
        #expect(expired.map(\.entry.remaining) == [3, 4])
        #expect(ledger.pendingCount == 1)
        // A late receipt of an expired message completes nothing.
        #expect(ledger.delivered(id: "old1") == nil)
        #expect(ledger.expire(sentBefore: .max).map(\.id) == ["new"])
    }
}
