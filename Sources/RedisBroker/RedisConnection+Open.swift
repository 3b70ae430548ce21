#if canImport(Glibc)
import Glibc
#endif
import NIOCore
import NIOPosix

extension RedisConnection {
    /// Opens a channel and runs the setup commands (`AUTH`, `SELECT`, `CLIENT SETNAME`, `PING`):
    /// connecting, the TLS handshake (with `rediss://`) and the setup each within the connect timeout.
    func open(epoch: UInt64) async throws -> any Channel {
        let logger = self.logger
        let onPush: (@Sendable (RESPFrame) -> Void)?
        if let delegate = self.delegate as? any RedisPushDelegate {
            onPush = { frame in
                switch frame {
                case .value(let value): delegate.received(value, epoch: epoch)
                case .message(let channel, let payload): delegate.receivedMessage(channel: channel, payload: payload, epoch: epoch)
                }
            }
        } else {
            onPush = nil
        }
        let onInactive: @Sendable () -> Void = { [weak self] in self?.ended(epoch: epoch) }
        let replyTimeout = self.configuration.replyTimeout
        // In a cluster, the node that serves the broker's slot now.
        let node = try await self.route?.owner()
        if let node {
            logger.debug("connecting to the Redis cluster's node for the broker's slot", metadata: ["node": "\(node)", "connection": "\(self.role)"])
        }
        let tls = node.map { self.tls?.naming($0.host) } ?? self.tls
        // Errors and logs name the node connected to.
        let endpoint = node.map { "\($0) (cluster node, through \(self.endpoint))" } ?? self.endpoint
        // Completed once the TLS session is up (or could not be set up): only then the setup commands.
        let handshake = tls.map { _ in self.group.next().makePromise(of: Void.self) }
        let channel = try await ClientBootstrap(group: self.group)
            .connectTimeout(TimeAmount(self.configuration.connectTimeout))
            .channelOption(.socketOption(.so_keepalive), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let tls, let handshake {
                        try channel.pipeline.syncOperations.addHandlers(try tls.handler(), TLSHandshakeHandler(done: handshake))
                    }
                    try channel.pipeline.syncOperations.addHandlers(
                        ByteToMessageHandler(RESPFrameDecoder()),
                        RedisChannelHandler(
                            endpoint: endpoint, logger: logger, replyTimeout: replyTimeout, routed: node != nil, onPush: onPush,
                            onInactive: onInactive
                        )
                    )
                }
            }
            .connect(host: node?.host ?? self.configuration.host, port: node?.port ?? self.configuration.port)
            .flatMapErrorThrowing { error in
                handshake?.fail(error)
                throw error
            }
            .get()
        do {
            if let handshake { try await self.waitForHandshake(handshake, on: channel) }
            try await self.setUp(channel)
            return channel
        } catch {
            channel.close(promise: nil)
            throw error
        }
    }

    /// Waits (within the connect timeout) for the TLS handshake; its failure becomes a
    /// `connectionFailed` naming the cause.
    private func waitForHandshake(_ handshake: EventLoopPromise<Void>, on channel: any Channel) async throws {
        let timer = self.failAfterConnectTimeout(handshake, on: channel, "no TLS handshake")
        defer { timer.cancel() }
        do {
            try await handshake.futureResult.get()
        } catch let error as RedisError {
            throw error
        } catch {
            throw RedisError.connectionFailed(self.endpoint, error)
        }
    }

    /// Fails `promise` as unreachable ("`what` within <connect timeout>") unless it completed
    /// by then; cancel the returned task once it has.
    private func failAfterConnectTimeout<T>(_ promise: EventLoopPromise<T>, on channel: any Channel, _ what: String) -> Scheduled<Void> {
        let timeout = self.configuration.connectTimeout
        return channel.eventLoop.scheduleTask(in: TimeAmount(timeout)) {
            promise.fail(RedisError.unreachable("\(what) within \(timeout)"))
        }
    }

    private func setUp(_ channel: any Channel) async throws {
        var commands: [RedisCommand] = []
        if let password = self.configuration.password {
            commands.append(self.configuration.username.map { RedisCommand("AUTH", $0, password) } ?? RedisCommand("AUTH", password))
        }
        if self.configuration.database != 0 { commands.append(RedisCommand("SELECT", String(self.configuration.database))) }
        // A name tells operators (and tests) whose connection this is; an ACL user without
        // +client may not set it, which costs nothing else.
        let setName = self.clientName.map { RedisCommand("CLIENT", "SETNAME", $0) }
        if let setName { commands.append(setName) }
        // PING proves it is Redis and that it lets us in (-NOAUTH when a password is needed).
        commands.append(RedisCommand("PING"))
        let replies = channel.eventLoop.makePromise(of: [RESPValue].self)
        let timer = self.failAfterConnectTimeout(replies, on: channel, "no answer to AUTH/SELECT/PING")
        defer { timer.cancel() }
        Self.write(commands, on: channel, replies: replies, endpoint: self.endpoint)
        for (command, reply) in zip(commands, try await replies.futureResult.get()) where command != setName {
            if case .error(let message) = reply {
                throw RedisError.server("\(String(decoding: command.parts[0], as: UTF8.self)) failed: \(message)")
            }
        }
    }

    static func write(_ commands: [RedisCommand], on channel: any Channel, replies: EventLoopPromise<[RESPValue]>, endpoint: String) {
        let bytes = RedisCommand.encode(commands, allocator: channel.allocator)
        let request = RedisRequest(bytes: bytes, replies: .collect(count: commands.count, replies))
        // Fails only when the handler never saw the request (the channel had closed).
        channel.writeAndFlush(request).whenFailure { _ in replies.fail(RedisError.connectionLost(endpoint)) }
    }

    /// A short description of a connect failure.
    static func describe(_ error: any Error) -> String {
        if let error = error as? RedisError { return error.message }
        // NIO's failure lists every address tried; one address's error says it.
        if let error = error as? NIOConnectionError, let first = error.connectionErrors.first {
            if let io = first.error as? IOError { return String(cString: strerror(io.errnoCode)) }
            return "\(first.error)"
        }
        return "\(error)"
    }
}
