import Foundation
import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import Logging
import NIOSSL

extension ServerConfiguration.TLSFiles {
    /// The server's side of TLS from the two files. Everything is checked here, so that a wrong
    /// file stops the server at start, named, rather than failing every handshake later.
    func serverConfiguration(logger: Logger, now: Date = Date()) throws -> TLSConfiguration {
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
        do {
            _ = try NIOSSLContext(configuration: configuration)
        } catch {
            throw ConfigurationError("--tls-key-file \(privateKey) does not go with the first certificate in \(certificateChain) (\(error))")
        }
        let expiry = Date(timeIntervalSince1970: TimeInterval(leaf.notValidAfter))
        let metadata: Logger.Metadata = ["certificate": "\(certificateChain)", "valid_until": "\(expiry.formatted(.iso8601))"]
        if expiry <= now {
            logger.error("the TLS certificate has expired: browsers will refuse this server until it is renewed", metadata: metadata)
        } else if expiry.timeIntervalSince(now) < 14 * 86_400 {
            logger.warning("the TLS certificate expires in less than 14 days; the server reads it only at start", metadata: metadata)
        } else {
            logger.info("serving TLS", metadata: metadata)
        }
        return configuration
    }

    /// Why a file could not be used: missing or unreadable, else not what it should hold.
    private static func reason(_ error: any Error, file: String, holding what: String) -> String {
        guard FileManager.default.isReadableFile(atPath: file) else {
            return FileManager.default.fileExists(atPath: file) ? "cannot be read (permissions)" : "no such file"
        }
        return "does not hold \(what) (\(error))"
    }
}

/// Plain HTTP, or HTTPS with `tls`: the same channel either way, TLS first when asked for.
func serverBuilder(_ plain: HTTPServerBuilder, tls: TLSConfiguration?) throws -> HTTPServerBuilder {
    guard let tls else { return plain }
    return try .tls(plain, tlsConfiguration: tls)
}
