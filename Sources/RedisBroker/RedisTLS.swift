import NIOCore
import NIOSSL
import NIOTLS

/// What a connection needs to speak TLS to Redis: one context, made once per broker (the CA
/// file is read then), and the name the certificate must carry.
struct RedisTLS: Sendable {
    let context: NIOSSLContext
    /// The host as SNI and for hostname verification; nil for an IP address, whose certificate is
    /// then checked against the address connected to (its IP subject alternative names).
    let serverHostname: String?

    /// Nil when `configuration` asks for no TLS; throws an `invalidConfiguration` naming the
    /// file that cannot be read (the CA file, the client certificate or its key).
    init?(_ configuration: RedisBrokerConfiguration) throws {
        guard let tls = configuration.tls else { return nil }
        var settings = TLSConfiguration.makeClientConfiguration()
        if let caFile = tls.caFile {
            do {
                settings.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(caFile))
            } catch {
                throw RedisError.invalidConfiguration("cannot read the Redis CA file \(caFile): \(error)")
            }
        }
        if let certificateFile = tls.certificateFile, let keyFile = tls.keyFile {
            do {
                settings.certificateChain = try NIOSSLCertificate.fromPEMFile(certificateFile).map { .certificate($0) }
            } catch {
                throw RedisError.invalidConfiguration("cannot read the Redis client certificate \(certificateFile): \(error)")
            }
            do {
                settings.privateKey = .privateKey(try NIOSSLPrivateKey(file: keyFile, format: .pem))
            } catch {
                throw RedisError.invalidConfiguration("cannot read the Redis client key \(keyFile): \(error)")
            }
        }
        do {
            self.context = try NIOSSLContext(configuration: settings)
        } catch {
            throw RedisError.invalidConfiguration("cannot set up TLS for Redis: \(error)")
        }
        self.serverHostname = Self.serverHostname(configuration.host)
    }

    private init(context: NIOSSLContext, serverHostname: String?) {
        self.context = context
        self.serverHostname = serverHostname
    }

    /// The same settings for a connection to `host` (a cluster's node), whose certificate must
    /// carry that name or address.
    func naming(_ host: String) -> RedisTLS {
        RedisTLS(context: context, serverHostname: Self.serverHostname(host))
    }

    private static func serverHostname(_ host: String) -> String? {
        (try? SocketAddress(ipAddress: host, port: 0)) == nil ? host : nil
    }

    /// The handler that goes first in the connection's pipeline.
    func handler() throws -> NIOSSLClientHandler {
        try NIOSSLClientHandler(context: self.context, serverHostname: self.serverHostname)
    }
}

/// Completes `done` once the TLS handshake has: with success, or with the handshake's error (an
/// untrusted certificate, say) or the connection's end. The connection's setup commands wait for
/// it, so a refused handshake is reported as such, whatever the order in which the failed write
/// and the closed connection reach them.
final class TLSHandshakeHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer

    private let done: EventLoopPromise<Void>

    init(done: EventLoopPromise<Void>) {
        self.done = done
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case .handshakeCompleted = event as? TLSUserEvent { done.succeed(()) }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        done.fail(error)
        context.fireErrorCaught(error)
    }

    func channelInactive(context: ChannelHandlerContext) {
        done.fail(ChannelError.ioOnClosedChannel)
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        done.fail(ChannelError.ioOnClosedChannel)
    }
}
