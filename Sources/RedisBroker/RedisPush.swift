import ChatCore
import NIOCore

/// A value Redis sends a connection in subscribe mode, read for the broker.
enum RedisPush: Equatable, Sendable {
    /// A `message` on a user's channel.
    case message(UserID, BrokerEnvelope)
    /// A `subscribe` confirmation for a user's channel.
    case subscribed(UserID)
    /// An `unsubscribe` confirmation for a user's channel.
    case unsubscribed(UserID)
    /// A resync on the cluster-wide resync channel: every subscriber should resync.
    case resyncAll
    /// The `subscribe` confirmation for the resync channel.
    case subscribedResyncChannel
    /// An error reply (to the oldest command not answered yet).
    case error(String)
    /// The answer to a PING.
    case pong
    /// Something the broker does not use (a malformed envelope on a channel of ours).
    case ignored
    /// Something that cannot come from Redis talking to this client.
    case unexpected(String)

    /// Reads `value`; user channels are named `channelPrefix` + the user id, and the resync
    /// channel, if any, `resyncChannel`.
    init(_ value: RESPValue, channelPrefix: [UInt8], resyncChannel: [UInt8]? = nil) {
        switch value {
        case .error(let message):
            self = .error(message)
            return
        case .simpleString("PONG"):
            // A connection with no subscription is not in subscribe mode: PING gets the plain reply.
            self = .pong
            return
        default:
            break
        }
        guard let parts = value.array, let kind = parts.first?.string, parts.count >= 2 else {
            self = .unexpected("\(value)")
            return
        }
        if let resyncChannel, case .bulkString(let name?) = parts[1], name.readableBytesView.elementsEqual(resyncChannel) {
            self = Self.onResyncChannel(kind, parts)
            return
        }
        switch kind {
        case "message":
            guard parts.count == 3, let user = Self.user(parts[1], channelPrefix), let payload = parts[2].bytes else {
                self = .unexpected("\(value)")
                return
            }
            self = BrokerEnvelope(bytes: payload).map { .message(user, $0) } ?? .ignored
        case "subscribe", "unsubscribe":
            guard let user = Self.user(parts[1], channelPrefix) else {
                self = .unexpected("\(value)")
                return
            }
            self = kind == "subscribe" ? .subscribed(user) : .unsubscribed(user)
        case "pong":
            self = .pong
        default:
            self = .unexpected("\(value)")
        }
    }

    /// Reads a `message` push on `channel` (as ``init(_:channelPrefix:resyncChannel:)`` reads
    /// its value), decoding the envelope straight from the bytes read.
    init(message channel: ByteBuffer, payload: ByteBuffer, channelPrefix: [UInt8], resyncChannel: [UInt8]? = nil) {
        if let resyncChannel, channel.readableBytesView.elementsEqual(resyncChannel) {
            self = Self.envelope(payload) == .resync ? .resyncAll : .ignored
            return
        }
        guard let user = Self.user(.bulkString(channel), channelPrefix) else {
            self = .unexpected("\(RESPFrame.message(channel: channel, payload: payload).value)")
            return
        }
        self = Self.envelope(payload).map { .message(user, $0) } ?? .ignored
    }

    /// The envelope in `payload`, copied once; nil when malformed.
    private static func envelope(_ payload: ByteBuffer) -> BrokerEnvelope? {
        payload.withUnsafeReadableBytes { BrokerEnvelope(encoded: $0) }
    }

    /// A push about the resync channel.
    private static func onResyncChannel(_ kind: String, _ parts: [RESPValue]) -> RedisPush {
        switch kind {
        case "message" where parts.count == 3:
            parts[2].bytes.flatMap(BrokerEnvelope.init(bytes:)) == .resync ? .resyncAll : .ignored
        case "subscribe":
            .subscribedResyncChannel
        default:
            .unexpected("\(RESPValue.array(parts))")
        }
    }

    /// The user whose channel `name` is.
    private static func user(_ name: RESPValue, _ prefix: [UInt8]) -> UserID? {
        guard case .bulkString(let buffer?) = name, buffer.readableBytesView.starts(with: prefix) else { return nil }
        return UserID(String(decoding: buffer.readableBytesView.dropFirst(prefix.count), as: UTF8.self))
    }
}
