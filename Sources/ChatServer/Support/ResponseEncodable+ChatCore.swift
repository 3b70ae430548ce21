import ChatCore
import Hummingbird

// ChatCore's models are Codable with exactly the JSON shapes of PROTOCOL.md, so REST
// handlers return them as they are. The conformances live here, in the one module that
// knows both sides; ChatCore stays free of HTTP.
extension UserProfile: ResponseEncodable {}
extension Group: ResponseEncodable {}
extension HistoryPage: ResponseEncodable {}
extension Accounts.Session: ResponseEncodable {}
extension UserController.SearchResult: ResponseEncodable {}
extension ConversationController.CallLog: ResponseEncodable {}
