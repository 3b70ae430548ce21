/// The placeholders of one request's (or one transaction item's) expressions: every attribute
/// name goes through `#` aliases (DynamoDB reserves hundreds of words, `name`, `user`, `from`
/// and `ts` among them) and every value through a `:` placeholder.
///
/// DynamoDB refuses a request, and a transaction item, that supplies a name or a value its
/// expressions do not use. So an `Expression` belongs to one action: it is noncopyable, and an
/// action's initializer consumes it, so that one cannot be shared by several actions (each
/// would carry the others' placeholders). Debug builds also check every request before
/// sending it (``ExpressionChecked``).
struct Expression: ~Copyable, Sendable {
    private(set) var names: [String: String] = [:]
    private(set) var values: [String: AttributeValue] = [:]
    private var aliases: [String: String] = [:]

    init() {}

    /// The alias of attribute `name` (the same one each time).
    mutating func name(_ name: String) -> String {
        if let alias = aliases[name] { return alias }
        let alias = "#a\(aliases.count)"
        aliases[name] = alias
        names[alias] = name
        return alias
    }

    /// A document path: `map.key` with both parts aliased.
    mutating func path(_ map: String, _ key: String) -> String {
        "\(name(map)).\(name(key))"
    }

    /// A projection of `paths`, each a list of names (`["delivered", user]` is `delivered.<user>`).
    mutating func projection(_ paths: [[String]]) -> String {
        paths.map { $0.map { name($0) }.joined(separator: ".") }.joined(separator: ", ")
    }

    /// A new placeholder for `value`.
    mutating func value(_ value: AttributeValue) -> String {
        let placeholder = ":v\(values.count)"
        values[placeholder] = value
        return placeholder
    }

    /// `names` for a request, nil when empty (DynamoDB refuses an empty map).
    var namesOrNil: [String: String]? { names.isEmpty ? nil : names }
    /// `values` for a request, nil when empty.
    var valuesOrNil: [String: AttributeValue]? { values.isEmpty ? nil : values }
}

/// A request (or transaction item) whose expressions and placeholders can be checked against
/// each other as DynamoDB does: every `#name` and `:value` supplied must be used, and every one
/// used supplied.
protocol ExpressionChecked {
    /// What is wrong with the placeholders, nil when nothing is.
    var expressionMismatch: String? { get }
}

extension Expression {
    /// What is wrong with `names` and `values` as placeholders of `expressions`: the ones
    /// supplied but unused, and the ones used but not supplied; nil when they match.
    static func mismatch(_ expressions: [String?], names: [String: String]?, values: [String: AttributeValue]?) -> String? {
        var usedNames = Set<Substring>()
        var usedValues = Set<Substring>()
        for expression in expressions.compactMap({ $0 }) {
            var index = expression.startIndex
            while index < expression.endIndex {
                let sigil = expression[index]
                index = expression.index(after: index)
                guard sigil == "#" || sigil == ":" else { continue }
                let end = expression[index...].firstIndex { !($0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_")) } ?? expression.endIndex
                if sigil == "#" { usedNames.insert(expression[index..<end]) } else { usedValues.insert(expression[index..<end]) }
                index = end
            }
        }
        let suppliedNames = Set((names ?? [:]).keys.map { $0.dropFirst() })
        let suppliedValues = Set((values ?? [:]).keys.map { $0.dropFirst() })
        var problems: [String] = []
        func report(_ what: String, _ sigil: String, _ placeholders: Set<Substring>) {
            guard !placeholders.isEmpty else { return }
            let listed = placeholders.sorted().prefix(5).map { sigil + $0 }.joined(separator: ", ")
            problems.append("\(what) \(listed)" + (placeholders.count > 5 ? " and \(placeholders.count - 5) more" : ""))
        }
        report("unused", "#", suppliedNames.subtracting(usedNames))
        report("unused", ":", suppliedValues.subtracting(usedValues))
        report("undefined", "#", usedNames.subtracting(suppliedNames))
        report("undefined", ":", usedValues.subtracting(suppliedValues))
        return problems.isEmpty ? nil : problems.joined(separator: "; ")
    }

    /// The problems of several items (`item <index>: …`), the first three of them; nil when none.
    static func mismatch(items: [String?]) -> String? {
        let problems = items.enumerated().compactMap { index, problem in problem.map { "item \(index): \($0)" } }
        guard !problems.isEmpty else { return nil }
        return problems.prefix(3).joined(separator: "; ") + (problems.count > 3 ? "; and \(problems.count - 3) more items" : "")
    }
}
