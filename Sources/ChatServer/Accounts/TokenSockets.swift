import ChatCore
import Logging
import ServiceLifecycle
import SocketIO
import Synchronization

/// The live sockets of each token, so that a token that stops being valid also ends the
/// connections opened with it: at once when it is revoked here, and at the next recheck when it
/// expires (or is revoked through another server sharing the store).
final class TokenSockets: Sendable {
    private let sockets = Mutex<[String: Set<Socket>]>([:])

    func add(_ socket: Socket, tokenHash: String) {
        sockets.withLock { _ = $0[tokenHash, default: []].insert(socket) }
    }

    func remove(_ socket: Socket, tokenHash: String) {
        sockets.withLock { sockets in
            sockets[tokenHash]?.remove(socket)
            if sockets[tokenHash]?.isEmpty == true { sockets[tokenHash] = nil }
        }
    }

    /// Disconnects (server-side, `io server disconnect`) every socket of this token.
    func disconnectAll(tokenHash: String) async {
        let ended = sockets.withLock { $0.removeValue(forKey: tokenHash) } ?? []
        for socket in ended { await socket.disconnect() }
    }

    /// Disconnects the sockets of every token the store no longer accepts. A token whose lookup
    /// fails (the store unavailable) keeps its sockets until a later recheck.
    func recheck(with chat: ChatService, logger: Logger) async {
        let hashes = sockets.withLock { Array($0.keys) }
        for hash in hashes {
            let user: UserID?
            do { user = try await chat.user(forTokenHash: hash) } catch { continue }
            guard user == nil else { continue }
            logger.debug("token expired or revoked: disconnecting its sockets")
            await disconnectAll(tokenHash: hash)
        }
    }
}

/// Rechecks the tokens of live sockets every `interval` (see `TokenSockets`).
struct TokenRecheckService: Service, CustomStringConvertible {
    let sockets: TokenSockets
    let chat: ChatService
    let interval: Duration
    let logger: Logger
    var description: String { "TokenRecheckService" }

    func run() async throws {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
            guard !Task.isShuttingDownGracefully && !Task.isCancelled else { return }
            await sockets.recheck(with: chat, logger: logger)
        }
    }
}
