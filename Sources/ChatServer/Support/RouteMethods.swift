import HTTPTypes
import Hummingbird
import Synchronization

/// The methods each REST route answers, so that a known path asked with another method gets
/// 405 and an `Allow` header rather than the router's 404 (`APIErrorMiddleware`). Filled once the
/// routes are in, before the server answers anything; read only on the way out of a 404.
final class RouteMethods: Sendable {
    private struct Route {
        let path: RouterPath
        let methods: Set<HTTPRequest.Method>
    }

    private let routes = Mutex<[Route]>([])

    /// Takes the routes under `/api/` of `router`.
    func load<Context>(from router: Router<Context>) {
        var byPath: [String: Route] = [:]
        for route in router.routes where route.path.components.first.map({ $0 == "api" }) == true {
            let known = byPath[route.path.description]?.methods ?? []
            byPath[route.path.description] = Route(path: route.path, methods: known.union([route.method]))
        }
        routes.withLock { $0 = Array(byPath.values) }
    }

    /// The methods some route of `path` answers, sorted; empty if no route has this path.
    func allowed(forPath path: String) -> [HTTPRequest.Method] {
        let parts = path.split(separator: "/")
        let methods = routes.withLock { routes in
            routes.filter { route in
                route.path.components.count == parts.count && zip(route.path.components, parts).allSatisfy { $0 ~= $1 }
            }.reduce(into: Set<HTTPRequest.Method>()) { $0.formUnion($1.methods) }
        }
        return methods.sorted { $0.rawValue < $1.rawValue }
    }
}
