import NIOCore

/// Why JSON text was rejected, and where.
public struct JSONParseError: Error, Sendable, Hashable, CustomStringConvertible {
    private enum Reason: String, Sendable {
        case unexpectedEnd = "unexpected end of input"
        case unexpectedCharacter = "unexpected character"
        case invalidNumber = "invalid number"
        case invalidEscape = "invalid escape"
        case invalidUTF8 = "invalid UTF-8"
        case tooDeep = "nesting too deep"
        case trailingData = "data after the value"
        case duplicateKey = "duplicate member name"
    }

    private let reason: Reason
    /// The byte offset of the problem.
    public let offset: Int

    static func unexpectedEnd(_ offset: Int) -> Self { .init(reason: .unexpectedEnd, offset: offset) }
    static func unexpectedCharacter(_ offset: Int) -> Self { .init(reason: .unexpectedCharacter, offset: offset) }
    static func invalidNumber(_ offset: Int) -> Self { .init(reason: .invalidNumber, offset: offset) }
    static func invalidEscape(_ offset: Int) -> Self { .init(reason: .invalidEscape, offset: offset) }
    static func invalidUTF8(_ offset: Int) -> Self { .init(reason: .invalidUTF8, offset: offset) }
    static func tooDeep(_ offset: Int) -> Self { .init(reason: .tooDeep, offset: offset) }
    static func trailingData(_ offset: Int) -> Self { .init(reason: .trailingData, offset: offset) }
    /// RFC 8259 leaves an object with a name twice undefined, and parsers differ on which value
    /// wins (the first, the last); refusing it means no two readers of one text disagree.
    static func duplicateKey(_ offset: Int) -> Self { .init(reason: .duplicateKey, offset: offset) }

    /// What was wrong, without where: "unexpected character", "duplicate member name", …
    public var problem: String { self.reason.rawValue }

    public var description: String { "invalid JSON: \(self.problem) at byte \(self.offset)" }
}

extension JSONValue {
    /// The deepest nesting of arrays and objects the parser accepts (it recurses; this bounds the stack).
    public static let maxDepth = 128

    /// Parses one JSON value from the readable bytes (RFC 8259; whitespace around it allowed).
    public init(parsing buffer: ByteBuffer) throws(JSONParseError) {
        self = try buffer.withUnsafeReadableBytes { bytes in
            var parser = JSONParser(bytes: bytes)
            return Result { () throws(JSONParseError) in try parser.parseDocument() }
        }.get()
    }

    /// Parses one JSON value from bytes.
    public init(parsing bytes: some Collection<UInt8>) throws(JSONParseError) {
        let array = Array(bytes)
        self = try array.withUnsafeBytes { bytes in
            var parser = JSONParser(bytes: bytes)
            return Result { () throws(JSONParseError) in try parser.parseDocument() }
        }.get()
    }

    /// Parses one JSON value from text.
    public init(parsing text: String) throws(JSONParseError) {
        try self.init(parsing: ByteBuffer(string: text))
    }
}

/// A recursive-descent JSON parser over bytes.
struct JSONParser {
    private let bytes: UnsafeRawBufferPointer
    private var index = 0
    private var depth = 0

    init(bytes: UnsafeRawBufferPointer) {
        self.bytes = bytes
    }

    mutating func parseDocument() throws(JSONParseError) -> JSONValue {
        let value = try self.parseValue()
        self.skipWhitespace()
        guard self.index == self.bytes.count else { throw .trailingData(self.index) }
        return value
    }

    /// Parses a value and leaves the index after it; used by the Socket.IO decoder for a prefix.
    mutating func parseValue() throws(JSONParseError) -> JSONValue {
        self.skipWhitespace()
        guard self.index < self.bytes.count else { throw .unexpectedEnd(self.index) }
        switch self.bytes[self.index] {
        case UInt8(ascii: "{"): return try self.parseObject()
        case UInt8(ascii: "["): return try self.parseArray()
        case UInt8(ascii: "\""): return .string(try self.parseString())
        case UInt8(ascii: "t"): try self.expect("true"); return .bool(true)
        case UInt8(ascii: "f"): try self.expect("false"); return .bool(false)
        case UInt8(ascii: "n"): try self.expect("null"); return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try self.parseNumber()
        default: throw .unexpectedCharacter(self.index)
        }
    }

    private mutating func skipWhitespace() {
        while self.index < self.bytes.count {
            switch self.bytes[self.index] {
            case 0x20, 0x0A, 0x0D, 0x09: self.index += 1
            default: return
            }
        }
    }

    private mutating func expect(_ literal: StaticString) throws(JSONParseError) {
        let count = literal.utf8CodeUnitCount
        guard self.index + count <= self.bytes.count else { throw .unexpectedEnd(self.index) }
        let pointer = literal.utf8Start
        for offset in 0..<count where self.bytes[self.index + offset] != pointer[offset] {
            throw .unexpectedCharacter(self.index + offset)
        }
        self.index += count
    }

    private mutating func enter() throws(JSONParseError) {
        self.depth += 1
        guard self.depth <= JSONValue.maxDepth else { throw .tooDeep(self.index) }
    }

    private mutating func parseObject() throws(JSONParseError) -> JSONValue {
        try self.enter()
        defer { self.depth -= 1 }
        self.index += 1
        var members: [String: JSONValue] = [:]
        self.skipWhitespace()
        if self.index < self.bytes.count, self.bytes[self.index] == UInt8(ascii: "}") {
            self.index += 1
            return .object(members)
        }
        // Room for the few members of a typical event payload in one allocation (grown from
        // nothing, three members took two).
        members.reserveCapacity(4)
        while true {
            self.skipWhitespace()
            guard self.index < self.bytes.count else { throw .unexpectedEnd(self.index) }
            guard self.bytes[self.index] == UInt8(ascii: "\"") else { throw .unexpectedCharacter(self.index) }
            let keyOffset = self.index
            let key = try self.parseString()
            self.skipWhitespace()
            guard self.index < self.bytes.count else { throw .unexpectedEnd(self.index) }
            guard self.bytes[self.index] == UInt8(ascii: ":") else { throw .unexpectedCharacter(self.index) }
            self.index += 1
            guard members.updateValue(try self.parseValue(), forKey: key) == nil else { throw .duplicateKey(keyOffset) }
            if try self.endOfContainer(UInt8(ascii: "}")) { return .object(members) }
        }
    }

    private mutating func parseArray() throws(JSONParseError) -> JSONValue {
        try self.enter()
        defer { self.depth -= 1 }
        self.index += 1
        var elements: [JSONValue] = []
        self.skipWhitespace()
        if self.index < self.bytes.count, self.bytes[self.index] == UInt8(ascii: "]") {
            self.index += 1
            return .array(elements)
        }
        while true {
            elements.append(try self.parseValue())
            if try self.endOfContainer(UInt8(ascii: "]")) { return .array(elements) }
        }
    }

    /// After a member or element: consumes `,` (false) or the closing bracket (true).
    private mutating func endOfContainer(_ close: UInt8) throws(JSONParseError) -> Bool {
        self.skipWhitespace()
        guard self.index < self.bytes.count else { throw .unexpectedEnd(self.index) }
        let byte = self.bytes[self.index]
        guard byte == UInt8(ascii: ",") || byte == close else { throw .unexpectedCharacter(self.index) }
        self.index += 1
        return byte == close
    }

    private mutating func parseString() throws(JSONParseError) -> String {
        self.index += 1
        let start = self.index
        // Every byte OR-ed: below 0x80, the string is ASCII, valid UTF-8 without a check (the
        // standard library's validating initializer is generic and costs more than the parse).
        var bits: UInt8 = 0
        // Fast path: no escapes.
        while self.index < self.bytes.count {
            let byte = self.bytes[self.index]
            if byte == UInt8(ascii: "\"") {
                let slice = UnsafeRawBufferPointer(rebasing: self.bytes[start..<self.index])
                self.index += 1
                if bits < 0x80 { return String(decoding: slice, as: UTF8.self) }
                guard let string = String(validating: slice, as: UTF8.self) else { throw .invalidUTF8(start) }
                return string
            }
            if byte == UInt8(ascii: "\\") { break }
            guard byte >= 0x20 else { throw .unexpectedCharacter(self.index) }
            bits |= byte
            self.index += 1
        }
        var utf8 = Array(self.bytes[start..<self.index])
        while self.index < self.bytes.count {
            let byte = self.bytes[self.index]
            switch byte {
            case UInt8(ascii: "\""):
                self.index += 1
                guard let string = String(validating: utf8, as: UTF8.self) else { throw .invalidUTF8(start) }
                return string
            case UInt8(ascii: "\\"):
                self.index += 1
                guard self.index < self.bytes.count else { throw .unexpectedEnd(self.index) }
                let escaped = self.bytes[self.index]
                self.index += 1
                switch escaped {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): utf8.append(escaped)
                case UInt8(ascii: "b"): utf8.append(0x08)
                case UInt8(ascii: "f"): utf8.append(0x0C)
                case UInt8(ascii: "n"): utf8.append(0x0A)
                case UInt8(ascii: "r"): utf8.append(0x0D)
                case UInt8(ascii: "t"): utf8.append(0x09)
                case UInt8(ascii: "u"): try self.parseUnicodeEscape(into: &utf8)
                default: throw .invalidEscape(self.index - 1)
                }
            default:
                guard byte >= 0x20 else { throw .unexpectedCharacter(self.index) }
                utf8.append(byte)
                self.index += 1
            }
        }
        throw .unexpectedEnd(self.index)
    }

    private mutating func readHex4() throws(JSONParseError) -> UInt32 {
        guard self.index + 4 <= self.bytes.count else { throw .unexpectedEnd(self.index) }
        var value: UInt32 = 0
        for _ in 0..<4 {
            let byte = self.bytes[self.index]
            let digit: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
            default: throw .invalidEscape(self.index)
            }
            value = value << 4 | UInt32(digit)
            self.index += 1
        }
        return value
    }

    /// A `\uXXXX` escape, or a surrogate pair of two. A lone surrogate (valid JSON, and what
    /// `JSON.stringify` writes for half of an emoji cut in two) has no scalar of its own: it
    /// reads as U+FFFD, as a decoder of UTF-16 would, rather than failing the whole packet.
    private mutating func parseUnicodeEscape(into utf8: inout [UInt8]) throws(JSONParseError) {
        var scalar = try self.readHex4()
        if (0xD800...0xDBFF).contains(scalar) {
            let next = self.index
            if self.index + 2 <= self.bytes.count, self.bytes[self.index] == UInt8(ascii: "\\"),
                self.bytes[self.index + 1] == UInt8(ascii: "u")
            {
                self.index += 2
                let low = try self.readHex4()
                if (0xDC00...0xDFFF).contains(low) {
                    scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                } else {
                    // The next escape is not this one's other half: it is read on its own.
                    self.index = next
                    scalar = 0xFFFD
                }
            } else {
                scalar = 0xFFFD
            }
        } else if (0xDC00...0xDFFF).contains(scalar) {
            scalar = 0xFFFD
        }
        guard let unicode = Unicode.Scalar(scalar) else { throw .invalidEscape(self.index - 4) }
        UTF8.encode(unicode) { utf8.append($0) }
    }

    private mutating func parseNumber() throws(JSONParseError) -> JSONValue {
        let start = self.index
        var isInteger = true
        if self.bytes[self.index] == UInt8(ascii: "-") { self.index += 1 }
        guard self.index < self.bytes.count else { throw .invalidNumber(start) }
        if self.bytes[self.index] == UInt8(ascii: "0") {
            self.index += 1
        } else {
            guard self.digits() > 0 else { throw .invalidNumber(start) }
        }
        if self.index < self.bytes.count, self.bytes[self.index] == UInt8(ascii: ".") {
            isInteger = false
            self.index += 1
            guard self.digits() > 0 else { throw .invalidNumber(start) }
        }
        if self.index < self.bytes.count, self.bytes[self.index] | 0x20 == UInt8(ascii: "e") {
            isInteger = false
            self.index += 1
            if self.index < self.bytes.count, self.bytes[self.index] == UInt8(ascii: "+") || self.bytes[self.index] == UInt8(ascii: "-") {
                self.index += 1
            }
            guard self.digits() > 0 else { throw .invalidNumber(start) }
        }
        let text = String(decoding: UnsafeRawBufferPointer(rebasing: self.bytes[start..<self.index]), as: UTF8.self)
        if isInteger, let value = Int(text) { return .int(value) }
        guard let value = Double(text) else { throw .invalidNumber(start) }
        return .double(value)
    }

    private mutating func digits() -> Int {
        let start = self.index
        while self.index < self.bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(self.bytes[self.index]) {
            self.index += 1
        }
        return self.index - start
    }
}
