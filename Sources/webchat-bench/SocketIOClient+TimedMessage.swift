import ArgumentParser
import NIOCore

/// The smallest body `sendTimedMessage` writes: a send time of up to 20 digits (a `UInt64`)
/// and its colon. Smaller `--size`s are refused rather than silently raised.
let minimumBodySize = 21

/// Refuses a `--size` below `minimumBodySize`.
func validateBodySize(_ size: Int) throws {
    guard size >= minimumBodySize else {
        throw ValidationError("--size must be at least \(minimumBodySize) bytes (the body carries its send time), not \(size)")
    }
}

extension SocketIOClient {
    /// Emits a chat `message` (with ack) `{"id","to" or "group","body"}` with the id
    /// `<idPrefix><number>` and a body of `size` bytes (at least `minimumBodySize`) that starts
    /// with its send time (`<monotonic nanoseconds>:xxx…`): `stamp` (a paced message's intended
    /// send time) or else now. Counts it as sent and returns its ack id. Written straight into
    /// the frame's buffer: the load generator shares the box with the server it measures.
    @discardableResult
    func sendTimedMessage(
        idPrefix: String, number: Int, target: (key: StaticString, id: String), size: Int, stamp: UInt64? = nil, stats: BenchStats
    ) -> Int? {
        let ackID = emit(withAck: true, capacity: idPrefix.utf8.count + target.id.utf8.count + size + 64) { buffer in
            buffer.writeStaticString("[\"message\",{\"id\":\"")
            buffer.writeString(idPrefix)
            buffer.writeDecimal(UInt64(number))
            buffer.writeStaticString("\",\"")
            buffer.writeStaticString(target.key)
            buffer.writeStaticString("\":\"")
            buffer.writeString(target.id)
            buffer.writeStaticString("\",\"body\":\"")
            let start = buffer.writerIndex
            buffer.writeDecimal(stamp ?? BenchStats.now())
            buffer.writeInteger(UInt8(ascii: ":"))
            let written = buffer.writerIndex - start
            if written < size { buffer.writeRepeatingByte(UInt8(ascii: "x"), count: size - written) }
            buffer.writeStaticString("\"}]")
        }
        stats.sent.add(1, ordering: .relaxed)
        return ackID
    }
}

/// The send time at the start of a body sent by `sendTimedMessage`.
func sentTime(ofBody body: String?) -> UInt64? {
    guard let body, let colon = body.firstIndex(of: ":") else { return nil }
    return UInt64(body[..<colon])
}
