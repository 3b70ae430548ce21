/// A view of JSON text that finds values by position or key without building them.
///
/// The load generator shares the box with the server it measures, so every microsecond it
/// spends per message is one the server does not get. Decoding a `message` event into a
/// `JSONValue` tree (a dictionary per object, a `String` per key and value) was about a third
/// of its CPU; the scenarios only need a number at the start of the body, an `ok` flag or the
/// event's name. `RawJSON` skips over values (checking their structure as it goes, building
/// nothing but the short list of ranges `elements` returns) and hands back byte ranges.
/// Whatever it cannot read (a namespace, escapes in a key it compares, malformed text) makes it
/// answer nil, and the client falls back to the full decoder.
struct RawJSON {
    let bytes: UnsafeRawBufferPointer

    /// The whole text, without surrounding whitespace.
    var whole: Range<Int> { skipWhitespace(from: 0)..<bytes.count }

    /// The ranges of the first `count` elements of the array at `range.lowerBound` (fewer if it
    /// has fewer); nil if it is not a well-formed array start.
    func elements(of range: Range<Int>, upTo count: Int) -> [Range<Int>]? {
        var index = range.lowerBound
        guard index < range.upperBound, bytes[index] == UInt8(ascii: "[") else { return nil }
        index = skipWhitespace(from: index + 1)
        var found: [Range<Int>] = []
        found.reserveCapacity(count)
        if index < range.upperBound, bytes[index] == UInt8(ascii: "]") { return found }
        while found.count < count {
            guard let end = skipValue(from: index, depth: 0), end <= range.upperBound else { return nil }
            found.append(index..<end)
            index = skipWhitespace(from: end)
            guard index < range.upperBound else { return nil }
            if bytes[index] == UInt8(ascii: "]") { return found }
            guard bytes[index] == UInt8(ascii: ",") else { return nil }
            index = skipWhitespace(from: index + 1)
        }
        return found
    }

    /// The value of member `key` of the object at `range.lowerBound`; nil if it is missing or the
    /// object is malformed up to it. Keys are compared as raw bytes (a key with escapes never
    /// matches, which sends the caller to the full decoder).
    func member(_ key: StaticString, of range: Range<Int>) -> Range<Int>? {
        var index = range.lowerBound
        guard index < range.upperBound, bytes[index] == UInt8(ascii: "{") else { return nil }
        index = skipWhitespace(from: index + 1)
        while index < range.upperBound, bytes[index] == UInt8(ascii: "\"") {
            guard let keyEnd = skipString(from: index) else { return nil }
            let matches = isString(index..<keyEnd, equalTo: key)
            index = skipWhitespace(from: keyEnd)
            guard index < range.upperBound, bytes[index] == UInt8(ascii: ":") else { return nil }
            index = skipWhitespace(from: index + 1)
            guard let valueEnd = skipValue(from: index, depth: 0), valueEnd <= range.upperBound else { return nil }
            if matches { return index..<valueEnd }
            index = skipWhitespace(from: valueEnd)
            guard index < range.upperBound, bytes[index] == UInt8(ascii: ",") else { return nil }
            index = skipWhitespace(from: index + 1)
        }
        return nil
    }

    /// Whether `range` is the JSON string `text` exactly (no escapes).
    func isString(_ range: Range<Int>, equalTo text: StaticString) -> Bool {
        range.count >= 2 && bytes[range.lowerBound] == UInt8(ascii: "\"") && holds(range.dropFirst().dropLast(), text)
    }

    /// Whether `range` is the literal `true`.
    func isTrue(_ range: Range<Int>) -> Bool {
        holds(range, "true")
    }

    /// Whether the bytes of `range` are those of `text`.
    private func holds(_ range: Range<Int>, _ text: StaticString) -> Bool {
        guard range.count == text.utf8CodeUnitCount else { return false }
        let start = text.utf8Start
        for offset in 0..<range.count where bytes[range.lowerBound + offset] != start[offset] { return false }
        return true
    }

    /// The decimal number a JSON string starts with, up to a `:` (the bench's timed bodies).
    func leadingNumber(ofString range: Range<Int>) -> UInt64? {
        guard range.count > 2, bytes[range.lowerBound] == UInt8(ascii: "\"") else { return nil }
        var value: UInt64 = 0
        var index = range.lowerBound + 1
        while index < range.upperBound - 1 {
            let byte = bytes[index]
            if byte == UInt8(ascii: ":") { return index > range.lowerBound + 1 ? value : nil }
            guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return nil }
            let (times10, overflow) = value.multipliedReportingOverflow(by: 10)
            guard !overflow else { return nil }
            value = times10 &+ UInt64(byte - UInt8(ascii: "0"))
            index += 1
        }
        return nil
    }

    private func skipWhitespace(from start: Int) -> Int {
        var index = start
        while index < bytes.count {
            switch bytes[index] {
            case UInt8(ascii: " "), UInt8(ascii: "\n"), UInt8(ascii: "\r"), UInt8(ascii: "\t"): index += 1
            default: return index
            }
        }
        return index
    }

    /// The end of the value starting at `start`, or nil if it is malformed or too deep.
    private func skipValue(from start: Int, depth: Int) -> Int? {
        guard start < bytes.count, depth < 64 else { return nil }
        switch bytes[start] {
        case UInt8(ascii: "\""):
            return skipString(from: start)
        case UInt8(ascii: "{"), UInt8(ascii: "["):
            let close = bytes[start] == UInt8(ascii: "{") ? UInt8(ascii: "}") : UInt8(ascii: "]")
            var index = skipWhitespace(from: start + 1)
            if index < bytes.count, bytes[index] == close { return index + 1 }
            while index < bytes.count {
                if close == UInt8(ascii: "}") {
                    guard bytes[index] == UInt8(ascii: "\""), let keyEnd = skipString(from: index) else { return nil }
                    index = skipWhitespace(from: keyEnd)
                    guard index < bytes.count, bytes[index] == UInt8(ascii: ":") else { return nil }
                    index = skipWhitespace(from: index + 1)
                }
                guard let end = skipValue(from: index, depth: depth + 1) else { return nil }
                index = skipWhitespace(from: end)
                guard index < bytes.count else { return nil }
                if bytes[index] == close { return index + 1 }
                guard bytes[index] == UInt8(ascii: ",") else { return nil }
                index = skipWhitespace(from: index + 1)
            }
            return nil
        default:
            // A number or a literal: up to the next delimiter.
            var index = start
            while index < bytes.count {
                switch bytes[index] {
                case UInt8(ascii: ","), UInt8(ascii: "]"), UInt8(ascii: "}"), UInt8(ascii: " "), UInt8(ascii: "\n"),
                     UInt8(ascii: "\r"), UInt8(ascii: "\t"):
                    return index > start ? index : nil
                default:
                    index += 1
                }
            }
            return index > start ? index : nil
        }
    }

    /// The end (past the closing quote) of the string starting at `start`.
    private func skipString(from start: Int) -> Int? {
        var index = start + 1
        while index < bytes.count {
            switch bytes[index] {
            case UInt8(ascii: "\""): return index + 1
            case UInt8(ascii: "\\"): index += 2
            default: index += 1
            }
        }
        return nil
    }
}
