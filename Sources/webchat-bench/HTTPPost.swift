import NIOCore
import NIOHTTP1
import NIOPosix
import SocketIO

/// A minimal HTTP/1.1 JSON POST over NIO, enough to open bench sessions.
enum HTTPPost {
    /// POSTs `json` to `path` and returns the parsed JSON body of a 2xx answer.
    static func json(host: String, port: Int, path: String, json: String, on eventLoop: any EventLoop) -> EventLoopFuture<JSONValue> {
        let promise = eventLoop.makePromise(of: JSONValue.self)
        ClientBootstrap(group: eventLoop)
            .connectTimeout(.seconds(10))
            .channelInitializer { channel in
                channel.pipeline.addHTTPClientHandlers().flatMap {
                    channel.pipeline.addHandler(ResponseCollector(promise: promise))
                }
            }
            .connect(host: host, port: port)
            .whenComplete { result in
                switch result {
                case .failure(let error):
                    promise.fail(error)
                case .success(let channel):
                    var headers = HTTPHeaders()
                    headers.add(name: "Host", value: "\(host):\(port)")
                    headers.add(name: "Content-Type", value: "application/json")
                    headers.add(name: "Content-Length", value: String(json.utf8.count))
                    headers.add(name: "Connection", value: "close")
                    let head = HTTPRequestHead(version: .http1_1, method: .POST, uri: path, headers: headers)
                    channel.write(HTTPClientRequestPart.head(head), promise: nil)
                    channel.write(HTTPClientRequestPart.body(.byteBuffer(ByteBuffer(string: json))), promise: nil)
                    channel.writeAndFlush(HTTPClientRequestPart.end(nil), promise: nil)
                }
            }
        return promise.futureResult
    }

    /// Opens a session in open auth mode and returns its token.
    static func openSession(host: String, port: Int, user: String, on eventLoop: any EventLoop) -> EventLoopFuture<String> {
        json(host: host, port: port, path: "/api/v1/sessions", json: "{\"id\":\"\(user)\"}", on: eventLoop).flatMapThrowing { body in
            guard let token = body["token"]?.stringValue else { throw BenchError("no token for \(user): \(body.jsonString)") }
            return token
        }
    }
}

/// Collects one response and completes the promise when it ends.
private final class ResponseCollector: ChannelInboundHandler, @unchecked Sendable {
    // @unchecked Sendable: lives on its channel's event loop only.
    typealias InboundIn = HTTPClientResponsePart

    let promise: EventLoopPromise<JSONValue>
    private var status = 0
    private var body = ByteBuffer()
    private var done = false

    init(promise: EventLoopPromise<JSONValue>) {
        self.promise = promise
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            status = Int(head.status.code)
        case .body(var part):
            body.writeBuffer(&part)
        case .end:
            done = true
            if (200..<300).contains(status), let value = try? JSONValue(parsing: body) {
                promise.succeed(value)
            } else {
                promise.fail(BenchError("HTTP \(status): \(String(buffer: body))"))
            }
            context.close(promise: nil)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        if !done {
            done = true
            promise.fail(BenchError("connection closed before the response ended"))
        }
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if !done {
            done = true
            promise.fail(error)
        }
        context.close(promise: nil)
    }
}
