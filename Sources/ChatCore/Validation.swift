/// Input rules shared by the service's operations.
enum Validation {
    /// A display name: 1-``ChatConfiguration/maxNameChars`` characters, not only whitespace.
    static func displayName(_ name: String) throws(ChatError) -> String {
        try text(name, max: ChatConfiguration.maxNameChars, what: "name")
    }

    /// A name-like text of 1...max characters with at least one visible character and no
    /// control characters: a name is shown on one line, in lists, to other people.
    static func text(_ value: String, max: Int, what: String) throws(ChatError) -> String {
        guard characters(value, atMost: max) else { throw .badRequest("\(what) longer than \(max) characters") }
        if let control = value.unicodeScalars.first(where: { $0.properties.generalCategory == .control }) {
            throw .badRequest("\(what) must not contain control characters (U+\(hex(control)))")
        }
        guard value.unicodeScalars.contains(where: isVisible) else {
            throw .badRequest("\(what) must not be empty or only spaces and invisible characters")
        }
        return value
    }

    /// Whether a scalar draws something: not a space, not a format character (zero-width
    /// spaces and joiners, bidirectional controls), not one of the code points meant to be
    /// ignored in display (Hangul fillers, variation selectors), and not the blank braille
    /// pattern, which renders as nothing though it is a symbol. Names made of those alone
    /// would show as blank entries.
    private static func isVisible(_ scalar: Unicode.Scalar) -> Bool {
        let properties = scalar.properties
        return !properties.isWhitespace && !properties.isDefaultIgnorableCodePoint
            && properties.generalCategory != .format && scalar != "\u{2800}"
    }

    private static func hex(_ scalar: Unicode.Scalar) -> String {
        let digits = String(scalar.value, radix: 16, uppercase: true)
        return String(repeating: "0", count: max(0, 4 - digits.count)) + digits
    }

    /// Lengths count Unicode code points: a grapheme cluster may hold any number of combining
    /// marks, so counting clusters would let one "character" be megabytes.
    private static func characters(_ value: String, atMost max: Int) -> Bool {
        // Cheap bound first: a code point is at least one UTF-8 byte.
        value.utf8.count <= max || value.unicodeScalars.count <= max
    }

    /// U+0000 is refused: stores and clients in C-string land end the text there, so what was
    /// acknowledged would not be what history shows.
    private static func noNUL(_ value: String, what: String) throws(ChatError) {
        guard !value.utf8.contains(0) else { throw .badRequest("\(what) must not contain U+0000") }
    }

    /// A client message id: 1-64 of `[A-Za-z0-9_-]`.
    static func messageID(_ id: String) throws(ChatError) {
        let valid = (1...64).contains(id.utf8.count) && id.utf8.allSatisfy { b in
            (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || b == 0x5F || b == 0x2D
        }
        guard valid else { throw .badRequest("id must be 1-64 characters of [A-Za-z0-9_-]") }
    }

    /// A message body: 1...max characters.
    static func body(_ body: String, max: Int) throws(ChatError) {
        guard !body.isEmpty else { throw .badRequest("body must not be empty") }
        guard characters(body, atMost: max) else { throw .tooLarge("body longer than \(max) characters") }
        try noNUL(body, what: "body")
    }

    /// Exactly one of a peer and a group.
    static func target(to: UserID?, group: GroupID?, from: UserID) throws(ChatError) -> ConversationID {
        switch (to, group) {
        case (let to?, nil):
            guard to != from else { throw .badRequest("cannot address yourself") }
            return .direct(from, to)
        case (nil, let group?):
            return .group(group)
        default:
            throw .badRequest("exactly one of \"to\" and \"group\" is required")
        }
    }
}
