import ChatSQLite
import Metrics
import Prometheus

/// The server's metrics, kept in a registry of its own (not the process-wide
/// `MetricsSystem`) so that several servers can live in one test process.
/// Served as Prometheus text at `GET /metrics`. A class: the message path reads it for every
/// event, and as a struct each read copied (retained and released) all of its handles.
final class ServerMetrics: Sendable {
    let registry: PrometheusCollectorRegistry
    /// Open Socket.IO connections of authenticated users.
    let connections: Metrics.Meter
    /// Client events received, by event name (unknown names count as `other`).
    private let eventsIn: [String: Metrics.Counter]
    /// Messages accepted and stored.
    let messagesIn: Metrics.Counter
    /// Timeline events a client acknowledged.
    let deliveries: Metrics.Counter
    /// Events answered with `rate_limited`.
    let rateLimited: Metrics.Counter
    /// Time from a client's `message` to its ack (validation, store commit, publish).
    let sendLatency: Metrics.Timer
    /// Time to open an endpoint (subscribe + replay query).
    let endpointOpenLatency: Metrics.Timer
    /// SQLite's group-commit writer, the one serial resource of the message path: operations
    /// per batch, how long each batch's oldest operation queued, how long a batch ran, batches
    /// that failed as a whole.
    private let storeBatchOperations: Metrics.Recorder
    private let storeQueueWait: Metrics.Timer
    private let storeBatchDuration: Metrics.Timer
    private let storeFailedBatches: Metrics.Counter
    /// SQLite's checkpoints: the checkpointer's (beside the writer) and the catch-ups that hold the writer.
    private let checkpointDuration: Metrics.Timer
    private let catchUpDuration: Metrics.Timer
    /// The Redis broker's and the DynamoDB store's (see there).
    let scaleOut: ScaleOutMetrics

    init() {
        let registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: registry)
        let buckets: [Duration] = [
            .microseconds(250), .microseconds(500), .milliseconds(1), .milliseconds(2), .milliseconds(5),
            .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250),
            .milliseconds(500), .seconds(1), .seconds(2.5),
        ]
        factory.defaultDurationHistogramBuckets = buckets
        factory.valueHistogramBuckets["webchat_store_batch_operations"] = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512]
        self.registry = registry
        self.connections = Metrics.Meter(label: "webchat_connections", factory: factory)
        var eventsIn: [String: Metrics.Counter] = [:]
        for name in Self.clientEvents + ["other"] {
            eventsIn[name] = Metrics.Counter(label: "webchat_events_in_total", dimensions: [("event", name)], factory: factory)
        }
        self.eventsIn = eventsIn
        self.messagesIn = Metrics.Counter(label: "webchat_messages_in_total", factory: factory)
        self.deliveries = Metrics.Counter(label: "webchat_deliveries_total", factory: factory)
        self.rateLimited = Metrics.Counter(label: "webchat_rate_limited_total", factory: factory)
        self.sendLatency = Metrics.Timer(label: "webchat_send_duration_seconds", factory: factory)
        self.endpointOpenLatency = Metrics.Timer(label: "webchat_endpoint_open_duration_seconds", factory: factory)
        self.storeBatchOperations = Metrics.Recorder(label: "webchat_store_batch_operations", aggregate: true, factory: factory)
        self.storeQueueWait = Metrics.Timer(label: "webchat_store_queue_wait_seconds", factory: factory)
        self.storeBatchDuration = Metrics.Timer(label: "webchat_store_batch_duration_seconds", factory: factory)
        self.storeFailedBatches = Metrics.Counter(label: "webchat_store_failed_batches_total", factory: factory)
        self.checkpointDuration = Metrics.Timer(label: "webchat_store_checkpoint_duration_seconds", dimensions: [("on", "checkpointer")], factory: factory)
        self.catchUpDuration = Metrics.Timer(label: "webchat_store_checkpoint_duration_seconds", dimensions: [("on", "writer")], factory: factory)
        self.scaleOut = ScaleOutMetrics(factory: factory)
    }

    /// Records what the SQLite store reports (see `SQLiteStoreObserver`).
    var sqliteObserver: SQLiteStoreObserver {
        SQLiteStoreObserver(
            batch: { [self] batch in
                storeBatchOperations.record(batch.operations)
                storeQueueWait.record(duration: batch.oldestWait)
                storeBatchDuration.record(duration: batch.duration)
                if batch.failed { storeFailedBatches.increment() }
            },
            checkpoint: { [self] onWriter, duration in
                (onWriter ? catchUpDuration : checkpointDuration).record(duration: duration)
            }
        )
    }

    /// The events clients may send (PROTOCOL.md §4).
    static let clientEvents = ["message", "read", "typing", "group:create", "group:invite", "group:leave"]

    /// Counts one client event.
    func countEvent(_ name: String) {
        (eventsIn[name] ?? eventsIn["other"])?.increment()
    }

    /// The Prometheus text exposition of every metric.
    func exposition() -> [UInt8] {
        registry.emitToBuffer()
    }
}
