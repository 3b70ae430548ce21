/// The placeholders of one request's expressions: every attribute name goes through `#` aliases
/// (DynamoDB reserves hundreds of words, `name`, `user`, `from` and `ts` among them) and every
/// value through a `:` placeholder. Only what an expression used is sent (DynamoDB refuses
/// unused names and values).
struct Expression: Sendable {
    private(set) var names: [String: String] = [:]
    private(set) var values: [String: AttributeValue] = [:]
    private var aliases: [String: String] = [:]

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
