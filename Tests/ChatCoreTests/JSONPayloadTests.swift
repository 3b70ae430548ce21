import Testing
@testable import ChatCore

@Suite struct JSONPayloadTests {
    @Test func splicesSeqFirst() {
        #expect(String(decoding: JSONPayload.splicingSeq(7, into: Array(#"{"a":1}"#.utf8)), as: UTF8.self) == #"{"seq":7,"a":1}"#)
        #expect(String(decoding: JSONPayload.splicingSeq(1, into: Array("{}".utf8)), as: UTF8.self) == #"{"seq":1}"#)
    }
}
