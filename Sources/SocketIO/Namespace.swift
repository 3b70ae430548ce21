import Synchronization

/// A Socket.IO namespace (`/` is the main one): where clients connect and where their sockets live.
public final class Namespace: Sendable {
    /// A connection handler: return to accept the client, throw ``ConnectError`` to refuse it.
    public typealias ConnectionHandler = @Sendable (Socket, ConnectRequest) async throws -> Void

    /// The namespace's name, e.g. `/` or `/admin`.
    public let name: String
    // The handler lives in a struct field, not directly as the mutex's generic value: a function
    // stored as a generic value is re-abstracted on every `withLock` (wrapped in two thunks that are
    // written back), so each read would lengthen the chain every later connection runs through.
    private struct Handlers {
        var connection: ConnectionHandler?
    }

    private let handlers = Mutex(Handlers())

    init(name: String) {
        self.name = name
    }

    /// Called on each CONNECT; return normally to accept, throw `ConnectError(message:data:)` to refuse
    /// (the client gets CONNECT_ERROR). Emits made inside it reach the client after the CONNECT answer.
    /// Without a handler every client is accepted.
    public func onConnection(_ handler: @escaping ConnectionHandler) {
        self.handlers.withLock { $0.connection = handler }
    }

    var connectionHandler: ConnectionHandler? {
        self.handlers.withLock { $0.connection }
    }

    /// Emits one pre-encoded event to many sockets: the payload is encoded once. Closed sockets are skipped.
    public func emit(_ event: EncodedEvent, to sockets: some Sequence<Socket>) async {
        for socket in sockets {
            try? await socket.emit(event)
        }
    }
}
