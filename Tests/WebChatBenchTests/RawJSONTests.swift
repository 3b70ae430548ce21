import NIOCore
import Testing
@testable import webchat_bench

@Suite("The load generator's undecoded JSON reads")
struct RawJSONTests {
    /// Runs `body` over the UTF-8 bytes of `text`.
    private func with<T>(_ text: String, _ body: (RawJSON) -> T) -> T {
        Array(text.utf8).withUnsafeBytes { body(RawJSON(bytes: $0)) }
    }

    /// The text of `range` in `text`.
    private func slice(_ text: String, _ range: Range<Int>?) -> String? {
        range.map { String(decoding: Array(text.utf8)[$0], as: UTF8.self) }
    }

    @Test("elements of an event array: the name and the first argument, nested values skipped whole")
    func elements() {
        let text = #" ["message", {"id":"a","nested":{"x":[1,2,{"y":"]"}]},"body":"12:xx"} , 3]"#
        let ranges = with(text) { $0.elements(of: $0.whole, upTo: 2) }
        #expect(ranges?.count == 2)
        #expect(slice(text, ranges?[0]) == #""message""#)
        #expect(slice(text, ranges?[1]) == #"{"id":"a","nested":{"x":[1,2,{"y":"]"}]},"body":"12:xx"}"#)
        #expect(with("[]") { $0.elements(of: $0.whole, upTo: 2) }?.isEmpty == true)
        #expect(with(#"["only"]"#) { $0.elements(of: $0.whole, upTo: 2) }?.count == 1)
    }

    @Test("members by key, past strings with escaped quotes; missing keys are nil")
    func members() {
        let text = #"{"a":"x\"body\":1","body":"1700000000123:xxxx","ok":true}"#
        #expect(slice(text, with(text) { $0.member("body", of: $0.whole) }) == #""1700000000123:xxxx""#)
        #expect(with(text) { json in json.member("ok", of: json.whole).map { json.isTrue($0) } } == true)
        #expect(with(text) { $0.member("missing", of: $0.whole) } == nil)
        #expect(with(#"{"ok":false}"#) { json in json.member("ok", of: json.whole).map { json.isTrue($0) } } == false)
    }

    @Test("malformed or truncated text reads as nil, so the client decodes it fully")
    func malformed() {
        for text in [#"["message", {"body":"1:x"}"#, #"["message" {"body":"1:x"}]"#, #"{"body" "1:x"}"#, #"["unterminated]"#, "{", "["] {
            let elements = with(text) { $0.elements(of: $0.whole, upTo: 2) }
            let member = with(text) { $0.member("body", of: $0.whole) }
            #expect(elements == nil || elements?.count ?? 0 < 2, "\(text)")
            #expect(member == nil, "\(text)")
        }
    }

    @Test("names compare exactly; the send time is the number before the colon")
    func namesAndNumbers() {
        #expect(with(#""message""#) { $0.isString($0.whole, equalTo: "message") })
        #expect(!with(#""messages""#) { $0.isString($0.whole, equalTo: "message") })
        #expect(!with(#""messag""#) { $0.isString($0.whole, equalTo: "message") })
        #expect(with(#""1700000000123:xxxx""#) { $0.leadingNumber(ofString: $0.whole) } == 1_700_000_000_123)
        #expect(with(#""12x:""#) { $0.leadingNumber(ofString: $0.whole) } == nil)
        #expect(with(#"":xx""#) { $0.leadingNumber(ofString: $0.whole) } == nil)
        #expect(with(#""123""#) { $0.leadingNumber(ofString: $0.whole) } == nil)
        #expect(with(#""99999999999999999999999:""#) { $0.leadingNumber(ofString: $0.whole) } == nil)
    }

    @Test("decimals written into a buffer read back as the same number")
    func decimals() {
        for value: UInt64 in [0, 7, 10, 99, 100, 12345, 1_700_000_000_123_456_789, .max] {
            var buffer = ByteBuffer()
            buffer.writeDecimal(value)
            #expect(String(buffer: buffer) == String(value))
        }
    }
}
