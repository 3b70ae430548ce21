import EngineIO
import Testing

@Suite("Origin policy")
struct OriginPolicyTests {
    @Test("requests without Origin (non-browser clients) are always allowed")
    func noOrigin() {
        for policy in [OriginPolicy.sameOrigin, .any, .list(["https://a.example"])] {
            #expect(policy.allows(origin: nil, host: "chat.example:8080"))
        }
    }

    @Test("same origin compares host and port with the request's Host")
    func sameOrigin() {
        let policy = OriginPolicy.sameOrigin
        #expect(policy.allows(origin: "http://chat.example:8080", host: "chat.example:8080"))
        #expect(policy.allows(origin: "https://Chat.Example", host: "chat.example"))
        #expect(!policy.allows(origin: "http://chat.example:9090", host: "chat.example:8080"))
        #expect(!policy.allows(origin: "http://evil.example", host: "chat.example"))
        #expect(!policy.allows(origin: "http://chat.example", host: nil))
        #expect(!policy.allows(origin: "null", host: "chat.example"))
    }

    @Test("a list allows exactly its origins; any allows all")
    func listAndAny() {
        let policy = OriginPolicy.list(["https://a.example", "http://b.example:3000"])
        #expect(policy.allows(origin: "https://a.example", host: "chat.example"))
        #expect(policy.allows(origin: "http://b.example:3000", host: "chat.example"))
        #expect(!policy.allows(origin: "http://a.example", host: "chat.example"))
        #expect(!policy.allows(origin: "https://a.example.evil", host: "chat.example"))
        #expect(policy.allows(origin: "http://chat.example", host: "chat.example"), "the server's own pages stay allowed")
        #expect(OriginPolicy.any.allows(origin: "http://anything", host: nil))
    }
}
