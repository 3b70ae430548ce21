import EngineIO
import NIOCore
import Testing

@testable import SocketIO

@Suite("Socket.IO packet codec")
struct SocketIOPacketTests {
    private func decode(_ text: String) throws -> SocketIOPacket {
        try SocketIOPacket.decode(ByteBuffer(string: text), maxAttachments: 10)
    }

    private func encode(_ packet: SocketIOPacket) -> (String, [ByteBuffer]) {
        var buffer = ByteBuffer()
        let attachments = packet.encode(into: &buffer)
        return (String(buffer: buffer), attachments)
    }

    @Test(arguments: [
        ("0", SocketIOPacket(kind: .connect)),
        (#"0/admin,{"token":"123"}"#, SocketIOPacket(kind: .connect, namespace: "/admin", data: ["token": "123"])),
        ("1/admin,", SocketIOPacket(kind: .disconnect, namespace: "/admin")),
        (#"2["hello",1]"#, SocketIOPacket(kind: .event, data: ["hello", 1])),
        (#"2/admin,456["project:delete",123]"#, SocketIOPacket(kind: .event, namespace: "/admin", ackID: 456, data: ["project:delete", 123])),
        (#"3/admin,456[]"#, SocketIOPacket(kind: .ack, namespace: "/admin", ackID: 456, data: [])),
        (#"4{"message":"Not authorized"}"#, SocketIOPacket(kind: .connectError, data: ["message": "Not authorized"])),
    ])
    func textPacketsRoundTrip(text: String, packet: SocketIOPacket) throws {
        #expect(try self.decode(text) == packet)
        #expect(self.encode(packet).0 == text)
    }

    @Test func namespaceWithoutCommaIsAccepted() throws {
        #expect(try self.decode("0/custom").namespace == "/custom")
        #expect(try self.decode("1/custom").kind == .disconnect)
    }

    @Test func binaryEventWithPlaceholders() throws {
        let packet = try self.decode(#"52-["hello",{"_placeholder":true,"num":0},{"a":{"_placeholder":true,"num":1}}]"#)
        #expect(packet.kind == .binaryEvent)
        #expect(packet.attachmentCount == 2)
        let full = try packet.reconstructed(with: [ByteBuffer(bytes: [1, 2]), ByteBuffer(bytes: [3])])
        #expect(full.kind == .event)
        #expect(full.data?[1]?.binaryValue == ByteBuffer(bytes: [1, 2]))
        #expect(full.data?[2]?["a"]?.binaryValue == ByteBuffer(bytes: [3]))

        let (text, attachments) = self.encode(full)
        #expect(text == #"52-["hello",{"_placeholder":true,"num":0},{"a":{"_placeholder":true,"num":1}}]"#)
        #expect(attachments == [ByteBuffer(bytes: [1, 2]), ByteBuffer(bytes: [3])])
    }

    @Test func binaryAckWithNamespace() throws {
        let packet = SocketIOPacket(kind: .ack, namespace: "/admin", ackID: 456, data: [.binary(ByteBuffer(bytes: [9]))])
        let (text, attachments) = self.encode(packet)
        #expect(text == #"61-/admin,456[{"_placeholder":true,"num":0}]"#)
        #expect(attachments.count == 1)
        let decoded = try self.decode(text)
        #expect(decoded.kind == .binaryAck && decoded.ackID == 456 && decoded.namespace == "/admin")
        #expect(try decoded.reconstructed(with: attachments) == packet)
    }

    @Test(arguments: [
        "", "abc", "7", "9[]", "2", "2{}", "2[]", "2[1]", "2abc[\"a\"]", "3[]", "3/a,1{}", "0[]", "0\"x\"", "1{}",
        "5[\"a\"]", "5x-[\"a\"]", "5-[\"a\"]", "2[\"a\"", "2[\"a\"]x", "299999999999999999[\"a\"]", "2[\"a\",{\"to\":1,\"to\":2}]",
    ])
    func malformedPacketsAreRejected(_ text: String) {
        #expect(throws: SocketIOError.invalidPacket) { try self.decode(text) }
    }

    @Test func tooManyAttachmentsAreRejected() {
        #expect(throws: SocketIOError.tooManyAttachments) { try self.decode(#"511-["a"]"#) }
    }

    @Test func placeholderOutOfRangeIsRejected() throws {
        let packet = try self.decode(#"51-["a",{"_placeholder":true,"num":3}]"#)
        #expect(throws: SocketIOError.invalidPacket) { try packet.reconstructed(with: [ByteBuffer()]) }
    }

    @Test func placeholderShapedDataOfAPlainEventIsData() throws {
        let packet = try self.decode(#"2["a",{"_placeholder":true,"num":0}]"#)
        #expect(try packet.reconstructed(with: []) == packet)
    }

    @Test func encodedEventFromRawJSON() {
        let event = EncodedEvent(event: "message", rawJSONArguments: [ByteBuffer(string: #"{"id":"1"}"#), ByteBuffer(string: "2")])
        let messages = event.messages(kind: .event, namespace: "/", ackID: 7)
        #expect(messages == [.text(ByteBuffer(string: #"27["message",{"id":"1"},2]"#))])
        let binary = EncodedEvent(event: "file", arguments: [.binary(ByteBuffer(bytes: [1]))])
        #expect(binary.messages(kind: .event, namespace: "/custom", ackID: nil) == [
            .text(ByteBuffer(string: #"51-/custom,["file",{"_placeholder":true,"num":0}]"#)), .binary(ByteBuffer(bytes: [1])),
        ])
    }
}
