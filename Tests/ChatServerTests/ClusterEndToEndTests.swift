import Foundation
import Testing
import TestSupport

/// PROTOCOL.md §6 end to end: several `webchat` processes share a real Redis broker and a
/// real DynamoDB endpoint (moto's server); python-socketio clients on different nodes talk to
/// each other. Each scenario of `Tests/e2e/cluster_scenarios.py` starts its own services and
/// nodes, and must exit 0.
@Suite("Scale-out end to end", .serialized)
struct ClusterEndToEndTests {
    @Test("scenario on a cluster of webchat processes over Redis and DynamoDB", arguments: [
        "cluster_cross_node_delivery", "cluster_store_and_forward", "cluster_concurrent_senders", "cluster_groups",
        "cluster_node_crash", "cluster_graceful_leave", "cluster_redis_restart",
    ])
    func scenario(_ name: String) async throws {
        let binary = try Executables.path(of: "webchat")
        let tmp = try TemporaryDirectory()
        try await E2E.run(name, "--server-bin", binary, "--tmp", tmp.path)
    }
}
