import NIOCore
import Synchronization

/// An event received from a client.
public struct IncomingEvent: Sendable {
    /// The event name.
    public var name: String
    /// The arguments after the name.
    public var arguments: [JSONValue]
    /// The acknowledgement the client waits for, when it asked for one.
    public var ack: Ack?
}

/// The acknowledgement of one client event. Answer it once; later calls do nothing.
/// It may be kept and answered later, from any task.
public final class Ack: Sendable {
    private let socket: Socket
    private let id: Int
    private let sent = Atomic<Bool>(false)

    init(socket: Socket, id: Int) {
        self.socket = socket
        self.id = id
    }

    /// Sends the ack with arguments that are already JSON text, one complete value each (not checked).
    public func send(rawJSONArguments arguments: [ByteBuffer]) {
        guard !self.sent.exchange(true, ordering: .relaxed) else { return }
        var body = ByteBuffer()
        body.reserveCapacity(arguments.reduce(2) { $0 + $1.readableBytes + 1 })
        body.writeInteger(UInt8(ascii: "["))
        for (index, argument) in arguments.enumerated() {
            if index > 0 { body.writeInteger(UInt8(ascii: ",")) }
            body.writeImmutableBuffer(argument)
        }
        body.writeInteger(UInt8(ascii: "]"))
        self.socket.send(
            EncodedEvent.messages(body: body, attachments: [], kind: .ack, namespace: self.socket.namespace, ackID: self.id)
        )
    }

    /// Sends the ack with these arguments (binary ones as attachments).
    public func send(_ arguments: [JSONValue]) {
        guard !self.sent.exchange(true, ordering: .relaxed) else { return }
        var body = ByteBuffer()
        var attachments: [ByteBuffer] = []
        JSONValue.array(arguments).write(to: &body, attachments: &attachments)
        self.socket.send(
            EncodedEvent.messages(body: body, attachments: attachments, kind: .ack, namespace: self.socket.namespace, ackID: self.id)
        )
    }
}
