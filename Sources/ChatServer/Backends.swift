import ChatCore
import Foundation
import ChatDynamoDB
import ChatSQLite
import Logging
import RedisBroker
import ServiceLifecycle

/// The store and the broker a configuration names, and the services that keep them running.
///
/// Embedded (the default): a SQLite file and the in-process broker, nothing to run beside the
/// application. Scale-out: DynamoDB tables and a Redis broker shared by every process; the
/// broker heartbeats and reaps dead nodes, the store's recovery service finishes fan-outs a
/// dead node left, and both are closed when the application stops (the SQLite file too).
struct Backends {
    let store: any ChatStore
    let broker: any Broker
    private let redis: RedisBroker?
    private let dynamo: DynamoDBChatStore?
    private var sqlite: SQLiteChatStore? { store as? SQLiteChatStore }

    /// Opens the store and connects the broker; throws with a message for the operator when
    /// either cannot be reached.
    static func open(_ configuration: ServerConfiguration, metrics: ServerMetrics, logger: Logger) async throws -> Backends {
        var dynamo: DynamoDBChatStore?
        let store: any ChatStore
        switch configuration.store {
        case .memory:
            store = InMemoryChatStore()
        case .sqlite(let path):
            store = try SQLiteChatStore(path: path, logger: logger, observer: metrics.sqliteObserver)
            logger.info("storing data in \(path)")
        case .dynamodb(let settings):
            let opened = try await DynamoDBChatStore(configuration: settings, logger: logger, observer: metrics.scaleOut.dynamoDBObserver)
            logger.info("storing data in DynamoDB", metadata: [
                "endpoint": "\(settings.endpoint)", "tables": "\(settings.tablePrefix)*", "credentials": "\(settings.credentials)",
            ])
            store = opened
            dynamo = opened
        }
        warnAboutHalfAClusterSetup(configuration, logger: logger)
        switch configuration.broker {
        case .memory:
            do {
                try await dynamo?.bind(toBroker: nil)
            } catch {
                try? await dynamo?.shutdown()
                throw error
            }
            return Backends(store: store, broker: InProcessBroker(), redis: nil, dynamo: dynamo)
        case .redis(let settings):
            do {
                let redis = try await RedisBroker(configuration: settings, logger: logger, observer: metrics.scaleOut.redisObserver)
                if case .dynamodb(let tables) = configuration.store, let dynamo {
                    // Each records the other, so a node that shares one but not the other stops here.
                    do {
                        try await redis.bind(toStore: storeIdentity(tables))
                        try await dynamo.bind(toBroker: brokerIdentity(settings))
                    } catch {
                        await redis.shutdown()
                        throw error
                    }
                }
                logger.info("broker on Redis", metadata: ["redis": "\(settings.endpoint)", "node": "\(redis.nodeID)"])
                return Backends(store: store, broker: redis, redis: redis, dynamo: dynamo)
            } catch {
                try? await dynamo?.shutdown()
                throw error
            }
        }
    }

    /// The DynamoDB tables nodes sharing a Redis prefix must share (``RedisBroker/bind(toStore:)``):
    /// region and table prefix, and the endpoint when it is not AWS's own (a VPC endpoint and the
    /// public one reach the same tables; two local emulators do not).
    static func storeIdentity(_ tables: DynamoDBConfiguration) -> String {
        let host = URL(string: tables.endpoint)?.host ?? tables.endpoint
        let aws = host.hasSuffix(".amazonaws.com") || host.hasSuffix(".amazonaws.com.cn")
        return "dynamodb://\(tables.region)?prefix=\(tables.tablePrefix)" + (aws ? "" : "&endpoint=\(tables.endpoint)")
    }

    /// The broker nodes sharing DynamoDB tables must share (``DynamoDBChatStore/bind(toBroker:)``):
    /// the Redis key prefix and database (channels ignore the database, presence keys do not).
    /// Not the address: nodes may reach one Redis by different names.
    static func brokerIdentity(_ redis: RedisBrokerConfiguration) -> String {
        "Redis key prefix '\(redis.prefix)' in database \(redis.database)"
    }

    /// A store and a broker that do not make a cluster together work for one process only; said
    /// at start, since several processes set up so would each see only part of the chat.
    private static func warnAboutHalfAClusterSetup(_ configuration: ServerConfiguration, logger: Logger) {
        switch (configuration.store, configuration.broker) {
        case (.dynamodb, .memory):
            logger.warning("""
                a DynamoDB store with the in-process broker: live events reach only this process's clients; \
                run several processes only with --broker redis://…
                """)
        case (.sqlite, .redis), (.memory, .redis):
            logger.warning("""
                the Redis broker with a store of this process's own: processes sharing this Redis must share \
                one store too (--store dynamodb://…), or each sees only the messages it stored
                """)
        default:
            break
        }
    }

    /// Connects the backends' callbacks to `chat` and returns the services to run, in the order
    /// to start them: the application's own services come after these, so a graceful shutdown
    /// stops these last (the sockets' closes still update presence through the broker).
    func services(for chat: ChatService, logger: Logger) -> [any Service] {
        var services: [any Service] = []
        if let sqlite {
            // Last to stop: the sockets' closes still write (last seen) before it.
            services.append(ClosingService("SQLiteChatStore") { try await sqlite.close() })
        }
        if let dynamo {
            services.append(ClosingService("DynamoDBChatStore") { try await dynamo.shutdown() })
            services.append(DynamoDBFanOutRecoveryService(store: dynamo, logger: logger) { entries in
                await chat.publishRecovered(entries)
            })
        }
        if let redis {
            redis.presenceLost = { users in await chat.connectionsLost(of: users) }
            redis.presenceRestored = { users in await chat.connectionsRestored(of: users) }
            services.append(redis)
        }
        return services
    }
}

/// Runs until the graceful shutdown, then closes something (a client's connections).
struct ClosingService: Service, CustomStringConvertible {
    let description: String
    private let close: @Sendable () async throws -> Void

    init(_ name: String, close: @escaping @Sendable () async throws -> Void) {
        self.description = name
        self.close = close
    }

    func run() async throws {
        try? await gracefulShutdown()
        try await close()
    }
}
