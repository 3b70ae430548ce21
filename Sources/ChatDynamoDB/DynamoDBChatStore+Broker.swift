extension DynamoDBChatStore {
    /// Records that the nodes on these tables share the broker `identity` (a Redis key prefix and
    /// database), or throws when the first node recorded another. With `identity` nil (the
    /// in-process broker) it records nothing and throws when a broker is recorded.
    ///
    /// Nodes on one set of tables but different brokers each publish their users' events where
    /// the others do not listen and keep presence apart: a user looks offline to the other
    /// nodes and gets live events only from the node they are connected to. The check is the
    /// store's half of the Redis prefix's record of its store (`RedisBroker.bind(toStore:)`).
    /// Once recorded, the item stays: a broker that moved needs it deleted (the error says how).
    public func bind(toBroker identity: String?) async throws {
        let key = tables.brokerRecord
        if let identity {
            var item = key
            item["broker"] = .s(identity)
            var e = Expression()
            do {
                try await client.putItem(PutAction(tables.messageIDs, item, condition: "attribute_not_exists(\(e.name("key")))", e))
                logger.info("recorded the broker of these tables", metadata: ["broker": "\(identity)"])
                return
            } catch let error as DynamoDBError where error.code == .conditionalCheckFailed {
                // Recorded already (by another node, or by this put's own earlier attempt).
            }
        }
        guard let recorded = try await client.getItem(tables.messageIDs, key: key)?["broker"]?.string, recorded != identity else { return }
        let this = identity.map { "this node's is \($0)" } ?? "this node has the in-process broker"
        throw DynamoDBError.invalidConfiguration("""
            the nodes on the DynamoDB tables \(tables.prefix)* share the broker \(recorded), and \(this): start this node with the \
            same --broker, or give it tables of its own (another --store prefix); if the broker moved, delete the item {"key":"broker"} of the table \
            \(tables.messageIDs) once every node is stopped
            """)
    }
}
