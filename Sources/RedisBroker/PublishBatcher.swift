import ChatCore
import NIOCore
import Synchronization

/// Writes the broker's fire-and-forget PUBLISHes (``RedisBroker/publishNow(_:to:)``) on the
/// command connection: each straight into one buffer (channel name and envelope, no arrays of
/// parts), and those made while a write is waiting for the event loop into that same write, so
/// a commit's envelopes cost one hop to the loop, one write and one flush, not one per envelope.
///
/// The users of the timeline envelopes in a write are handed to ``LostPublishes`` if the
/// connection ends before Redis answered it all: one promise per write, not per publish. The
/// order of the PUBLISHes is the order of the calls, whatever thread makes them.
final class PublishBatcher: Sendable {
    private struct Batch {
        /// The connection the batch goes to: the one live when it began.
        let channel: any Channel
        var bytes: ByteBuffer
        var count = 0
        /// The users to resync if the batch is lost.
        var lost: [UserID] = []
    }

    /// The batch waiting for the event loop, if any.
    private let pending = Mutex<Batch?>(nil)
    private let connection: RedisConnection
    private let channelPrefix: [UInt8]
    private let lostPublishes: LostPublishes

    /// A batcher writing to `connection`, on channels named `channelPrefix` + user id.
    init(connection: RedisConnection, channelPrefix: String, lostPublishes: LostPublishes) {
        self.connection = connection
        self.channelPrefix = Array(channelPrefix.utf8)
        self.lostPublishes = lostPublishes
    }

    /// Queues a PUBLISH of `envelope` per user: `false`, and nothing queued, when the connection
    /// is down or its send buffer is full. With `resync`, the users get a resync if the PUBLISHes
    /// may be lost (see ``LostPublishes``).
    func publish(_ envelope: BrokerEnvelope, to users: [UserID], resync: Bool) -> Bool {
        guard let channel = self.connection.liveChannel, channel.isWritable else { return false }
        let length = envelope.encodedCount
        let prefix = self.channelPrefix
        let begun = self.pending.withLock { batch -> Bool in
            let begun = batch == nil
            if begun { batch = Batch(channel: channel, bytes: channel.allocator.buffer(capacity: max(1024, 2 * (length + 64)))) }
            for user in users { Self.writePublish(envelope, length: length, on: prefix, user, into: &batch!.bytes) }
            batch!.count += users.count
            if resync { batch!.lost.append(contentsOf: users) }
            return begun
        }
        if begun { channel.eventLoop.execute { self.flush() } }
        return true
    }

    /// Writes the batch, on its channel's event loop.
    private func flush() {
        guard let batch = self.pending.withLock({ batch -> Batch? in
            let taken = batch
            batch = nil
            return taken
        }) else { return }
        let request = RedisRequest(bytes: batch.bytes, replies: .check(count: batch.count))
        guard !batch.lost.isEmpty else { return batch.channel.writeAndFlush(request, promise: nil) }
        // Failed by the handler when the connection ends before the replies came (or by the
        // pipeline, if it had closed already).
        let answered = batch.channel.eventLoop.makePromise(of: Void.self)
        let (lost, lostPublishes) = (batch.lost, self.lostPublishes)
        answered.futureResult.whenFailure { _ in lostPublishes.record(lost) }
        batch.channel.writeAndFlush(request, promise: answered)
    }

    /// `*3 $7 PUBLISH $n <prefix><user> $m <envelope>`, as ``RedisCommand/write(into:)`` would.
    private static func writePublish(_ envelope: BrokerEnvelope, length: Int, on prefix: [UInt8], _ user: UserID,
                                     into buffer: inout ByteBuffer) {
        buffer.writeStaticString("*3\r\n$7\r\nPUBLISH\r\n$")
        buffer.writeString(String(prefix.count + user.rawValue.utf8.count))
        buffer.writeStaticString("\r\n")
        buffer.writeBytes(prefix)
        buffer.writeString(user.rawValue)
        buffer.writeStaticString("\r\n$")
        buffer.writeString(String(length))
        buffer.writeStaticString("\r\n")
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: length) { envelope.encode(into: $0) }
        buffer.writeStaticString("\r\n")
    }
}
