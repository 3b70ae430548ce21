import NIOCore

/// The HTTP long-polling payload: packets in text form separated by the record separator `\x1e`;
/// binary messages are written as `b` followed by base64.
public enum EnginePayload {
    /// The byte between two packets of a payload.
    public static let separator: UInt8 = 0x1E

    /// Splits a payload into packets; throws on an empty or malformed packet.
    public static func decode(_ payload: ByteBuffer) throws(EngineIOError) -> [EnginePacket] {
        var packets: [EnginePacket] = []
        let view = payload.readableBytesView
        var start = view.startIndex
        while true {
            let end = view[start...].firstIndex(of: separator) ?? view.endIndex
            let length = end - start
            guard length > 0 else { throw .invalidPacket }
            let part = payload.getSlice(at: payload.readerIndex + (start - view.startIndex), length: length)!
            if view[start] == UInt8(ascii: "b") {
                guard let bytes = Base64.decode(part.readableBytesView.dropFirst()) else { throw .invalidPacket }
                packets.append(.message(.binary(bytes)))
            } else {
                packets.append(try EnginePacket.decode(text: part))
            }
            if end == view.endIndex { break }
            start = end + 1
        }
        return packets
    }

    /// Joins packets into one payload.
    public static func encode(_ packets: [EnginePacket]) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.reserveCapacity(packets.reduce(0) { $0 + $1.byteCount * 4 / 3 + 4 })
        for (index, packet) in packets.enumerated() {
            if index > 0 { buffer.writeInteger(separator) }
            packet.encodeText(into: &buffer)
        }
        return buffer
    }
}
