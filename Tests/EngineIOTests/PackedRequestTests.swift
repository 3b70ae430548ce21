import HTTPTypes
import Testing

@testable import EngineIO

@Suite("PackedRequest")
struct PackedRequestTests {
    @Test("a handshake survives packing: method, path, query, headers in order, authority")
    func roundTrip() throws {
        var head = HTTPRequest(method: .get, scheme: nil, authority: "chat.example:8080", path: "/socket.io/?EIO=4&transport=websocket&name=J%C3%BCrgen+x&empty")
        head.headerFields = [
            .userAgent: "python-requests/2.32",
            .cookie: "a=1",
            .cookie: "b=2",
            HTTPField.Name("X-Custom-Header")!: String(repeating: "v", count: 300),
        ]
        let original = EngineRequest(head)
        let unpacked = PackedRequest(original).request

        #expect(unpacked.method == .get)
        #expect(unpacked.path == "/socket.io/")
        #expect(unpacked.authority == "chat.example:8080")
        #expect(unpacked.query == ["EIO": "4", "transport": "websocket", "name": "Jürgen x", "empty": ""])
        #expect(unpacked.headers == original.headers)
        #expect(unpacked.headers[values: .cookie] == ["a=1", "b=2"])
        #expect(unpacked.headers[HTTPField.Name("x-custom-header")!]?.count == 300)
    }

    @Test("no authority stays no authority; an empty request packs")
    func empty() {
        let original = EngineRequest(method: .post, path: "/", query: [:], headers: [:], authority: nil)
        let unpacked = PackedRequest(original).request
        #expect(unpacked.method == .post)
        #expect(unpacked.path == "/")
        #expect(unpacked.authority == nil)
        #expect(unpacked.query.isEmpty)
        #expect(unpacked.headers.isEmpty)
    }

    @Test("long values use multi-byte lengths")
    func longValues() {
        let long = String(repeating: "é", count: 40_000)
        let original = EngineRequest(method: .get, path: "/x", query: ["k": long], headers: [.userAgent: "ua"], authority: "")
        let unpacked = PackedRequest(original).request
        #expect(unpacked.query["k"] == long)
        #expect(unpacked.authority == "")
        #expect(unpacked.headers[.userAgent] == "ua")
    }
}
