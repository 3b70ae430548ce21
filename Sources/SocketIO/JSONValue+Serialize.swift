import NIOCore

extension JSONValue {
    /// Writes the value as compact JSON; `binary` is written as `null`.
    public func write(to buffer: inout ByteBuffer) {
        var ignored: [ByteBuffer] = []
        self.write(to: &buffer, attachments: &ignored, placeholders: false)
    }

    /// Writes the value as compact JSON with each `binary` as `{"_placeholder":true,"num":N}`,
    /// its bytes appended to `attachments` (N is its index there).
    public func write(to buffer: inout ByteBuffer, attachments: inout [ByteBuffer]) {
        self.write(to: &buffer, attachments: &attachments, placeholders: true)
    }

    private func write(to buffer: inout ByteBuffer, attachments: inout [ByteBuffer], placeholders: Bool) {
        switch self {
        case .null:
            buffer.writeStaticString("null")
        case .bool(let value):
            buffer.writeStaticString(value ? "true" : "false")
        case .int(let value):
            buffer.writeString(String(value))
        case .double(let value):
            Self.write(value, to: &buffer)
        case .string(let value):
            Self.write(string: value, to: &buffer)
        case .array(let elements):
            buffer.writeInteger(UInt8(ascii: "["))
            for (index, element) in elements.enumerated() {
                if index > 0 { buffer.writeInteger(UInt8(ascii: ",")) }
                element.write(to: &buffer, attachments: &attachments, placeholders: placeholders)
            }
            buffer.writeInteger(UInt8(ascii: "]"))
        case .object(let members):
            buffer.writeInteger(UInt8(ascii: "{"))
            for (index, key) in members.keys.sorted().enumerated() {
                if index > 0 { buffer.writeInteger(UInt8(ascii: ",")) }
                Self.write(string: key, to: &buffer)
                buffer.writeInteger(UInt8(ascii: ":"))
                members[key]!.write(to: &buffer, attachments: &attachments, placeholders: placeholders)
            }
            buffer.writeInteger(UInt8(ascii: "}"))
        case .binary(let bytes):
            guard placeholders else {
                buffer.writeStaticString("null")
                return
            }
            buffer.writeStaticString(#"{"_placeholder":true,"num":"#)
            buffer.writeString(String(attachments.count))
            buffer.writeInteger(UInt8(ascii: "}"))
            attachments.append(bytes)
        }
    }

    /// The value as compact JSON text (binary as `null`).
    public var jsonString: String {
        var buffer = ByteBuffer()
        self.write(to: &buffer)
        return String(buffer: buffer)
    }

    /// Whether the value holds binary data anywhere.
    public var containsBinary: Bool {
        switch self {
        case .binary: true
        case .array(let elements): elements.contains { $0.containsBinary }
        case .object(let members): members.values.contains { $0.containsBinary }
        default: false
        }
    }

    private static func write(_ value: Double, to buffer: inout ByteBuffer) {
        guard value.isFinite else {
            // JSON has no NaN or infinity; JavaScript's JSON.stringify writes null.
            buffer.writeStaticString("null")
            return
        }
        if value == value.rounded(), abs(value) < 1e15 {
            buffer.writeString(String(Int64(value)))
        } else {
            buffer.writeString(String(value))
        }
    }

    private static let hexDigits: [UInt8] = Array("0123456789abcdef".utf8)

    /// Writes a JSON string literal: quotes, backslashes and control characters escaped, the rest as UTF-8.
    static func write(string: String, to buffer: inout ByteBuffer) {
        buffer.writeInteger(UInt8(ascii: "\""))
        var string = string
        string.withUTF8 { utf8 in
            var runStart = 0
            for index in 0..<utf8.count {
                let byte = utf8[index]
                guard byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") else { continue }
                buffer.writeBytes(UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(utf8)[runStart..<index]))
                runStart = index + 1
                switch byte {
                case UInt8(ascii: "\""): buffer.writeStaticString("\\\"")
                case UInt8(ascii: "\\"): buffer.writeStaticString("\\\\")
                case UInt8(ascii: "\n"): buffer.writeStaticString("\\n")
                case UInt8(ascii: "\r"): buffer.writeStaticString("\\r")
                case UInt8(ascii: "\t"): buffer.writeStaticString("\\t")
                case 0x08: buffer.writeStaticString("\\b")
                case 0x0C: buffer.writeStaticString("\\f")
                default:
                    buffer.writeStaticString("\\u00")
                    buffer.writeInteger(hexDigits[Int(byte >> 4)])
                    buffer.writeInteger(hexDigits[Int(byte & 15)])
                }
            }
            buffer.writeBytes(UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(utf8)[runStart...]))
        }
        buffer.writeInteger(UInt8(ascii: "\""))
    }
}
