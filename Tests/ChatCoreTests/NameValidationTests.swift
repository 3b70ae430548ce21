import ChatCore
import Testing

/// Display and group names are shown on one line, in lists, to other people: each needs a
/// character that draws something, and none may break the line or drive a terminal.
@Suite struct NameValidationTests {
    /// Names that would show as a blank entry or carry control characters.
    static let refused: [String] = [
        " \t ", "\u{200B}", "\u{3164}", "\u{2800}", "\u{FEFF}", "\u{2060}\u{200D}", "\u{2066}\u{2069}",
        "\u{115F}\u{1160}", "\u{FFA0}", "\u{FE0F}", " \u{200B} ", "alice\r\nadmin", "\u{1B}[2J\u{1B}[31mred",
        "bell\u{07}", "tab\tname", "del\u{7F}", "c1\u{85}", "nul\u{0}",
    ]

    /// Names with something visible, invisible characters beside it allowed (joiners inside
    /// emoji, marks around right-to-left text).
    static let accepted: [String] = [
        "Zoë", "李小龍", "👩‍👩‍👧", "\u{200F}سلام", "a\u{200B}b", "José ", "x\u{0301}", "⠁",
    ]

    @Test(arguments: refused)
    func refusedForUsersAndGroups(name: String) async throws {
        let f = try await Fixture(.memory)
        let alice = try await f.users("alice")[0]
        await expectError(.badRequest) { try await f.service.createUser(id: uid("bob"), name: name, passwordHash: nil) }
        await expectError(.badRequest) { try await f.service.rename(alice, to: name) }
        await expectError(.badRequest) { try await f.service.createGroup(by: alice, name: name, members: []) }
        #expect(try await f.service.profile(of: uid("bob")) == nil)
        #expect(try await f.service.profile(of: alice)?.name == "Alice")
    }

    @Test(arguments: accepted)
    func acceptedForUsersAndGroups(name: String) async throws {
        let f = try await Fixture(.memory)
        let alice = try await f.users("alice")[0]
        #expect(try await f.service.createUser(id: uid("bob"), name: name, passwordHash: nil).name == name)
        #expect(try await f.service.rename(alice, to: name).name == name)
        #expect(try await f.service.createGroup(by: alice, name: name, members: []).name == name)
    }

    @Test func theErrorNamesTheControlCharacter() async throws {
        let f = try await Fixture(.memory)
        do {
            _ = try await f.service.createUser(id: uid("bob"), name: "alice\r\nadmin", passwordHash: nil)
            Issue.record("a name with a line break was taken")
        } catch {
            #expect(error.message == "name must not contain control characters (U+000D)")
        }
    }
}
