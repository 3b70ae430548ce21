import NIOCore

/// What a Redis connection reads: a RESP value, or a pub/sub `message` push read without
/// building its value.
enum RESPFrame: Sendable {
    /// Any value (replies, confirmations, pushes other than messages).
    case value(RESPValue)
    /// `*3 $7 message $n <channel> $m <payload>`: the channel and the payload, slices of the read.
    case message(channel: ByteBuffer, payload: ByteBuffer)

    /// The frame as a value (a message as its array of three bulk strings).
    var value: RESPValue {
        switch self {
        case .value(let value): value
        case .message(let channel, let payload):
            .array([.bulkString(ByteBuffer(string: "message")), .bulkString(channel), .bulkString(payload)])
        }
    }
}

/// A ``RESPDecoder`` with a fast path for the pushes a subscription connection reads by the
/// thousand: a `message` comes out as two slices of the input, without the value tree (an array
/// of three elements, each appended to the arrays being built). Anything else, a message split
/// in an odd place by the generic decoder included, goes the generic way.
struct RESPFrameDecoder: NIOSingleStepByteToMessageDecoder {
    typealias InboundOut = RESPFrame

    private var values = RESPDecoder()

    init() {}

    mutating func decode(buffer: inout ByteBuffer) throws -> RESPFrame? {
        if self.values.isIdle {
            switch Self.scanMessage(buffer) {
            case .message(let channel, let payload, let end):
                let frame = RESPFrame.message(
                    channel: buffer.getSlice(at: channel.lowerBound, length: channel.count)!,
                    payload: buffer.getSlice(at: payload.lowerBound, length: payload.count)!
                )
                buffer.moveReaderIndex(to: end)
                return frame
            case .incomplete:
                return nil
            case .other:
                break
            }
        }
        return try self.values.decode(buffer: &buffer).map(RESPFrame.value)
    }

    mutating func decodeLast(buffer: inout ByteBuffer, seenEOF: Bool) throws -> RESPFrame? {
        // A push cut off by the end of the connection is lost with the connection.
        try self.decode(buffer: &buffer)
    }

    /// What the readable bytes start with.
    private enum Scan {
        /// A whole message push: where its channel and payload are, and where it ends (buffer indices).
        case message(channel: Range<Int>, payload: Range<Int>, end: Int)
        /// The beginning of a message push, so far well-formed.
        case incomplete
        /// Something else, or a message push this path does not read (the generic path decides).
        case other
    }

    private static let messageHeader: [UInt8] = Array("*3\r\n$7\r\nmessage\r\n".utf8)

    private static func scanMessage(_ buffer: ByteBuffer) -> Scan {
        let base = buffer.readerIndex
        return buffer.withUnsafeReadableBytes { bytes -> Scan in
            let header = Self.messageHeader
            guard bytes.count >= header.count else { return header.starts(with: bytes) ? .incomplete : .other }
            guard bytes.starts(with: header) else { return .other }
            var index = header.count
            let channel: Range<Int>
            switch Self.scanBulk(bytes, at: &index) {
            case .bulk(let range): channel = range
            case .incomplete: return .incomplete
            case .other: return .other
            }
            switch Self.scanBulk(bytes, at: &index) {
            case .bulk(let payload):
                return .message(channel: (base + channel.lowerBound)..<(base + channel.upperBound),
                                payload: (base + payload.lowerBound)..<(base + payload.upperBound), end: base + index)
            case .incomplete: return .incomplete
            case .other: return .other
            }
        }
    }

    private enum BulkScan {
        case bulk(Range<Int>)
        case incomplete
        case other
    }

    /// A bulk string `$<n>\r\n<n bytes>\r\n` at `index`, which moves past it.
    private static func scanBulk(_ bytes: UnsafeRawBufferPointer, at index: inout Int) -> BulkScan {
        var at = index
        guard at < bytes.count else { return .incomplete }
        guard bytes[at] == UInt8(ascii: "$") else { return .other }
        at += 1
        var length = 0
        var digits = 0
        while true {
            guard at < bytes.count else { return .incomplete }
            let byte = bytes[at]
            if byte == UInt8(ascii: "\r") { break }
            // Nine digits hold Redis's largest bulk string; anything else is the generic path's to judge.
            guard (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte), digits < 9 else { return .other }
            length = length * 10 + Int(byte - UInt8(ascii: "0"))
            digits += 1
            at += 1
        }
        guard digits > 0, length <= RESPDecoder.maximumBulkLength else { return .other }
        guard at + 1 < bytes.count else { return .incomplete }
        guard bytes[at + 1] == UInt8(ascii: "\n") else { return .other }
        let start = at + 2
        guard bytes.count - start >= length + 2 else { return .incomplete }
        guard bytes[start + length] == UInt8(ascii: "\r"), bytes[start + length + 1] == UInt8(ascii: "\n") else { return .other }
        index = start + length + 2
        return .bulk(start..<(start + length))
    }
}
