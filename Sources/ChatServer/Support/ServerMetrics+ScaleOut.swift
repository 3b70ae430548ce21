import ChatDynamoDB
import Metrics
import Prometheus
import RedisBroker
import Synchronization

/// The scale-out backends' metrics: the Redis broker's connections, lost publishes and
/// resyncs; the DynamoDB store's requests, conflicts and credential fetches.
final class ScaleOutMetrics: Sendable {
    private let factory: PrometheusMetricsFactory
    private let lostPublishes: Metrics.Counter
    private let resyncs: Metrics.Counter
    private let conflicts: Metrics.Counter
    private let credentialFetches: Metrics.Counter
    private let credentialFailures: Metrics.Counter
    private let credentialsExpiration: Metrics.Gauge
    /// Per operation (and per failure code), made on first use: the operations are a handful.
    private let requestTimers = Mutex<[String: Metrics.Timer]>([:])
    private let requestFailures = Mutex<[String: Metrics.Counter]>([:])

    init(factory: PrometheusMetricsFactory) {
        self.factory = factory
        lostPublishes = Metrics.Counter(label: "webchat_broker_lost_publishes_total", factory: factory)
        resyncs = Metrics.Counter(label: "webchat_broker_resyncs_total", factory: factory)
        conflicts = Metrics.Counter(label: "webchat_dynamodb_conflicts_total", factory: factory)
        credentialFetches = Metrics.Counter(label: "webchat_dynamodb_credential_fetches_total", dimensions: [("result", "ok")], factory: factory)
        credentialFailures = Metrics.Counter(label: "webchat_dynamodb_credential_fetches_total", dimensions: [("result", "failed")], factory: factory)
        credentialsExpiration = Metrics.Gauge(label: "webchat_dynamodb_credentials_expiration_timestamp_seconds", factory: factory)
    }

    /// Records what the Redis broker reports.
    var redisObserver: RedisBrokerObserver {
        let connected = ["commands", "pubsub"].reduce(into: [String: Metrics.Gauge]()) { gauges, role in
            gauges[role] = Metrics.Gauge(label: "webchat_redis_connected", dimensions: [("connection", role)], factory: factory)
        }
        let losses = ["commands", "pubsub"].reduce(into: [String: Metrics.Counter]()) { counters, role in
            counters[role] = Metrics.Counter(label: "webchat_redis_connection_losses_total", dimensions: [("connection", role)], factory: factory)
        }
        return RedisBrokerObserver(
            connection: { role, up in
                connected[role]?.record(up ? 1 : 0)
                if !up { losses[role]?.increment() }
            },
            lostPublishes: { [lostPublishes] users in lostPublishes.increment(by: Int64(users)) },
            resyncs: { [resyncs] subscribers in resyncs.increment(by: Int64(subscribers)) }
        )
    }

    /// Records what the DynamoDB store reports.
    var dynamoDBObserver: DynamoDBStoreObserver {
        DynamoDBStoreObserver(
            request: { [self] operation, duration, failure in
                timer(operation).record(duration: duration)
                if let failure { failureCounter(operation, failure).increment() }
            },
            conflict: { [conflicts] in conflicts.increment() },
            credentialsFetched: { [credentialFetches, credentialFailures, credentialsExpiration] expiration in
                guard let expiration else { return credentialFailures.increment() }
                credentialFetches.increment()
                credentialsExpiration.record(expiration.timeIntervalSince1970)
            }
        )
    }

    private func timer(_ operation: String) -> Metrics.Timer {
        requestTimers.withLock { timers in
            if let timer = timers[operation] { return timer }
            let timer = Metrics.Timer(label: "webchat_dynamodb_request_duration_seconds", dimensions: [("operation", operation)], factory: factory)
            timers[operation] = timer
            return timer
        }
    }

    private func failureCounter(_ operation: String, _ code: DynamoDBError.Code) -> Metrics.Counter {
        let reason = code.description.replacingOccurrences(of: " ", with: "_")
        return requestFailures.withLock { counters in
            let key = operation + "/" + reason
            if let counter = counters[key] { return counter }
            let counter = Metrics.Counter(label: "webchat_dynamodb_request_failures_total",
                                          dimensions: [("operation", operation), ("code", reason)], factory: factory)
            counters[key] = counter
            return counter
        }
    }
}
