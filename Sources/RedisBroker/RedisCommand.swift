import NIOCore

/// A Redis command: its name and arguments, each sent as a RESP bulk string (binary-safe).
struct RedisCommand: Hashable, Sendable {
    /// The name first, then the arguments, as bytes.
    let parts: [[UInt8]]

    /// A command from raw parts (the name first).
    init(parts: [[UInt8]]) {
        precondition(!parts.isEmpty, "a command has a name")
        self.parts = parts
    }

    /// A command whose arguments are text.
    init(_ name: String, _ arguments: String...) {
        self.init(name, arguments)
    }

    /// A command whose arguments are text.
    init(_ name: String, _ arguments: [String]) {
        self.init(parts: [Array(name.utf8)] + arguments.map { Array($0.utf8) })
    }

    /// The number of bytes ``write(into:)`` writes.
    var encodedLength: Int {
        self.parts.reduce(Self.decimalLength(self.parts.count) + 3) { sum, part in
            sum + Self.decimalLength(part.count) + 3 + part.count + 2
        }
    }

    /// Appends the command as a RESP array of bulk strings: `*<n>\r\n` then `$<len>\r\n<bytes>\r\n` per part.
    func write(into buffer: inout ByteBuffer) {
        Self.writeHeader(UInt8(ascii: "*"), self.parts.count, into: &buffer)
        for part in self.parts {
            Self.writeHeader(UInt8(ascii: "$"), part.count, into: &buffer)
            buffer.writeBytes(part)
            buffer.writeInteger(UInt16(0x0D0A))
        }
    }

    /// Several commands encoded one after the other, for one write (a pipeline).
    static func encode(_ commands: some Collection<RedisCommand>, allocator: ByteBufferAllocator) -> ByteBuffer {
        var buffer = allocator.buffer(capacity: commands.reduce(0) { $0 + $1.encodedLength })
        for command in commands { command.write(into: &buffer) }
        return buffer
    }

    private static func writeHeader(_ type: UInt8, _ count: Int, into buffer: inout ByteBuffer) {
        buffer.writeInteger(type)
        // A short String is stored inline: no allocation for the digits.
        buffer.writeString(String(count))
        buffer.writeInteger(UInt16(0x0D0A))
    }

    private static func decimalLength(_ value: Int) -> Int {
        var length = 1
        var rest = value / 10
        while rest > 0 {
            length += 1
            rest /= 10
        }
        return length
    }
}
