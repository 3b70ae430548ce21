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
