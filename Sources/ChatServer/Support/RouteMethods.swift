import HTTPTypes
import Hummingbird
import Synchronization

/// The methods each REST route answers, so that a known path asked with another method gets
/// 405 and an `Allow` header rather than the router's 404 (`APIErrorMiddleware`). Filled once the
/// routes are in, before the server answers anything; read only on the way out of a 404.
final class RouteMethods: Sendable {
    private let routes = Mutex<[(path: RouterPath, method: HTTPRequest.Method)]>([])

    /// Takes the routes under `/api/` of `router`.
    func load<Context>(from router: Router<Context>) {
        let api = router.routes.filter { $0.path.components.first.map { $0 == "api" } == true }
        routes.withLock { $0 = api.map { ($0.path, $0.method) } }
    }

    /// The methods some route of `path` answers, sorted; empty if no route has this path.
    func allowed(forPath path: String) -> [HTTPRequest.Method] {
        let parts = path.split(separator: "/")
        let methods = routes.withLock { routes in
            Set(routes.lazy.filter { route in
                route.path.components.count == parts.count && zip(route.path.components, parts).allSatisfy { $0 ~= $1 }
            }.map(\.method))
        }
        return methods.sorted { $0.rawValue < $1.rawValue }
    }
}
