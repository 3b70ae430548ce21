import EngineIO
import NIOCore

/// An event encoded once: `["name",arg…]` as JSON (binary arguments as placeholders plus their
/// attachments). Emitting it to many sockets writes the same bytes to each; only the packet header
/// (type, namespace, ack id) is written per socket.
public struct EncodedEvent: Sendable {
    /// The JSON array text.
    let body: ByteBuffer
    /// The binary attachments, in placeholder order.
    let attachments: [ByteBuffer]

    /// Encodes an event and its arguments.
    public init(event: String, arguments: [JSONValue]) {
        var body = ByteBuffer()
        var attachments: [ByteBuffer] = []
        JSONValue.array([.string(event)] + arguments).write(to: &body, attachments: &attachments)
        self.body = body
        self.attachments = attachments
    }

    /// An event whose arguments are already JSON text, one complete JSON value each (not checked).
    public init(event: String, rawJSONArguments: [ByteBuffer]) {
        var body = ByteBuffer()
        body.reserveCapacity(rawJSONArguments.reduce(event.utf8.count + 8) { $0 + $1.readableBytes + 1 })
        body.writeInteger(UInt8(ascii: "["))
        JSONValue.write(string: event, to: &body)
        for argument in rawJSONArguments {
            body.writeInteger(UInt8(ascii: ","))
            body.writeImmutableBuffer(argument)
        }
        body.writeInteger(UInt8(ascii: "]"))
        self.body = body
        self.attachments = []
    }

    /// The Engine.IO messages of this event as a packet of `kind` for `namespace` with `ackID`.
    func messages(kind: SocketIOPacket.Kind, namespace: String, ackID: Int?) -> [EngineMessage] {
        Self.messages(body: self.body, attachments: self.attachments, kind: kind, namespace: namespace, ackID: ackID)
    }

    /// The Engine.IO messages of a packet whose JSON body is already written.
    static func messages(body: ByteBuffer, attachments: [ByteBuffer], kind: SocketIOPacket.Kind, namespace: String, ackID: Int?)
        -> [EngineMessage]
    {
        var text = ByteBuffer()
        text.reserveCapacity(body.readableBytes + namespace.utf8.count + 24)
        SocketIOPacket.writeHeader(kind: kind, attachments: attachments.count, namespace: namespace, ackID: ackID, into: &text)
        text.writeImmutableBuffer(body)
        return [.text(text)] + attachments.map { .binary($0) }
    }
}
