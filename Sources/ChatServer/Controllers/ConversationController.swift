import ChatCore
import Hummingbird

/// `GET /conversations` (the call log) and `GET /conversations/{id}/messages` (history).
struct ConversationController {
    let chat: ChatService

    struct CallLog: Encodable {
        let conversations: [ConversationSummary]
    }

    func addRoutes(to group: RouterGroup<AppRequestContext>) {
        group.get("conversations") { _, context -> CallLog in
            let me = try context.requireUser()
            return CallLog(conversations: try await chat.conversations(of: me))
        }
        group.get("conversations/{id}/messages") { request, context -> HistoryPage in
            let me = try context.requireUser()
            let raw = try context.pathParameter("id")
            // Unknown and foreign conversations answer the same 404, so ids don't leak.
            guard let conversation = ConversationID(raw) else { throw APIError.notFound("no conversation '\(raw)'") }
            let query = request.uri.queryParameters
            let limit = try QueryLimit.parse(query.get("limit"), default: 50, max: 100)
            var before: Int64?
            if let text = query.get("before") {
                guard let pos = Int64(text), pos > 0 else { throw APIError.badRequest("before must be a positive position") }
                before = pos
            }
            return try await chat.history(of: conversation, viewer: me, before: before, limit: limit)
        }
    }
}
