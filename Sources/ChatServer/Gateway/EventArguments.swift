import ChatCore
import Foundation
import SocketIO

/// The single object argument of a client event, with accessors that turn missing or
/// mistyped fields into `bad_request` errors naming the field.
struct EventArguments: Sendable {
    private let object: [String: JSONValue]

    init(_ arguments: [JSONValue]) throws(ChatError) {
        guard let first = arguments.first, case .object(let object) = first else {
            throw ChatError(.badRequest, "expected one JSON object as the event's argument")
        }
        self.object = object
    }

    subscript(_ key: String) -> JSONValue? { object[key] }

    func string(_ key: String) throws(ChatError) -> String {
        guard let value = object[key]?.stringValue else { throw ChatError(.badRequest, "'\(key)' must be a string") }
        return value
    }

    func strings(_ key: String, max: Int, optional: Bool = false) throws(ChatError) -> [String] {
        guard let value = object[key] else {
            if optional { return [] }
            throw ChatError(.badRequest, "'\(key)' must be an array of strings")
        }
        guard let array = value.arrayValue else { throw ChatError(.badRequest, "'\(key)' must be an array of strings") }
        guard array.count <= max else { throw ChatError(.tooLarge, "'\(key)' has more than \(max) entries") }
        var strings: [String] = []
        strings.reserveCapacity(array.count)
        for element in array {
            guard let string = element.stringValue else { throw ChatError(.badRequest, "'\(key)' must be an array of strings") }
            strings.append(string)
        }
        return strings
    }

    /// `key` as an array of at most `max` user ids, else `bad_request` (or `too_large`).
    func userIDs(_ key: String, max: Int, optional: Bool = false) throws(ChatError) -> [UserID] {
        try strings(key, max: max, optional: optional).map { raw throws(ChatError) in try UserID.parse(raw, field: key) }
    }

    /// The id in `key`: a string of `ID.format`, else `bad_request`.
    func id<ID: StringIdentifier>(_ key: String, as _: ID.Type = ID.self) throws(ChatError) -> ID {
        try ID.parse(try string(key), field: key)
    }

    /// `to` (a user) or `group`, exactly one of them.
    func target() throws(ChatError) -> (to: UserID?, group: GroupID?) {
        switch (object["to"], object["group"]) {
        case (.some, .some), (.none, .none):
            throw ChatError(.badRequest, "give exactly one of 'to' and 'group'")
        case (.some, .none):
            return (try id("to", as: UserID.self), nil)
        case (.none, .some):
            return (nil, try id("group", as: GroupID.self))
        }
    }
}

extension SendRequest {
    /// The `message` event's payload; a client-supplied `from` is ignored by construction.
    init(_ args: EventArguments) throws(ChatError) {
        let target = try args.target()
        guard let body = args["body"]?.stringValue else { throw ChatError(.badRequest, "'body' must be a string") }
        self.init(id: try args.string("id"), to: target.to, group: target.group, body: body)
    }
}

extension JSONValue {
    /// The JSON form of a Codable chat model, for ack replies.
    init(encoding value: some Encodable) throws {
        self = try JSONValue(parsing: try JSONEncoder().encode(value))
    }
}
