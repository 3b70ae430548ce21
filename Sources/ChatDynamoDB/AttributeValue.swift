import Foundation

/// A DynamoDB attribute value in the JSON protocol's shape: an object with one key naming the
/// type, `{"S":"text"}`, `{"N":"42"}`, `{"B":"<base64>"}`, `{"L":[...]}`, …
enum AttributeValue: Hashable, Sendable {
    case s(String)
    /// A number, kept as DynamoDB's decimal string so no precision is lost on the way.
    case n(String)
    case b([UInt8])
    case bool(Bool)
    case null
    case l([AttributeValue])
    case m([String: AttributeValue])
    case ss([String])
    case ns([String])
    case bs([[UInt8]])

    /// A number from an integer.
    static func int(_ value: Int64) -> AttributeValue { .n(String(value)) }
    /// A number from an integer.
    static func int(_ value: Int) -> AttributeValue { .n(String(value)) }
    /// A list of strings (`L` of `S`: unlike a string set it may be empty and keeps its order).
    static func strings(_ values: [String]) -> AttributeValue { .l(values.map(AttributeValue.s)) }

    var string: String? {
        if case .s(let value) = self { return value }
        return nil
    }

    var int64: Int64? {
        if case .n(let value) = self { return Int64(value) }
        return nil
    }

    var bytes: [UInt8]? {
        if case .b(let value) = self { return value }
        return nil
    }

    var bool: Bool? {
        if case .bool(let value) = self { return value }
        return nil
    }

    var list: [AttributeValue]? {
        if case .l(let value) = self { return value }
        return nil
    }

    var map: [String: AttributeValue]? {
        if case .m(let value) = self { return value }
        return nil
    }

    /// The strings of an `L` of `S` or of an `SS`.
    var stringList: [String]? {
        switch self {
        case .l(let values): values.compactMap(\.string)
        case .ss(let values): values
        default: nil
        }
    }

    /// The integers of an `NS` or of an `L` of `N`.
    var intList: [Int64]? {
        switch self {
        case .ns(let values): values.compactMap { Int64($0) }
        case .l(let values): values.compactMap(\.int64)
        default: nil
        }
    }
}

/// One item: attribute names to values.
typealias Item = [String: AttributeValue]

extension AttributeValue: Codable {
    private enum Kind: String, CodingKey {
        case s = "S", n = "N", b = "B", bool = "BOOL", null = "NULL", l = "L", m = "M", ss = "SS", ns = "NS", bs = "BS"
    }

    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: Kind.self)
        guard container.allKeys.count == 1, let kind = container.allKeys.first else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath,
                                                    debugDescription: "an attribute value has exactly one type key"))
        }
        switch kind {
        case .s: self = .s(try container.decode(String.self, forKey: kind))
        case .n: self = .n(try container.decode(String.self, forKey: kind))
        case .b: self = .b(try Self.decodeBase64(try container.decode(String.self, forKey: kind), container, kind))
        case .bool: self = .bool(try container.decode(Bool.self, forKey: kind))
        case .null: self = .null
        case .l: self = .l(try container.decode([AttributeValue].self, forKey: kind))
        case .m: self = .m(try container.decode([String: AttributeValue].self, forKey: kind))
        case .ss: self = .ss(try container.decode([String].self, forKey: kind))
        case .ns: self = .ns(try container.decode([String].self, forKey: kind))
        case .bs: self = .bs(try container.decode([String].self, forKey: kind).map { try Self.decodeBase64($0, container, kind) })
        }
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: Kind.self)
        switch self {
        case .s(let value): try container.encode(value, forKey: .s)
        case .n(let value): try container.encode(value, forKey: .n)
        case .b(let value): try container.encode(Data(value).base64EncodedString(), forKey: .b)
        case .bool(let value): try container.encode(value, forKey: .bool)
        case .null: try container.encode(true, forKey: .null)
        case .l(let value): try container.encode(value, forKey: .l)
        case .m(let value): try container.encode(value, forKey: .m)
        case .ss(let value): try container.encode(value, forKey: .ss)
        case .ns(let value): try container.encode(value, forKey: .ns)
        case .bs(let value): try container.encode(value.map { Data($0).base64EncodedString() }, forKey: .bs)
        }
    }

    private static func decodeBase64(_ text: String, _ container: KeyedDecodingContainer<Kind>, _ kind: Kind) throws -> [UInt8] {
        guard let data = Data(base64Encoded: text) else {
            throw DecodingError.dataCorruptedError(forKey: kind, in: container, debugDescription: "invalid base64")
        }
        return Array(data)
    }
}
