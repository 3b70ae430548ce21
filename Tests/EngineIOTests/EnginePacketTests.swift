import NIOCore
import Testing

@testable import EngineIO

@Suite("Engine.IO packet codec")
struct EnginePacketTests {
    private func text(_ packet: EnginePacket) -> String {
        var buffer = ByteBuffer()
        packet.encodeText(into: &buffer)
        return String(buffer: buffer)
    }

    @Test func textPacketsRoundTrip() throws {
        let packets: [EnginePacket] = [
            .open(ByteBuffer(string: #"{"sid":"x"}"#)), .close, .ping(ByteBuffer()), .pong(ByteBuffer(string: "probe")),
            .message(.text(ByteBuffer(string: "hello é"))), .upgrade, .noop,
        ]
        for packet in packets {
            let decoded = try EnginePacket.decode(text: ByteBuffer(string: self.text(packet)))
            #expect(decoded == packet)
        }
        #expect(self.text(.message(.text(ByteBuffer(string: "hi")))) == "4hi")
        #expect(self.text(.ping(EnginePacket.probeData)) == "2probe")
    }

    @Test func binaryMessageIsBase64OverPolling() throws {
        let packet = EnginePacket.message(.binary(ByteBuffer(bytes: [1, 2, 3, 4])))
        #expect(self.text(packet) == "bAQIDBA==")
        #expect(try EnginePayload.decode(ByteBuffer(string: "bAQIDBA==")) == [packet])
    }

    @Test func payloadFraming() throws {
        let payload = "4hello\u{1e}bAQIDBA==\u{1e}2\u{1e}6"
        let packets = try EnginePayload.decode(ByteBuffer(string: payload))
        #expect(packets == [.message(.text(ByteBuffer(string: "hello"))), .message(.binary(ByteBuffer(bytes: [1, 2, 3, 4]))), .ping(ByteBuffer()), .noop])
        #expect(String(buffer: EnginePayload.encode(packets)) == payload)
    }

    @Test(arguments: ["", "abc", "7", "4a\u{1e}", "\u{1e}4a", "4a\u{1e}\u{1e}4b", "b!!!", "bAQ=ID", "b===="])
    func malformedInputIsRejected(_ input: String) {
        #expect(throws: EngineIOError.invalidPacket) {
            try EnginePayload.decode(ByteBuffer(string: input))
        }
    }

    @Test func base64RoundTripsAllLengths() throws {
        for length in 0..<20 {
            let bytes = (0..<length).map { UInt8(truncatingIfNeeded: $0 * 37 + 11) }
            var encoded = ByteBuffer()
            Base64.encode(bytes, into: &encoded)
            #expect(Base64.decode(encoded.readableBytesView) == ByteBuffer(bytes: bytes))
        }
    }
}
