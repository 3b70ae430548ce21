import NIOCore

/// The data of one Engine.IO `message` packet: UTF-8 text or raw bytes.
public enum EngineMessage: Sendable, Equatable {
    /// A text message; the buffer holds UTF-8 bytes.
    case text(ByteBuffer)
    /// A binary message.
    case binary(ByteBuffer)
}

/// One Engine.IO v4 packet.
public enum EnginePacket: Sendable, Equatable {
    /// `0`: the handshake, carrying its JSON document.
    case open(ByteBuffer)
    /// `1`: the session is closing.
    case close
    /// `2`: a ping, optionally with data (`probe` during an upgrade).
    case ping(ByteBuffer)
    /// `3`: a pong, optionally with data (`probe` during an upgrade).
    case pong(ByteBuffer)
    /// `4`: an application message.
    case message(EngineMessage)
    /// `5`: the client completes the upgrade to WebSocket.
    case upgrade
    /// `6`: nothing; used to end a pending poll during an upgrade.
    case noop

    /// The ASCII digit that starts the packet's text form.
    var typeCharacter: UInt8 {
        switch self {
        case .open: UInt8(ascii: "0")
        case .close: UInt8(ascii: "1")
        case .ping: UInt8(ascii: "2")
        case .pong: UInt8(ascii: "3")
        case .message: UInt8(ascii: "4")
        case .upgrade: UInt8(ascii: "5")
        case .noop: UInt8(ascii: "6")
        }
    }

    /// Decodes the text form of a packet (a WebSocket text frame, or one packet of a polling payload
    /// that does not start with `b`).
    public static func decode(text buffer: ByteBuffer) throws(EngineIOError) -> EnginePacket {
        var data = buffer
        guard let type = data.readInteger(as: UInt8.self) else { throw .invalidPacket }
        switch type {
        case UInt8(ascii: "0"): return .open(data)
        case UInt8(ascii: "1"): return .close
        case UInt8(ascii: "2"): return .ping(data)
        case UInt8(ascii: "3"): return .pong(data)
        case UInt8(ascii: "4"): return .message(.text(data))
        case UInt8(ascii: "5"): return .upgrade
        case UInt8(ascii: "6"): return .noop
        default: throw .invalidPacket
        }
    }

    /// Writes the text form of the packet: the type digit and its data, or, for a binary message
    /// (polling only), `b` and the data in base64.
    public func encodeText(into buffer: inout ByteBuffer) {
        switch self {
        case .message(.binary(let bytes)):
            buffer.writeInteger(UInt8(ascii: "b"))
            Base64.encode(bytes.readableBytesView, into: &buffer)
        case .open(let data), .ping(let data), .pong(let data), .message(.text(let data)):
            buffer.writeInteger(self.typeCharacter)
            buffer.writeImmutableBuffer(data)
        case .close, .upgrade, .noop:
            buffer.writeInteger(self.typeCharacter)
        }
    }

    /// The number of bytes the packet's data carries (for buffer accounting).
    var byteCount: Int {
        switch self {
        case .open(let data), .ping(let data), .pong(let data), .message(.text(let data)), .message(.binary(let data)):
            data.readableBytes + 1
        case .close, .upgrade, .noop:
            1
        }
    }
}

extension EnginePacket {
    /// A `ping` or `pong` with the data `probe`, used by the WebSocket upgrade.
    static let probeData = ByteBuffer(string: "probe")
}
