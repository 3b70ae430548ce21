import NIOCore

/// One Socket.IO v5 packet.
///
/// Text form: `<type>[<attachments>-][<namespace>,][<ack id>][<JSON data>]`, e.g. `2/chat,12["hi",1]`.
/// Binary packets (`binaryEvent`, `binaryAck`) carry `{"_placeholder":true,"num":N}` in their data and
/// are followed by N separate binary messages.
public struct SocketIOPacket: Sendable, Equatable {
    /// The packet type.
    public enum Kind: UInt8, Sendable {
        case connect = 0
        case disconnect = 1
        case event = 2
        case ack = 3
        case connectError = 4
        case binaryEvent = 5
        case binaryAck = 6
    }

    /// The type.
    public var kind: Kind
    /// The namespace, `/` for the main one.
    public var namespace: String
    /// The ack id of an event expecting an ack, or of an ack.
    public var ackID: Int?
    /// The JSON data; in a decoded binary packet the placeholders stay until ``reconstructed(with:)``.
    public var data: JSONValue?
    /// The number of attachments a decoded binary packet announced.
    public var attachmentCount: Int

    /// Creates a packet.
    public init(kind: Kind, namespace: String = "/", ackID: Int? = nil, data: JSONValue? = nil, attachmentCount: Int = 0) {
        self.kind = kind
        self.namespace = namespace
        self.ackID = ackID
        self.data = data
        self.attachmentCount = attachmentCount
    }

    /// The largest ack id accepted (JavaScript's safe integers).
    static let maxAckID = 9_007_199_254_740_991
}

extension SocketIOPacket {
    /// Decodes the text form, checking the payload's shape for the type (an event is an array that
    /// starts with a string, an ack an array, a connect an object or nothing).
    public static func decode(_ buffer: ByteBuffer, maxAttachments: Int) throws(SocketIOError) -> SocketIOPacket {
        try buffer.withUnsafeReadableBytes { bytes in
            Result { () throws(SocketIOError) in try Self.decode(bytes, maxAttachments: maxAttachments) }
        }.get()
    }

    private static func decode(_ bytes: UnsafeRawBufferPointer, maxAttachments: Int) throws(SocketIOError) -> SocketIOPacket {
        guard let first = bytes.first, first >= UInt8(ascii: "0"),
            let kind = Kind(rawValue: first - UInt8(ascii: "0"))
        else { throw .invalidPacket }
        var packet = SocketIOPacket(kind: kind)
        var index = 1

        if kind == .binaryEvent || kind == .binaryAck {
            let start = index
            while index < bytes.count, bytes[index] != UInt8(ascii: "-") { index += 1 }
            guard index < bytes.count, index > start, index - start <= 6,
                let count = Int(String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<index]), as: UTF8.self))
            else { throw .invalidPacket }
            guard count <= maxAttachments else { throw .tooManyAttachments }
            packet.attachmentCount = count
            index += 1
        }

        if index < bytes.count, bytes[index] == UInt8(ascii: "/") {
            let start = index
            while index < bytes.count, bytes[index] != UInt8(ascii: ",") { index += 1 }
            guard let namespace = String(validating: UnsafeRawBufferPointer(rebasing: bytes[start..<index]), as: UTF8.self)
            else { throw .invalidPacket }
            packet.namespace = namespace
            if index < bytes.count { index += 1 }
        }

        let idStart = index
        while index < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[index]) { index += 1 }
        if index > idStart {
            guard index - idStart <= 16,
                let id = Int(String(decoding: UnsafeRawBufferPointer(rebasing: bytes[idStart..<index]), as: UTF8.self)),
                id <= maxAckID
            else { throw .invalidPacket }
            packet.ackID = id
        }

        if index < bytes.count {
            var parser = JSONParser(bytes: UnsafeRawBufferPointer(rebasing: bytes[index...]))
            do {
                packet.data = try parser.parseDocument()
            } catch {
                throw .invalidPacket
            }
        }
        guard packet.hasValidPayload else { throw .invalidPacket }
        return packet
    }

    private var hasValidPayload: Bool {
        switch self.kind {
        case .connect:
            switch self.data {
            case nil, .object?: return true
            default: return false
            }
        case .disconnect:
            return self.data == nil
        case .event, .binaryEvent:
            guard case .array(let elements)? = self.data, case .string? = elements.first else { return false }
            return true
        case .ack, .binaryAck:
            guard case .array? = self.data else { return false }
            return self.ackID != nil
        case .connectError:
            switch self.data {
            case .object?, .string?: return true
            default: return false
            }
        }
    }

    /// Replaces each placeholder of a binary packet's data with its attachment; throws when a
    /// placeholder is malformed or its number out of range.
    public func reconstructed(with attachments: [ByteBuffer]) throws(SocketIOError) -> SocketIOPacket {
        var packet = self
        // Only binary packets have placeholders: in any other packet `{"_placeholder":true}` is
        // data like any other (as the reference parser reads it), and nothing needs rebuilding.
        if let data = self.data, self.kind == .binaryEvent || self.kind == .binaryAck {
            packet.data = try Self.fill(data, attachments)
        }
        packet.kind = self.kind == .binaryEvent ? .event : (self.kind == .binaryAck ? .ack : self.kind)
        packet.attachmentCount = 0
        return packet
    }

    private static func fill(_ value: JSONValue, _ attachments: [ByteBuffer]) throws(SocketIOError) -> JSONValue {
        switch value {
        case .array(let elements):
            var filled: [JSONValue] = []
            filled.reserveCapacity(elements.count)
            for element in elements { filled.append(try fill(element, attachments)) }
            return .array(filled)
        case .object(let members):
            if members["_placeholder"] == .bool(true) {
                guard let number = members["num"]?.intValue, attachments.indices.contains(number) else {
                    throw .invalidPacket
                }
                return .binary(attachments[number])
            }
            var filled: [String: JSONValue] = [:]
            for (key, member) in members { filled[key] = try fill(member, attachments) }
            return .object(filled)
        default:
            return value
        }
    }

    /// Writes the text form; binary values in `data` become placeholders, returned as the attachments to
    /// send after it (the type is switched to its binary variant when there are any).
    public func encode(into buffer: inout ByteBuffer) -> [ByteBuffer] {
        var attachments: [ByteBuffer] = []
        var body = ByteBuffer()
        self.data?.write(to: &body, attachments: &attachments)
        Self.writeHeader(
            kind: self.kind,
            attachments: attachments.count,
            namespace: self.namespace,
            ackID: self.ackID,
            into: &buffer
        )
        buffer.writeImmutableBuffer(body)
        return attachments
    }

    /// Writes `<type>[<n>-][<namespace>,][<ack id>]`; an event or ack with attachments becomes binary.
    static func writeHeader(kind: Kind, attachments: Int, namespace: String, ackID: Int?, into buffer: inout ByteBuffer) {
        var kind = kind
        if attachments > 0 {
            if kind == .event { kind = .binaryEvent }
            if kind == .ack { kind = .binaryAck }
        }
        buffer.writeInteger(UInt8(ascii: "0") + kind.rawValue)
        if kind == .binaryEvent || kind == .binaryAck {
            buffer.writeString(String(attachments))
            buffer.writeInteger(UInt8(ascii: "-"))
        }
        if namespace != "/" {
            buffer.writeString(namespace)
            buffer.writeInteger(UInt8(ascii: ","))
        }
        if let ackID {
            buffer.writeString(String(ackID))
        }
    }
}
