import NIOCore
import SocketIO
import Testing

@Suite("JSONValue parser and serializer")
struct JSONValueTests {
    @Test func parsesAndSerializesEveryKind() throws {
        let text = #"{"a":[1,-2.5,true,false,null,"x"],"b":{"c":{}},"d":[],"e":1e3,"f":-0}"#
        let value = try JSONValue(parsing: text)
        #expect(value["a"]?[0]?.intValue == 1)
        #expect(value["a"]?[1]?.doubleValue == -2.5)
        #expect(value["a"]?[2]?.boolValue == true)
        #expect(value["a"]?[4]?.isNull == true)
        #expect(value["a"]?[5]?.stringValue == "x")
        #expect(value["b"]?["c"]?.objectValue?.isEmpty == true)
        #expect(value["d"]?.arrayValue?.isEmpty == true)
        #expect(value["e"]?.intValue == 1000)
        #expect(value.jsonString == #"{"a":[1,-2.5,true,false,null,"x"],"b":{"c":{}},"d":[],"e":1000,"f":0}"#)
        #expect(try JSONValue(parsing: value.jsonString) == value)
    }

    @Test func stringsWithEscapesAndUnicode() throws {
        let value = try JSONValue(parsing: #"" \"q\" \\ \/ \b\f\n\r\t \u00e9 \ud83d\ude00 é 😀 \u0001""#)
        #expect(value.stringValue == " \"q\" \\ / \u{8}\u{c}\n\r\t é 😀 é 😀 \u{1}")
        #expect(value.jsonString == #"" \"q\" \\ / \b\f\n\r\t é 😀 é 😀 \u0001""#)
        #expect(try JSONValue(parsing: value.jsonString) == value)
    }

    /// Valid JSON (RFC 8259 §8.2), what `JSON.stringify` writes for half of an emoji cut in
    /// two: each lone surrogate reads as U+FFFD, and the text around it is kept.
    @Test(arguments: [
        (#""\ud83d""#, "\u{FFFD}"), (#""\ude00""#, "\u{FFFD}"), (#""a\ud83db""#, "a\u{FFFD}b"),
        (#""\ud83d\u0041""#, "\u{FFFD}A"), (#""\ud83d\ud83d\ude00""#, "\u{FFFD}😀"), (#""\ude00\ud83d""#, "\u{FFFD}\u{FFFD}"),
    ])
    func loneSurrogatesReadAsReplacementCharacters(_ text: String, _ expected: String) throws {
        #expect(try JSONValue(parsing: text).stringValue == expected)
    }

    @Test func largeIntegersStayExact() throws {
        #expect(try JSONValue(parsing: "9007199254740993").intValue == 9_007_199_254_740_993)
        #expect(try JSONValue(parsing: "1e400").doubleValue == .infinity)
        #expect(try JSONValue(parsing: "123456789012345678901234567890").doubleValue != nil)
    }

    @Test(arguments: [
        "", " ", "{", "}", "[1,]", "[1 2]", "{\"a\"}", "{\"a\":}", "{a:1}", "{\"a\":1,}", "tru", "nul", "01", "-", "1.",
        "1e", ".5", "+1", "\"abc", "\"\\x\"", "\"\\u12\"", "\"\\ud800\\u12\"", "\"a\u{01}\"", "[1]x", "NaN", "'a'",
        String(repeating: "[", count: 200) + String(repeating: "]", count: 200),
    ])
    func malformedJSONIsRejected(_ text: String) {
        #expect(throws: JSONParseError.self) { try JSONValue(parsing: text) }
    }

    /// A name twice in one object is refused, at any depth and however it is spelled (an
    /// escape spells the same name), so that no two readers of one text disagree on its value.
    @Test(arguments: [
        #"{"to":"bob","to":"carol"}"#, #"{"a":{"b":1,"b":1}}"#, #"[{"id":1},{"x":{"id":1,"id":2}}]"#,
        #"{"to":"bob","t\u006f":"carol"}"#,
    ])
    func duplicateNamesAreRejected(_ text: String) {
        #expect(throws: JSONParseError.self) { try JSONValue(parsing: text) }
    }

    @Test func theDuplicateNameIsReportedWhereItStands() {
        let error = #expect(throws: JSONParseError.self) { try JSONValue(parsing: #"{"to":"bob","to":"carol"}"#) }
        #expect(error?.offset == 12)
        #expect(error?.description == "invalid JSON: duplicate member name at byte 12")
        // The same name in sibling objects is no duplicate.
        #expect(throws: Never.self) { try JSONValue(parsing: #"[{"id":1},{"id":2}]"#) }
    }

    @Test func invalidUTF8IsRejected() {
        #expect(throws: JSONParseError.self) { try JSONValue(parsing: [0x22, 0xFF, 0xFE, 0x22]) }
        // After ASCII, without escapes (the path that skips validation for ASCII), and with one.
        #expect(throws: JSONParseError.self) { try JSONValue(parsing: Array(#""abc"#.utf8) + [0xC3, 0x28, 0x22]) }
        #expect(throws: JSONParseError.self) { try JSONValue(parsing: Array(#""a\n"#.utf8) + [0xE2, 0x82, 0x22]) }
    }

    @Test func stringsWithoutEscapesKeepTheirText() throws {
        #expect(try JSONValue(parsing: #"["plain", "é 😀 ü", "", "tab\there"]"#)
                == ["plain", "é 😀 ü", "", "tab\there"])
    }

    @Test func accessorsReturnNilForOtherKinds() {
        let value: JSONValue = ["to": "bob", "n": 3, "ok": true, "list": [1, 2]]
        #expect(value["to"]?.stringValue == "bob")
        #expect(value["to"]?.intValue == nil)
        #expect(value["n"]?.intValue == 3)
        #expect(value["ok"]?.boolValue == true)
        #expect(value["list"]?.arrayValue?.count == 2)
        #expect(value["missing"] == nil)
        #expect(value[0] == nil)
    }
}
