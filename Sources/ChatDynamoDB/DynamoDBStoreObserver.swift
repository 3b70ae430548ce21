import Foundation

/// What the DynamoDB store reports for metrics; the server records it (see its `/metrics`).
///
/// Each callback is short: count, don't block.
public struct DynamoDBStoreObserver: Sendable {
    /// One request (one attempt: a retried request reports each) took `duration`; `failure`
    /// is the error's code when it failed.
    public var request: @Sendable (_ operation: String, _ duration: Duration, _ failure: DynamoDBError.Code?) -> Void
    /// A write lost to a concurrent writer of the same items and is tried again.
    public var conflict: @Sendable () -> Void
    /// Temporary credentials (from a role) were fetched: the new keys' expiration, or nil when
    /// the fetch failed. Fixed keys report nothing.
    public var credentialsFetched: @Sendable (_ expiration: Date?) -> Void

    /// An observer made of these callbacks.
    public init(request: @escaping @Sendable (_ operation: String, _ duration: Duration, _ failure: DynamoDBError.Code?) -> Void,
                conflict: @escaping @Sendable () -> Void, credentialsFetched: @escaping @Sendable (_ expiration: Date?) -> Void = { _ in }) {
        self.request = request
        self.conflict = conflict
        self.credentialsFetched = credentialsFetched
    }

    /// Reports nothing.
    public static let none = DynamoDBStoreObserver(request: { _, _, _ in }, conflict: {})
}
