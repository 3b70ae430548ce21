import NIOCore
import Testing

@testable import RedisBroker

@Suite("RESP codec")
struct RESPCodecTests {
    /// Decodes `chunks`, fed one after the other as separate reads.
    private static func decode(_ chunks: [[UInt8]]) throws -> [RESPValue] {
        let processor = NIOSingleStepByteToMessageProcessor(RESPDecoder())
        var values: [RESPValue] = []
        for chunk in chunks {
            try processor.process(buffer: ByteBuffer(bytes: chunk)) { values.append($0) }
        }
        return values
    }

    private static func bulk(_ text: String) -> RESPValue { .bulkString(ByteBuffer(string: text)) }

    /// A stream with every kind of value, nested arrays, empty and null ones, binary bytes.
    private static let stream: [UInt8] = Array(
        "+OK\r\n-ERR wrong number of arguments\r\n:-42\r\n:0\r\n$5\r\nhello\r\n$0\r\n\r\n$-1\r\n*-1\r\n*0\r\n".utf8)
        + Array("*3\r\n$7\r\nmessage\r\n*2\r\n:1\r\n*1\r\n$3\r\nfoo\r\n$4\r\n".utf8) + [0x0D, 0x0A, 0x00, 0xFF] + Array("\r\n".utf8)
    private static let expected: [RESPValue] = [
        .simpleString("OK"), .error("ERR wrong number of arguments"), .integer(-42), .integer(0), bulk("hello"), bulk(""),
        .bulkString(nil), .array(nil), .array([]),
        .array([bulk("message"), .array([.integer(1), .array([bulk("foo")])]), .bulkString(ByteBuffer(bytes: [0x0D, 0x0A, 0x00, 0xFF]))]),
    ]

    @Test("several values in one read, each kind of value, binary-safe bulk strings")
    func oneRead() throws {
        #expect(try Self.decode([Self.stream]) == Self.expected)
    }

    @Test("values split across reads at any byte come out the same")
    func everySplit() throws {
        for split in 1..<Self.stream.count {
            let values = try Self.decode([Array(Self.stream[..<split]), Array(Self.stream[split...])])
            #expect(values == Self.expected, "split at \(split)")
        }
        let byteByByte = try Self.decode(Self.stream.map { [$0] })
        #expect(byteByByte == Self.expected)
    }

    @Test("an incomplete value waits for the rest", arguments: ["+OK", "+OK\r", ":12", "$5\r\nhel", "$5\r\nhello\r", "*2\r\n:1\r\n", "*1\r\n*1\r\n"])
    func incomplete(prefix: String) throws {
        #expect(try Self.decode([Array(prefix.utf8)]).isEmpty)
    }

    @Test("malformed input is a protocol error", arguments: [
        "?what\r\n", ":12a\r\n", ":\r\n", "$abc\r\n", "$-2\r\n", "$3\r\nabcd\r\n", "*-5\r\n", "+OK\n", ":99999999999999999999\r\n",
    ])
    func malformed(input: String) {
        #expect(throws: RedisError.self) { try Self.decode([Array(input.utf8)]) }
    }

    @Test("a command is an array of bulk strings")
    func encodeCommand() {
        var buffer = ByteBuffer()
        RedisCommand("SET", "key", "").write(into: &buffer)
        #expect(String(buffer: buffer) == "*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$0\r\n\r\n")
    }

    @Test("commands encode binary-safe, with the length they announce, and decode back to their parts")
    func encodeBinary() throws {
        let binary: [UInt8] = [0x0D, 0x0A, 0x00, 0x24, 0x2A, 0xFF] + Array(repeating: 0x41, count: 1000)
        let commands = [
            RedisCommand(parts: [Array("PUBLISH".utf8), Array("chän".utf8), binary]),
            RedisCommand("PING"),
        ]
        let buffer = RedisCommand.encode(commands, allocator: ByteBufferAllocator())
        #expect(buffer.readableBytes == commands.reduce(0) { $0 + $1.encodedLength })
        let decoded = try Self.decode([Array(buffer.readableBytesView)])
        #expect(decoded == commands.map { command in .array(command.parts.map { .bulkString(ByteBuffer(bytes: $0)) }) })
    }

    @Test("pushes on user channels are read as messages and confirmations")
    func pushes() {
        let prefix = Array("p:user:".utf8)
        let envelope = event(7)
        let message = RESPValue.array([Self.bulk("message"), Self.bulk("p:user:alice"), .bulkString(ByteBuffer(bytes: envelope.bytes))])
        #expect(RedisPush(message, channelPrefix: prefix) == .message(uid("alice"), envelope))
        #expect(RedisPush(.array([Self.bulk("subscribe"), Self.bulk("p:user:bob"), .integer(1)]), channelPrefix: prefix) == .subscribed(uid("bob")))
        #expect(RedisPush(.array([Self.bulk("unsubscribe"), Self.bulk("p:user:bob"), .integer(0)]), channelPrefix: prefix) == .unsubscribed(uid("bob")))
        #expect(RedisPush(.error("NOPERM"), channelPrefix: prefix) == .error("NOPERM"))
        #expect(RedisPush(.array([Self.bulk("pong"), Self.bulk("")]), channelPrefix: prefix) == .pong)
        #expect(RedisPush(.simpleString("PONG"), channelPrefix: prefix) == .pong)
        let foreign = RESPValue.array([Self.bulk("message"), Self.bulk("other:alice"), Self.bulk("T1 x\n")])
        #expect(RedisPush(foreign, channelPrefix: prefix) == .unexpected("\(foreign)"))
        let garbled = RESPValue.array([Self.bulk("message"), Self.bulk("p:user:alice"), Self.bulk("no newline")])
        #expect(RedisPush(garbled, channelPrefix: prefix) == .ignored)
        let resync = Array("p:resync".utf8)
        #expect(RedisPush(.array([Self.bulk("message"), Self.bulk("p:resync"), Self.bulk("R\n")]), channelPrefix: prefix, resyncChannel: resync) == .resyncAll)
        #expect(RedisPush(.array([Self.bulk("message"), Self.bulk("p:resync"), Self.bulk("T1 x\n")]), channelPrefix: prefix, resyncChannel: resync) == .ignored)
        #expect(RedisPush(.array([Self.bulk("subscribe"), Self.bulk("p:resync"), .integer(1)]), channelPrefix: prefix, resyncChannel: resync) == .subscribedResyncChannel)
        #expect(RedisPush(message, channelPrefix: prefix, resyncChannel: resync) == .message(uid("alice"), envelope))
    }

    @Test("a message push read by the fast path is the push its value is")
    func messageFastPath() {
        let prefix = Array("p:user:".utf8)
        let resync = Array("p:resync".utf8)
        let cases: [(channel: String, payload: [UInt8])] = [
            ("p:user:alice", event(7).bytes), ("p:user:alice", Array("no newline".utf8)), ("other:alice", Array("T1 x\n".utf8)),
            ("p:resync", Array("R\n".utf8)), ("p:resync", Array("T1 x\n".utf8)),
        ]
        for (channel, payload) in cases {
            let value = RESPValue.array([Self.bulk("message"), Self.bulk(channel), .bulkString(ByteBuffer(bytes: payload))])
            let fast = RedisPush(message: ByteBuffer(string: channel), payload: ByteBuffer(bytes: payload), channelPrefix: prefix, resyncChannel: resync)
            #expect(fast == RedisPush(value, channelPrefix: prefix, resyncChannel: resync), "\(channel)")
        }
    }

    /// Decodes `chunks` with the frame decoder, fed one after the other as separate reads.
    private static func decodeFrames(_ chunks: [[UInt8]]) throws -> [RESPFrame] {
        let processor = NIOSingleStepByteToMessageProcessor(RESPFrameDecoder())
        var frames: [RESPFrame] = []
        for chunk in chunks {
            try processor.process(buffer: ByteBuffer(bytes: chunk)) { frames.append($0) }
        }
        return frames
    }

    /// Two message pushes (one with a binary payload), and the generic stream in between.
    private static let pushStream: [UInt8] = Array("*3\r\n$7\r\nmessage\r\n$12\r\np:user:alice\r\n$5\r\nT1 x\n\r\n".utf8) + stream
        + Array("*3\r\n$7\r\nmessage\r\n$0\r\n\r\n$4\r\n".utf8) + [0x0D, 0x0A, 0x24, 0xFF] + Array("\r\n".utf8)
    private static let pushExpected: [RESPValue] = [.array([bulk("message"), bulk("p:user:alice"), bulk("T1 x\n")])] + expected
        + [.array([bulk("message"), bulk(""), .bulkString(ByteBuffer(bytes: [0x0D, 0x0A, 0x24, 0xFF]))])]

    @Test("the frame decoder reads message pushes as slices and everything else as values, split at any byte")
    func frames() throws {
        let whole = try Self.decodeFrames([Self.pushStream])
        #expect(whole.map(\.value) == Self.pushExpected)
        #expect(whole.filter { if case .message = $0 { true } else { false } }.count == 2)
        for split in 1..<Self.pushStream.count {
            let frames = try Self.decodeFrames([Array(Self.pushStream[..<split]), Array(Self.pushStream[split...])])
            #expect(frames.map(\.value) == Self.pushExpected, "split at \(split)")
        }
        #expect(try Self.decodeFrames(Self.pushStream.map { [$0] }).map(\.value) == Self.pushExpected)
    }

    @Test("a malformed message push is the generic decoder's to refuse", arguments: [
        "*3\r\n$7\r\nmessage\r\n$-2\r\n", "*3\r\n$7\r\nmessage\r\n$3\r\nabcd\r\n", "*3\r\n$7\r\nmessage\r\n$1x\r\n",
    ])
    func malformedMessage(input: String) {
        #expect(throws: RedisError.self) { try Self.decodeFrames([Array(input.utf8)]) }
    }
}
