import NIOCore

/// Standard base64 (RFC 4648, with padding) on bytes, for binary packets over polling.
enum Base64 {
    private static let alphabet: [UInt8] = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)
    private static let reverse: [UInt8] = {
        var table = [UInt8](repeating: 0xFF, count: 256)
        for (index, character) in alphabet.enumerated() { table[Int(character)] = UInt8(index) }
        return table
    }()

    static func encode(_ bytes: some Collection<UInt8>, into buffer: inout ByteBuffer) {
        var iterator = bytes.makeIterator()
        while let first = iterator.next() {
            let second = iterator.next()
            let third = iterator.next()
            let value = UInt32(first) << 16 | UInt32(second ?? 0) << 8 | UInt32(third ?? 0)
            buffer.writeInteger(alphabet[Int(value >> 18 & 63)])
            buffer.writeInteger(alphabet[Int(value >> 12 & 63)])
            buffer.writeInteger(second == nil ? UInt8(ascii: "=") : alphabet[Int(value >> 6 & 63)])
            buffer.writeInteger(third == nil ? UInt8(ascii: "=") : alphabet[Int(value & 63)])
        }
    }

    /// Decodes padded or unpadded base64; nil on any invalid character.
    static func decode(_ text: some Collection<UInt8>) -> ByteBuffer? {
        var output = ByteBuffer()
        output.reserveCapacity(text.count * 3 / 4)
        var accumulator: UInt32 = 0
        var bits = 0
        var padding = 0
        for character in text {
            if character == UInt8(ascii: "=") {
                padding += 1
                continue
            }
            guard padding == 0 else { return nil }
            let value = reverse[Int(character)]
            guard value != 0xFF else { return nil }
            accumulator = accumulator << 6 | UInt32(value)
            bits += 6
            if bits >= 8 {
                bits -= 8
                output.writeInteger(UInt8(truncatingIfNeeded: accumulator >> UInt32(bits)))
            }
        }
        guard padding <= 2 else { return nil }
        return output
    }
}
