import Logging
import NIOCore

/// What the replies to one write are for.
enum RedisReplies: Sendable {
    /// `count` replies, in order, complete the promise (error replies included, as values).
    case collect(count: Int, EventLoopPromise<[RESPValue]>)
    /// `count` replies nobody waits for; error replies among them are logged (fire-and-forget
    /// PUBLISH). The write's promise, if any, succeeds once they all came and fails if the
    /// connection ends first: the commands may not have run.
    case check(count: Int)
    /// No reply in order: in subscribe mode Redis answers with pushes, which go to the push handler.
    case pushes
}

/// One write on a Redis connection: encoded commands and what their replies are for.
struct RedisRequest: Sendable {
    /// The encoded commands (see ``RedisCommand/encode(_:allocator:)``).
    var bytes: ByteBuffer
    /// Where their replies go.
    var replies: RedisReplies
}

/// Matches Redis's replies to the writes that asked for them (first in, first out) and hands
/// everything else (pub/sub pushes) to `onPush`.
///
/// When the connection ends every pending write fails at once, so no caller waits forever; a
/// reply overdue by more than the reply timeout (Redis hung, or the network silently gone) ends
/// the connection too.
final class RedisChannelHandler: ChannelDuplexHandler {
    typealias InboundIn = RESPFrame
    typealias OutboundIn = RedisRequest
    typealias OutboundOut = ByteBuffer

    private struct Pending {
        var remaining: Int
        var values: [RESPValue]
        let promise: EventLoopPromise<[RESPValue]>?
        /// The promise of a `.check` write, completed with its replies.
        let answered: EventLoopPromise<Void>?
        let sent: NIODeadline
    }

    private var pending = CircularBuffer<Pending>()
    /// The connection failed or ended: what is written now gets no reply.
    private var ended = false
    private let endpoint: String
    private let logger: Logger
    private let onPush: (@Sendable (RESPFrame) -> Void)?
    private let onInactive: @Sendable () -> Void
    private let replyTimeout: TimeAmount
    /// The connection goes where a cluster's topology says (``ClusterRoute``).
    private let routed: Bool
    /// The next look for an overdue reply.
    private var overdueCheck: Scheduled<Void>?
    /// Error replies to unchecked writes since the last one logged (logged at most every 10 s).
    private var uncheckedErrors = 0
    private var nextErrorLog = NIODeadline.uptimeNanoseconds(0)

    /// `onPush` receives values no write waits for (nil: such a value is a protocol error);
    /// `onInactive` is called once when the connection has ended.
    init(endpoint: String, logger: Logger, replyTimeout: Duration, routed: Bool = false,
         onPush: (@Sendable (RESPFrame) -> Void)?, onInactive: @escaping @Sendable () -> Void) {
        self.routed = routed
        self.endpoint = endpoint
        self.logger = logger
        self.replyTimeout = TimeAmount(replyTimeout)
        self.onPush = onPush
        self.onInactive = onInactive
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let request = self.unwrapOutboundIn(data)
        if self.ended {
            if case .collect(_, let replies) = request.replies { replies.fail(RedisError.connectionLost(self.endpoint)) }
            promise?.fail(RedisError.connectionLost(self.endpoint))
            return
        }
        switch request.replies {
        case .collect(let count, let replies):
            if count > 0 {
                self.pending.append(Pending(remaining: count, values: [], promise: replies, answered: nil, sent: .now()))
            } else {
                replies.succeed([])
            }
        case .check(let count) where count > 0:
            self.pending.append(Pending(remaining: count, values: [], promise: nil, answered: promise, sent: .now()))
            context.write(self.wrapOutboundOut(request.bytes), promise: nil)
            return
        case .check, .pushes:
            break
        }
        // A failed write closes the channel, which fails the replies: they are what callers wait for.
        context.write(self.wrapOutboundOut(request.bytes), promise: nil)
        promise?.succeed(())
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = self.unwrapInboundIn(data)
        guard !self.pending.isEmpty else {
            if let onPush = self.onPush { return onPush(frame) }
            let error = RedisError.protocolViolation("a reply nobody asked for: \(frame.value)")
            return self.errorCaught(context: context, error: error)
        }
        let value = frame.value
        // The node is a primary no more (a failover: READONLY), or, in a cluster, no longer
        // serves the broker's slot (MOVED): the reply goes to its caller as any error does, and
        // the connection starts over, reaching the primary again (through the cluster's
        // topology, ``ClusterRoute``, or a name that follows the primary).
        defer {
            if let message = value.errorMessage, message.hasPrefix("READONLY ") || (self.routed && message.hasPrefix("MOVED ")) {
                self.logger.notice("Redis node no longer takes the broker's writes; reconnecting",
                                   metadata: ["redis": "\(self.endpoint)", "reply": "\(message)"])
                context.close(promise: nil)
            }
        }
        let head = self.pending.startIndex
        self.pending[head].remaining -= 1
        if let promise = self.pending[head].promise {
            self.pending[head].values.append(value)
            if self.pending[head].remaining == 0 { promise.succeed(self.pending.removeFirst().values) }
            return
        }
        if self.pending[head].remaining == 0 { self.pending.removeFirst().answered?.succeed(()) }
        if case .error(let message) = value { self.uncheckedError(message) }
    }

    func channelActive(context: ChannelHandlerContext) {
        self.scheduleOverdueCheck(context)
        context.fireChannelActive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        self.ended = true
        self.failAll(error as? RedisError ?? .connectionFailed(self.endpoint, error))
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.ended = true
        self.failAll(.connectionLost(self.endpoint))
        self.onInactive()
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.ended = true
        self.failAll(.connectionLost(self.endpoint))
    }

    /// Looks for an overdue reply a few times per timeout (at least every second).
    private func scheduleOverdueCheck(_ context: ChannelHandlerContext) {
        let period = TimeAmount.nanoseconds(min(self.replyTimeout.nanoseconds / 4, 1_000_000_000))
        self.overdueCheck = context.eventLoop.assumeIsolated().scheduleTask(in: period) {
            guard !self.ended else { return }
            if let oldest = self.pending.first, NIODeadline.now() - oldest.sent > self.replyTimeout {
                self.errorCaught(context: context, error: RedisError.timedOut(self.endpoint, self.replyTimeout))
            } else {
                self.scheduleOverdueCheck(context)
            }
        }
    }

    private func failAll(_ error: RedisError) {
        self.overdueCheck?.cancel()
        self.overdueCheck = nil
        while let pending = self.pending.popFirst() {
            pending.promise?.fail(error)
            pending.answered?.fail(error)
        }
    }

    private func uncheckedError(_ message: String) {
        self.uncheckedErrors += 1
        let now = NIODeadline.now()
        guard now >= self.nextErrorLog else { return }
        self.logger.warning("Redis refused unchecked commands", metadata: [
            "redis": "\(self.endpoint)", "count": "\(self.uncheckedErrors)", "error": "\(message)",
        ])
        self.uncheckedErrors = 0
        self.nextErrorLog = now + .seconds(10)
    }
}
