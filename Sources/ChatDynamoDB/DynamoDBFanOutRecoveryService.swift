import ChatCore
import Logging
import ServiceLifecycle

/// Finishes the fan-outs other processes left part-way and publishes what it appended.
///
/// A process leaves a fan-out when it crashed or failed after the operation's first
/// transaction. The service looks every `interval` until graceful shutdown and hands the
/// entries it appended to `publish`. Run one in every server process.
public struct DynamoDBFanOutRecoveryService: Service {
    private let store: DynamoDBChatStore
    private let interval: Duration
    /// How long a fan-out may go without progress before the service takes it over.
    let staleAfter: Duration
    private let logger: Logger
    private let publish: @Sendable ([TimelineEntry]) async -> Void

    /// Creates the service.
    /// - Parameters:
    ///   - interval: how often it looks.
    ///   - staleAfter: how long a fan-out may go without progress before it is taken over;
    ///     the store's ``DynamoDBChatStore/fanOutLease`` unless given (well above the time
    ///     one transaction takes).
    ///   - publish: publishes stored entries to their users' endpoints (the broker).
    public init(store: DynamoDBChatStore, interval: Duration = .seconds(5), staleAfter: Duration? = nil, logger: Logger,
                publish: @escaping @Sendable ([TimelineEntry]) async -> Void) {
        self.store = store
        self.interval = interval
        self.staleAfter = staleAfter ?? store.fanOutLease
        self.logger = logger
        self.publish = publish
    }

    /// Runs until graceful shutdown (or cancellation).
    public func run() async throws {
        await cancelWhenGracefulShutdown { [self] in
            while !Task.isCancelled {
                do {
                    let entries = try await store.resumePendingFanOuts(olderThan: staleAfter)
                    if !entries.isEmpty {
                        logger.notice("finished stalled fan-outs", metadata: ["entries": "\(entries.count)"])
                        await publish(entries)
                    }
                } catch {
                    if Task.isCancelled { return }
                    logger.warning("resuming fan-outs failed", metadata: ["error": "\(error)"])
                }
                try? await Task.sleep(for: interval)
            }
        }
    }
}
