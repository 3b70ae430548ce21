import Foundation

/// JSON encoding of timeline and ephemeral payloads, done once per fan-out.
public enum JSONPayload {
    /// Encodes `value` as compact JSON.
    public static func encode(_ value: some Encodable) -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes]
        // Our payload types cannot fail to encode (no floats, no custom throwing encoders).
        return (try? Array(encoder.encode(value))) ?? Array("{}".utf8)
    }

    /// A message as compact JSON, the same fields as `encode(message)`, written by hand: the
    /// message path encodes each message (and its receipts) without Foundation's encoder.
    public static func message(_ message: Message) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(96 + message.body.utf8.count + message.id.utf8.count)
        out.append(contentsOf: #"{"id":"#.utf8)
        writeString(message.id, to: &out)
        out.append(contentsOf: #","conversation":"#.utf8)
        writeString(message.conversation.rawValue, to: &out)
        out.append(contentsOf: #","from":"#.utf8)
        writeString(message.from.rawValue, to: &out)
        if let to = message.to {
            out.append(contentsOf: #","to":"#.utf8)
            writeString(to.rawValue, to: &out)
        }
        if let group = message.group {
            out.append(contentsOf: #","group":"#.utf8)
            writeString(group.rawValue, to: &out)
        }
        out.append(contentsOf: #","body":"#.utf8)
        writeString(message.body, to: &out)
        out.append(contentsOf: #","ts":"#.utf8)
        out.append(contentsOf: String(message.ts).utf8)
        out.append(contentsOf: #","pos":"#.utf8)
        out.append(contentsOf: String(message.pos).utf8)
        out.append(UInt8(ascii: "}"))
        return out
    }

    /// A receipt as compact JSON, the same fields as `encode(receipt)`, written by hand.
    public static func receipt(_ receipt: ReceiptEvent) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(96 + receipt.ids.reduce(0) { $0 + $1.utf8.count + 3 })
        out.append(contentsOf: #"{"conversation":"#.utf8)
        writeString(receipt.conversation.rawValue, to: &out)
        out.append(contentsOf: #","ids":["#.utf8)
        for (index, id) in receipt.ids.enumerated() {
            if index > 0 { out.append(UInt8(ascii: ",")) }
            writeString(id, to: &out)
        }
        out.append(contentsOf: #"],"by":"#.utf8)
        writeString(receipt.by.rawValue, to: &out)
        out.append(contentsOf: #","status":"#.utf8)
        writeString(receipt.status.rawValue, to: &out)
        out.append(contentsOf: #","ts":"#.utf8)
        out.append(contentsOf: String(receipt.ts).utf8)
        out.append(UInt8(ascii: "}"))
        return out
    }

    /// Appends `string` as a JSON string (escaping quotes, backslashes and control characters).
    /// Runs of bytes that need no escape are copied whole (one append per run, not per byte:
    /// message bodies are most of what the server encodes).
    public static func writeString(_ string: String, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        var string = string
        string.withUTF8 { bytes in
            var run = 0
            for index in bytes.indices {
                let byte = bytes[index]
                guard byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") else { continue }
                out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[run..<index]))
                run = index + 1
                switch byte {
                case UInt8(ascii: "\""): out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\"")])
                case UInt8(ascii: "\\"): out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\\")])
                case UInt8(ascii: "\n"): out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "n")])
                case UInt8(ascii: "\r"): out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "r")])
                case UInt8(ascii: "\t"): out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "t")])
                default:
                    out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0"),
                                            hexDigits[Int(byte >> 4)], hexDigits[Int(byte & 15)]])
                }
            }
            out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[run...]))
        }
        out.append(UInt8(ascii: "\""))
    }

    private static let hexDigits = Array("0123456789abcdef".utf8)

    /// The `synced` payload: `{"seq":N}` or `{"seq":N,"truncated":true}` (fixed field order).
    public static func synced(seq: Int64, truncated: Bool) -> [UInt8] {
        Array((truncated ? "{\"seq\":\(seq),\"truncated\":true}" : "{\"seq\":\(seq)}").utf8)
    }

    /// Returns `payload` (a JSON object) with `"seq":seq` as its first field, without re-encoding.
    public static func splicingSeq(_ seq: Int64, into payload: [UInt8]) -> [UInt8] {
        let head = Array("{\"seq\":\(seq)".utf8)
        guard let open = payload.firstIndex(of: UInt8(ascii: "{")) else { return head + [UInt8(ascii: "}")] }
        let rest = payload[(open + 1)...]
        let isEmpty = rest.first(where: { !isWhitespace($0) }) == UInt8(ascii: "}")
        var out = head
        out.reserveCapacity(head.count + rest.count + 1)
        if !isEmpty { out.append(UInt8(ascii: ",")) }
        out.append(contentsOf: rest)
        return out
    }

    private static func isWhitespace(_ b: UInt8) -> Bool { b == 0x20 || b == 0x0A || b == 0x0D || b == 0x09 }
}
