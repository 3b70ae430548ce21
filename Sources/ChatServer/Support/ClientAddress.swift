import Foundation
import NIOCore

/// An IPv4 or IPv6 address range in CIDR form (`10.0.0.0/8`, `fd00::/8`), or one address
/// (`127.0.0.1`, `::1`): the proxies whose `X-Forwarded-For` the server believes.
public struct AddressRange: Sendable, Hashable, CustomStringConvertible {
    /// The network's address bytes (4 or 16), and how many leading bits must match.
    let network: [UInt8]
    let prefixLength: Int

    /// Parses `text`; nil when it is neither an address nor `address/prefix` with a prefix
    /// that fits the address family.
    public init?(_ text: String) {
        let parts = text.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        guard let bytes = Self.bytes(of: String(parts[0])) else { return nil }
        let bits = bytes.count * 8
        if parts.count == 2 {
            guard parts[1].utf8.allSatisfy({ (0x30...0x39).contains($0) }), let prefix = Int(parts[1]), (0...bits).contains(prefix) else { return nil }
            prefixLength = prefix
        } else {
            prefixLength = bits
        }
        network = bytes
    }

    public var description: String {
        "\(Self.text(of: network))/\(prefixLength)"
    }

    /// Whether the address `bytes` (4 or 16) is in the range; IPv4 and IPv6 never match each other.
    func contains(_ bytes: [UInt8]) -> Bool {
        guard bytes.count == network.count else { return false }
        var remaining = prefixLength
        for (a, b) in zip(network, bytes) where remaining > 0 {
            let mask: UInt8 = remaining >= 8 ? 0xFF : ~(0xFF >> UInt8(remaining))
            guard a & mask == b & mask else { return false }
            remaining -= 8
        }
        return true
    }

    /// The bytes of an IPv4 or IPv6 address in text (IPv4-mapped IPv6 becomes IPv4), or nil.
    static func bytes(of text: String) -> [UInt8]? {
        var v4 = in_addr()
        if inet_pton(AF_INET, text, &v4) == 1 {
            return withUnsafeBytes(of: &v4) { Array($0) }
        }
        var v6 = in6_addr()
        guard inet_pton(AF_INET6, text, &v6) == 1 else { return nil }
        let bytes = withUnsafeBytes(of: &v6) { Array($0) }
        if bytes.prefix(10).allSatisfy({ $0 == 0 }), bytes[10] == 0xFF, bytes[11] == 0xFF { return Array(bytes.suffix(4)) }
        return bytes
    }

    /// The canonical text of address bytes (4 or 16).
    static func text(of bytes: [UInt8]) -> String {
        var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        let family = bytes.count == 4 ? AF_INET : AF_INET6
        _ = bytes.withUnsafeBytes { inet_ntop(family, $0.baseAddress, &buffer, socklen_t(buffer.count)) }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

/// Who a request comes from, for limits kept per client: the peer's address, or, when the peer
/// is a trusted proxy, the address that proxy put in `X-Forwarded-For`. An IPv6 client is its
/// /64 network: one host is usually given a whole /64 and could otherwise take a fresh address
/// for every attempt.
enum ClientAddress {
    /// The longest `X-Forwarded-For` entry looked at; longer ones are no address.
    static let maxEntryLength = 64

    /// The client in canonical text (`203.0.113.9`, `2001:db8:1:2::/64`). `forwardedFor` is every `X-Forwarded-For` value
    /// of the request in order. It is read from the right, where each trusted proxy appended the
    /// address it got the request from: the first entry that is not a trusted proxy is the client
    /// (anything left of it came from the client and proves nothing). Without a trusted peer the
    /// header is ignored. Nil when the peer has no IP address (a Unix socket).
    static func resolve(peer: SocketAddress?, forwardedFor: [String], trusted: [AddressRange]) -> String? {
        guard let peerText = peer?.ipAddress, let peerBytes = AddressRange.bytes(of: peerText) else { return nil }
        var client = peerBytes
        if isTrusted(client, trusted) {
            let entries = forwardedFor.flatMap { $0.split(separator: ",") }.map { $0.trimmingCharacters(in: .whitespaces) }
            for entry in entries.reversed() {
                // Something a proxy wrote that is no address ("unknown", a port suffix…): the
                // client stays the last proxy that handed it on.
                guard entry.utf8.count <= maxEntryLength, let bytes = AddressRange.bytes(of: entry) else { break }
                client = bytes
                if !isTrusted(bytes, trusted) { break }
            }
        }
        guard client.count == 16 else { return AddressRange.text(of: client) }
        return AddressRange.text(of: Array(client.prefix(8)) + Array(repeating: 0, count: 8)) + "/64"
    }

    private static func isTrusted(_ bytes: [UInt8], _ trusted: [AddressRange]) -> Bool {
        trusted.contains { $0.contains(bytes) }
    }
}
