import Foundation
import Testing

@testable import ChatServer

/// What an operator finds in /metrics for the scale-out backends' reports.
@Suite("Scale-out metrics")
struct ScaleOutMetricsTests {
    @Test("credential fetches: counted by result, and the current keys' expiration as a timestamp")
    func credentialFetches() {
        let metrics = ServerMetrics()
        let observer = metrics.scaleOut.dynamoDBObserver
        observer.credentialsFetched(nil)
        observer.credentialsFetched(nil)
        observer.credentialsFetched(Date(timeIntervalSince1970: 1_800_000_000))
        let text = String(decoding: metrics.exposition(), as: UTF8.self)
        let lines = Set(text.split(separator: "\n").map(String.init))
        #expect(lines.contains(#"webchat_dynamodb_credential_fetches_total{result="ok"} 1"#), "\(text)")
        #expect(lines.contains(#"webchat_dynamodb_credential_fetches_total{result="failed"} 2"#), "\(text)")
        #expect(lines.contains { $0.hasPrefix("webchat_dynamodb_credentials_expiration_timestamp_seconds 1800000000") }, "\(text)")
    }
}
