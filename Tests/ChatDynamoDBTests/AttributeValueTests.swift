@testable import ChatDynamoDB
import Foundation
import Testing

@Suite struct AttributeValueTests {
    static let values: [AttributeValue] = [
        .s(""), .s("héllo \u{1F600} \"quoted\" \\ / \n"), .n("0"), .n("-9223372036854775808"), .n("12.5e3"),
        .b([]), .b(Array(0...255)), .bool(true), .bool(false), .null,
        .l([]), .l([.s("a"), .n("1"), .l([.null])]),
        .m([:]), .m(["nested": .m(["deeper": .ss(["x", "y"])]), "list": .strings(["a", "b"])]),
        .ss(["a", "b"]), .ns(["1", "2.5"]), .bs([[0], [255, 254]]),
    ]

    @Test(arguments: values)
    func roundTrips(_ value: AttributeValue) throws {
        let data = try JSONEncoder().encode(value)
        #expect(try JSONDecoder().decode(AttributeValue.self, from: data) == value)
    }

    @Test func wireShapes() throws {
        func json(_ value: AttributeValue) throws -> String {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            return String(decoding: try encoder.encode(value), as: UTF8.self)
        }
        #expect(try json(.s("x")) == #"{"S":"x"}"#)
        #expect(try json(.int(Int64(42))) == #"{"N":"42"}"#)
        #expect(try json(.b([0, 1, 2, 250])) == #"{"B":"AAEC+g=="}"#)
        #expect(try json(.null) == #"{"NULL":true}"#)
        #expect(try json(.bool(false)) == #"{"BOOL":false}"#)
        #expect(try json(.m(["k": .l([.s("v")])])) == #"{"M":{"k":{"L":[{"S":"v"}]}}}"#)
        #expect(try json(.ns(["1", "2"])) == #"{"NS":["1","2"]}"#)
        #expect(try json(.bs([[255]])) == #"{"BS":["/w=="]}"#)
    }

    @Test(arguments: [#"{"S":"a","N":"1"}"#, #"{}"#, #"{"B":"not base64!"}"#, #"{"X":"1"}"#, #"{"N":1}"#])
    func refusesMalformedValues(_ json: String) {
        #expect(throws: DecodingError.self) { try JSONDecoder().decode(AttributeValue.self, from: Data(json.utf8)) }
    }

    @Test func accessors() {
        #expect(AttributeValue.int(Int64(7)).int64 == 7)
        #expect(AttributeValue.strings(["a", "b"]).stringList == ["a", "b"])
        #expect(AttributeValue.ss(["c"]).stringList == ["c"])
        #expect(AttributeValue.ns(["3", "1"]).intList == [3, 1])
        #expect(AttributeValue.s("x").int64 == nil && AttributeValue.n("x").int64 == nil)
    }
}
