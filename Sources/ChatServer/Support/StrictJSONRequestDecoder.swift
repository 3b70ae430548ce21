import Foundation
import Hummingbird
import NIOCore
import SocketIO

/// Reads REST bodies with the parser the Socket.IO side uses before decoding them, so both
/// APIs refuse the same texts: above all an object naming a member twice, of which
/// Foundation's decoder keeps the first value where JavaScript keeps the last (a proxy that
/// checked one value would pass the other).
struct StrictJSONRequestDecoder: RequestDecoder {
    func decode<T: Decodable>(_ type: T.Type, from request: Request, context: some RequestContext) async throws -> T {
        let body = try await request.body.collect(upTo: context.maxUploadSize)
        do {
            _ = try JSONValue(parsing: body)
        } catch {
            throw APIError.badRequest("invalid JSON body: \(error.problem) at byte \(error.offset)")
        }
        return try JSONDecoder().decode(T.self, from: Data(body.readableBytesView))
    }
}
