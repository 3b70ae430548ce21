import HTTPTypes

/// What a namespace's connection handler knows of a connecting client.
public struct ConnectRequest: Sendable {
    /// The CONNECT packet's payload (the client's `auth`), nil when it sent none.
    public var auth: JSONValue?
    /// The headers of the connection's first HTTP request.
    public var headers: HTTPFields
    /// The query of the connection's first HTTP request.
    public var query: [String: String]

    /// Creates a request.
    public init(auth: JSONValue?, headers: HTTPFields, query: [String: String]) {
        self.auth = auth
        self.headers = headers
        self.query = query
    }
}

/// Thrown by a connection handler to refuse a client: it receives CONNECT_ERROR
/// `{"message":...,"data":...}`.
public struct ConnectError: Error, Sendable {
    /// The message the client sees.
    public var message: String
    /// Optional details for the client.
    public var data: JSONValue?

    /// Creates a refusal.
    public init(message: String, data: JSONValue? = nil) {
        self.message = message
        self.data = data
    }

    /// The CONNECT_ERROR payload.
    var payload: JSONValue {
        var object: [String: JSONValue] = ["message": .string(self.message)]
        if let data { object["data"] = data }
        return .object(object)
    }
}
