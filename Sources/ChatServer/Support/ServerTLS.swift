import Foundation
import HummingbirdCore
import Logging
import NIOCore
import NIOSSL
import ServiceLifecycle
import Synchronization
import UnixSignals

extension ServerConfiguration.TLSFiles {
    /// The server's side of TLS from the two files. Everything is checked here, so that a wrong
    /// file stops the server at start, named, rather than failing every handshake later.
    func serverContext(logger: Logger, now: Date = Date()) throws -> NIOSSLContext {
        let chain: [NIOSSLCertificate]
        do {
            chain = try NIOSSLCertificate.fromPEMFile(certificateChain)
        } catch {
            throw ConfigurationError("--tls-cert-file \(certificateChain): \(Self.reason(error, file: certificateChain, holding: "a PEM certificate"))")
        }
        guard let leaf = chain.first else { throw ConfigurationError("--tls-cert-file \(certificateChain) holds no PEM certificate") }
        let key: NIOSSLPrivateKey
        do {
            key = try NIOSSLPrivateKey(file: privateKey, format: .pem)
        } catch {
            throw ConfigurationError("--tls-key-file \(privateKey): \(Self.reason(error, file: privateKey, holding: "an unencrypted PEM private key"))")
        }
        var configuration = TLSConfiguration.makeServerConfiguration(certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(key))
        // NIOSSL's server default still admits TLS 1.0 and 1.1, which browsers dropped in 2020.
        configuration.minimumTLSVersion = .tlsv12
        let context: NIOSSLContext
        do {
            context = try NIOSSLContext(configuration: configuration)
        } catch {
            throw ConfigurationError("--tls-key-file \(privateKey) does not go with the first certificate in \(certificateChain) (\(error))")
        }
        let expiry = Date(timeIntervalSince1970: TimeInterval(leaf.notValidAfter))
        let metadata: Logger.Metadata = ["certificate": "\(certificateChain)", "valid_until": "\(expiry.formatted(.iso8601))"]
        if expiry <= now {
            logger.error("the TLS certificate has expired: browsers will refuse this server until it is renewed", metadata: metadata)
        } else if expiry.timeIntervalSince(now) < 14 * 86_400 {
            logger.warning("the TLS certificate expires in less than 14 days: renew it, then send the server SIGHUP to read it again",
                           metadata: metadata)
        } else {
            logger.info("serving TLS", metadata: metadata)
        }
        return context
    }

    /// Why a file could not be used: missing or unreadable, else not what it should hold.
    private static func reason(_ error: any Error, file: String, holding what: String) -> String {
        guard FileManager.default.isReadableFile(atPath: file) else {
            return FileManager.default.fileExists(atPath: file) ? "cannot be read (permissions)" : "no such file"
        }
        return "does not hold \(what) (\(error))"
    }
}

/// The server's TLS context, read from the files at start and again on SIGHUP: new connections
/// get the current one, established ones keep theirs.
final class ServerTLS: Sendable {
    let files: ServerConfiguration.TLSFiles
    private let current: Mutex<NIOSSLContext>

    /// Reads and checks the files (see ``ServerConfiguration/TLSFiles/serverContext(logger:now:)``).
    init(_ files: ServerConfiguration.TLSFiles, logger: Logger) throws {
        self.files = files
        self.current = Mutex(try files.serverContext(logger: logger))
    }

    var context: NIOSSLContext { current.withLock { $0 } }

    /// Reads the files again; if they cannot be used the previous certificate stays, and the
    /// error is logged.
    func reload(logger: Logger) {
        do {
            let context = try files.serverContext(logger: logger)
            current.withLock { $0 = context }
            logger.notice("TLS certificate reloaded", metadata: ["certificate": "\(files.certificateChain)"])
        } catch {
            logger.error("TLS certificate not reloaded, the previous one stays: \(error)")
        }
    }

    /// Puts TLS in front of a connection's channel, with the context current when it opens.
    func wrap(_ base: any ServerChildChannel) -> any ServerChildChannel {
        wrapOpened(base)
    }

    private func wrapOpened<Base: ServerChildChannel>(_ base: Base) -> any ServerChildChannel {
        ReloadableTLSChannel(base: base, tls: self)
    }
}

/// TLS first, then `base` (HummingbirdTLS's `TLSChannel` takes one fixed context).
private struct ReloadableTLSChannel<Base: ServerChildChannel>: ServerChildChannel {
    typealias Value = Base.Value
    let base: Base
    let tls: ServerTLS

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        channel.eventLoop.makeCompletedFuture {
            try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: tls.context))
        }.flatMap {
            base.setup(channel: channel, logger: logger)
        }
    }

    func handle(value: Value, logger: Logger) async {
        await base.handle(value: value, logger: logger)
    }
}

/// SIGHUP, as long as the server runs: with TLS, reads the certificate files again; without,
/// there is nothing to reload, and a notice says so. Either way the signal is trapped: its
/// default action would end the server at once, without draining, and operators send it as
/// "reload" (a certbot deploy hook, `systemctl reload`) or by closing a terminal.
struct SIGHUPService: Service, CustomStringConvertible {
    let tls: ServerTLS?
    let logger: Logger
    var description: String { "SIGHUPService" }

    func run() async throws {
        for await _ in await UnixSignalsSequence(trapping: .sighup).cancelOnGracefulShutdown() {
            if let tls {
                tls.reload(logger: logger)
            } else {
                logger.notice("SIGHUP: nothing to reload (no TLS certificate); the server goes on")
            }
        }
    }
}
