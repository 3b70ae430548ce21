import NIOCore

/// One RESP2 value, as Redis sends it.
///
/// Bulk strings stay `ByteBuffer`s (slices of what was read), so binary payloads pass through
/// unchanged and without a copy until someone needs them as bytes or text.
enum RESPValue: Hashable, Sendable {
    /// `+OK`: a short status line.
    case simpleString(String)
    /// `-ERR …`: an error reply, with Redis's message.
    case error(String)
    /// `:42`.
    case integer(Int64)
    /// `$n` with `n` bytes, or `nil` for the null bulk string (`$-1`).
    case bulkString(ByteBuffer?)
    /// `*n` with `n` values, or `nil` for the null array (`*-1`).
    case array([RESPValue]?)

    /// The text of a simple or bulk string (UTF-8), `nil` for anything else.
    var string: String? {
        switch self {
        case .simpleString(let text): text
        case .bulkString(let buffer?): String(buffer: buffer)
        default: nil
        }
    }

    /// The bytes of a bulk or simple string, `nil` for anything else.
    var bytes: [UInt8]? {
        switch self {
        case .simpleString(let text): Array(text.utf8)
        case .bulkString(let buffer?): Array(buffer.readableBytesView)
        default: nil
        }
    }

    /// The value of an integer reply.
    var integer: Int64? {
        if case .integer(let value) = self { return value }
        return nil
    }

    /// The elements of a non-null array.
    var array: [RESPValue]? {
        if case .array(let values?) = self { return values }
        return nil
    }

    /// Redis's message when this is an error reply.
    var errorMessage: String? {
        if case .error(let message) = self { return message }
        return nil
    }
}
