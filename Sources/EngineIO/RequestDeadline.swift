import NIOCore
import NIOHTTPTypes

/// Closes the connection when a request does not arrive whole (its body) within `limit` of its
/// head: the idle timeout counts any byte as activity, so without this a body trickled in a byte
/// at a time would hold the connection for ever. A request read whole is not timed while it is
/// answered (a long poll waits as long as it must). Touched only on the channel's event loop.
final class RequestDeadline: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart

    private let limit: TimeAmount
    private var timer: Scheduled<Void>?

    init(limit: TimeAmount) {
        self.limit = limit
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch self.unwrapInboundIn(data) {
        case .head:
            self.timer?.cancel()
            let channel = context.channel
            self.timer = context.eventLoop.scheduleTask(in: self.limit) { channel.close(promise: nil) }
        case .end:
            self.timer?.cancel()
            self.timer = nil
        case .body:
            break
        }
        context.fireChannelRead(data)
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.timer?.cancel()
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.timer?.cancel()
    }
}
