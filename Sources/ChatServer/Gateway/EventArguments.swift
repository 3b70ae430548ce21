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

    func conversationID(_ key: String) throws(ChatError) -> ConversationID {
        let raw = try string(key)
        guard let id = ConversationID(raw) else { throw ChatError(.notFound, "no conversation '\(raw)'") }
        return id
    }

    func groupID(_ key: String) throws(ChatError) -> GroupID {
        let raw = try string(key)
        guard let id = GroupID(raw) else { throw ChatError(.notFound, "no group '\(raw)'") }
        return id
    }

    /// `to` (a user) or `group`, exactly one of them.
    func target() throws(ChatError) -> (to: UserID?, group: GroupID?) {
        switch (object["to"], object["group"]) {
        case (.some, .some), (.none, .none):
            throw ChatError(.badRequest, "give exactly one of 'to' and 'group'")
        case (.some, .none):
            let raw = try string("to")
            guard let user = UserID(raw) else { throw ChatError(.notFound, "no user '\(raw)'") }
            return (user, nil)
        case (.none, .some):
            return (nil, try groupID("group"))
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
