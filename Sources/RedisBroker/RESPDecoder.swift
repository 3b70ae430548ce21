import NIOCore

/// Decodes RESP2 values from a byte stream that arrives in arbitrary pieces.
///
/// It keeps the arrays it has started, so a large reply is read once however many reads it
/// takes: each call consumes every complete element and stops at the first incomplete one, whose
/// bytes stay in the buffer for the next call. Use it in a `ByteToMessageHandler` or a
/// `NIOSingleStepByteToMessageProcessor`.
struct RESPDecoder: NIOSingleStepByteToMessageDecoder {
    typealias InboundOut = RESPValue

    /// Redis's own limit for a bulk string.
    static let maximumBulkLength = 512 * 1024 * 1024
    /// A status or error line longer than this is not Redis talking.
    static let maximumLineLength = 64 * 1024
    /// Redis's replies nest a few levels at most.
    static let maximumDepth = 32

    private struct PartialArray {
        var elements: [RESPValue]
        var remaining: Int
    }

    /// One element read from the stream.
    private enum Item {
        case value(RESPValue)
        case arrayHeader(count: Int)
    }

    /// Arrays begun but not complete yet, outermost first.
    private var open: [PartialArray] = []

    init() {}

    /// No value is half read: the buffer's next byte starts a value.
    var isIdle: Bool { self.open.isEmpty }

    mutating func decode(buffer: inout ByteBuffer) throws -> RESPValue? {
        while let item = try Self.readItem(from: &buffer) {
            switch item {
            case .value(let value):
                if let complete = self.attach(value) { return complete }
            case .arrayHeader(let count) where count == 0:
                if let complete = self.attach(.array([])) { return complete }
            case .arrayHeader(let count):
                guard self.open.count < Self.maximumDepth else {
                    throw RedisError.protocolViolation("arrays nested deeper than \(Self.maximumDepth)")
                }
                // The count comes from the peer: reserve a sane amount and let larger arrays grow.
                var elements: [RESPValue] = []
                elements.reserveCapacity(min(count, 1024))
                self.open.append(PartialArray(elements: elements, remaining: count))
            }
        }
        return nil
    }

    mutating func decodeLast(buffer: inout ByteBuffer, seenEOF: Bool) throws -> RESPValue? {
        // A reply cut off by the end of the connection is lost with the connection.
        try self.decode(buffer: &buffer)
    }

    /// Adds `value` to the innermost open array; returns the top-level value it completes, if any.
    private mutating func attach(_ value: RESPValue) -> RESPValue? {
        var value = value
        while !self.open.isEmpty {
            let last = self.open.count - 1
            self.open[last].elements.append(value)
            self.open[last].remaining -= 1
            guard self.open[last].remaining == 0 else { return nil }
            value = .array(self.open.removeLast().elements)
        }
        return value
    }

    /// Reads one element, or nothing (buffer untouched) when it has not fully arrived.
    private static func readItem(from buffer: inout ByteBuffer) throws -> Item? {
        let start = buffer.readerIndex
        guard let type = buffer.getInteger(at: start, as: UInt8.self) else { return nil }
        guard let lineEnd = try Self.lineEnd(in: buffer, from: start + 1) else { return nil }
        let line = buffer.getSlice(at: start + 1, length: lineEnd - start - 1)!
        let next = lineEnd + 2
        switch type {
        case UInt8(ascii: "+"):
            buffer.moveReaderIndex(to: next)
            return .value(.simpleString(String(buffer: line)))
        case UInt8(ascii: "-"):
            buffer.moveReaderIndex(to: next)
            return .value(.error(String(buffer: line)))
        case UInt8(ascii: ":"):
            buffer.moveReaderIndex(to: next)
            return .value(.integer(try Self.integer(line)))
        case UInt8(ascii: "$"):
            let length = try Self.integer(line)
            if length == -1 {
                buffer.moveReaderIndex(to: next)
                return .value(.bulkString(nil))
            }
            guard (0...Int64(Self.maximumBulkLength)).contains(length) else {
                throw RedisError.protocolViolation("bulk string length \(length)")
            }
            let count = Int(length)
            guard buffer.writerIndex - next >= count + 2 else { return nil }
            guard buffer.getInteger(at: next + count, as: UInt16.self) == Self.crlf else {
                throw RedisError.protocolViolation("bulk string of \(count) bytes not followed by CRLF")
            }
            let bytes = buffer.getSlice(at: next, length: count)!
            buffer.moveReaderIndex(to: next + count + 2)
            return .value(.bulkString(bytes))
        case UInt8(ascii: "*"):
            let count = try Self.integer(line)
            buffer.moveReaderIndex(to: next)
            if count == -1 { return .value(.array(nil)) }
            guard (0...Int64(Int32.max)).contains(count) else { throw RedisError.protocolViolation("array length \(count)") }
            return .arrayHeader(count: Int(count))
        default:
            throw RedisError.protocolViolation("unexpected type byte \(type)")
        }
    }

    private static let crlf = UInt16(0x0D0A)

    /// The index of the `\r` ending the line that starts at `start`; nil while it is incomplete.
    private static func lineEnd(in buffer: ByteBuffer, from start: Int) throws -> Int? {
        let view = buffer.readableBytesView
        let offset = start - buffer.readerIndex
        guard let newline = view[(view.startIndex + offset)...].firstIndex(of: UInt8(ascii: "\n")) else {
            if view.count - offset > Self.maximumLineLength { throw RedisError.protocolViolation("line too long") }
            return nil
        }
        let end = buffer.readerIndex + (newline - view.startIndex) - 1
        guard end >= start, buffer.getInteger(at: end, as: UInt8.self) == UInt8(ascii: "\r") else {
            throw RedisError.protocolViolation("line not ended by CRLF")
        }
        return end
    }

    /// A decimal integer line, optionally negative.
    private static func integer(_ line: ByteBuffer) throws -> Int64 {
        var digits = line.readableBytesView[...]
        let negative = digits.first == UInt8(ascii: "-")
        if negative { digits = digits.dropFirst() }
        guard !digits.isEmpty, digits.count <= 19 else { throw RedisError.protocolViolation("invalid integer '\(String(buffer: line))'") }
        var value: Int64 = 0
        for digit in digits {
            guard (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(digit) else {
                throw RedisError.protocolViolation("invalid integer '\(String(buffer: line))'")
            }
            let (shifted, overflow1) = value.multipliedReportingOverflow(by: 10)
            let (sum, overflow2) = shifted.addingReportingOverflow(Int64(digit - UInt8(ascii: "0")))
            guard !overflow1, !overflow2 else { throw RedisError.protocolViolation("integer out of range") }
            value = sum
        }
        return negative ? -value : value
    }
}
