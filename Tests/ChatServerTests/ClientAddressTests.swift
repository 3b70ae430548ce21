@testable import ChatServer
import NIOCore
import Testing

@Suite("Client addresses behind trusted proxies")
struct ClientAddressTests {
    private func peer(_ ip: String) throws -> SocketAddress { try SocketAddress(ipAddress: ip, port: 4000) }
    private let proxies = ["127.0.0.1", "10.0.0.0/8", "fd00::/8"].map { AddressRange($0)! }

    @Test("ranges parse IPv4 and IPv6, with and without a prefix, and refuse the rest",
          arguments: ["10.1.2.3", "10.0.0.0/8", "0.0.0.0/0", "::1", "fd00::/8", "::ffff:10.0.0.1"])
    func parses(_ text: String) {
        #expect(AddressRange(text) != nil)
    }

    @Test("malformed ranges are refused", arguments: ["", "10.0.0", "10.0.0.0/33", "::/129", "10.0.0.0/", "10.0.0.0/-1", "host", "10.0.0.0/8/1", "10.0.0.0/+8", "10.0.0.0/٨"])
    func refuses(_ text: String) {
        #expect(AddressRange(text) == nil)
    }

    @Test("a range holds what its prefix says, and one family never matches the other")
    func contains() throws {
        let range = try #require(AddressRange("192.168.4.0/22"))
        #expect(range.contains(AddressRange.bytes(of: "192.168.7.255")!))
        #expect(!range.contains(AddressRange.bytes(of: "192.168.8.0")!))
        #expect(!range.contains(AddressRange.bytes(of: "::1")!))
        #expect(AddressRange("0.0.0.0/0")!.contains(AddressRange.bytes(of: "8.8.8.8")!))
        // IPv4-mapped IPv6 is the IPv4 address.
        #expect(AddressRange("10.0.0.0/8")!.contains(AddressRange.bytes(of: "::ffff:10.9.9.9")!))
    }

    @Test("without a trusted peer the header is ignored")
    func untrustedPeer() throws {
        #expect(ClientAddress.resolve(peer: try peer("203.0.113.5"), forwardedFor: ["198.51.100.1"], trusted: proxies) == "203.0.113.5")
        #expect(ClientAddress.resolve(peer: try peer("127.0.0.1"), forwardedFor: ["198.51.100.1"], trusted: []) == "127.0.0.1")
    }

    @Test("behind trusted proxies the rightmost untrusted entry is the client, whatever the client wrote left of it")
    func trustedChain() throws {
        let local = try peer("127.0.0.1")
        #expect(ClientAddress.resolve(peer: local, forwardedFor: ["198.51.100.1"], trusted: proxies) == "198.51.100.1")
        #expect(ClientAddress.resolve(peer: local, forwardedFor: ["6.6.6.6, 198.51.100.1, 10.1.1.1"], trusted: proxies) == "198.51.100.1")
        // Several header lines are one list, in order.
        #expect(ClientAddress.resolve(peer: local, forwardedFor: ["6.6.6.6", "198.51.100.1", "10.1.1.1"], trusted: proxies) == "198.51.100.1")
        #expect(ClientAddress.resolve(peer: local, forwardedFor: [" 2001:db8::1 "], trusted: proxies) == "2001:db8::/64")
        // No header, or nothing but proxies in it: the last proxy named is the client.
        #expect(ClientAddress.resolve(peer: local, forwardedFor: [], trusted: proxies) == "127.0.0.1")
        #expect(ClientAddress.resolve(peer: local, forwardedFor: ["10.2.2.2"], trusted: proxies) == "10.2.2.2")
        // An entry that is no address stops the walk at the proxy that handed it on.
        #expect(ClientAddress.resolve(peer: local, forwardedFor: ["198.51.100.1, unknown"], trusted: proxies) == "127.0.0.1")
        #expect(ClientAddress.resolve(peer: local, forwardedFor: [String(repeating: "1", count: 100)], trusted: proxies) == "127.0.0.1")
    }

    @Test("clients come out in one canonical form, IPv6 ones as their /64")
    func canonical() throws {
        #expect(ClientAddress.resolve(peer: try peer("::ffff:203.0.113.9"), forwardedFor: [], trusted: []) == "203.0.113.9")
        #expect(ClientAddress.resolve(peer: try peer("127.0.0.1"), forwardedFor: ["2001:DB8:0:0::1"], trusted: proxies) == "2001:db8::/64")
        // Two addresses of one /64 are one client; the next /64 is another.
        #expect(ClientAddress.resolve(peer: try peer("2001:db8:1:2:aaaa::1"), forwardedFor: [], trusted: [])
                == ClientAddress.resolve(peer: try peer("2001:db8:1:2:bbbb::2"), forwardedFor: [], trusted: []))
        #expect(ClientAddress.resolve(peer: try peer("2001:db8:1:3::1"), forwardedFor: [], trusted: []) == "2001:db8:1:3::/64")
    }
}
