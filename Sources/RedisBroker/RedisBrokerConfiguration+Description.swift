import ChatCore

// The configuration goes into logs and error reports: every way of printing it hides the password.
extension RedisBrokerConfiguration: CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    /// The configuration as a `redis://` URL with the password shown as `***`:
    /// `redis://chat:***@redis.internal:6379/0?prefix=webchat:&heartbeat-interval-ms=5000&heartbeat-timeout-ms=15000`.
    public var description: String {
        let credentials = switch (username, password) {
        case (nil, nil): ""
        case (let user?, nil): "\(user)@"
        case (let user, _?): "\(user ?? ""):***@"
        }
        return "\(tls == nil ? "redis" : "rediss")://\(credentials)\(endpoint)/\(database)?prefix=\(prefix)"
            + "&heartbeat-interval-ms=\(heartbeatInterval.wholeMilliseconds)&heartbeat-timeout-ms=\(heartbeatTimeout.wholeMilliseconds)"
            + (tls?.caFile.map { "&ca-file=\($0)" } ?? "") + (tls?.certificateFile.map { "&cert-file=\($0)" } ?? "")
            + (tls?.keyFile.map { "&key-file=\($0)" } ?? "")
    }

    /// Every setting, the password shown as `***`.
    public var debugDescription: String {
        let fields = customMirror.children.map { "\($0.label ?? ""): \(String(reflecting: $0.value))" }
        return "RedisBrokerConfiguration(\(fields.joined(separator: ", ")))"
    }

    /// Every setting, the password shown as `***` (what `dump` shows).
    public var customMirror: Mirror {
        Mirror(self, children: [
            "host": host, "port": port, "tls": tls as Any, "username": username as Any, "password": password.map { _ in "***" } as Any,
            "database": database, "prefix": prefix, "connectTimeout": connectTimeout, "replyTimeout": replyTimeout,
            "minimumReconnectDelay": minimumReconnectDelay, "maximumReconnectDelay": maximumReconnectDelay,
            "heartbeatInterval": heartbeatInterval, "heartbeatTimeout": heartbeatTimeout,
        ], displayStyle: .struct)
    }
}
