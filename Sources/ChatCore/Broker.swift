/// What travels on a user's endpoint channel (`user:<id>`).
public enum BrokerEnvelope: Hashable, Sendable {
    /// An already stored timeline entry; `payload` includes `"seq"`.
    case timeline(seq: Int64, event: String, payload: [UInt8])
    /// An event that is never stored (`typing`, `presence`).
    case ephemeral(event: String, payload: [UInt8])
    /// Envelopes for the channel may have been lost: a broker hands it to a channel's subscribers
    /// when the channel is back after an outage (a lost connection to Redis, say), and publishes
    /// it to the users whose envelopes it failed to publish. The endpoint then catches up from the store.
    case resync

    /// The envelope as bytes for a byte-oriented pub/sub (Redis):
    /// `T<seq> <event>\n<payload>`, `E<event>\n<payload>` or `R\n`.
    public var bytes: [UInt8] {
        [UInt8](unsafeUninitializedCapacity: self.encodedCount) { storage, count in
            count = self.encode(into: UnsafeMutableRawBufferPointer(storage))
        }
    }

    /// Decodes `bytes`; `nil` when malformed.
    public init?(bytes: [UInt8]) {
        guard let envelope = bytes.withUnsafeBytes({ BrokerEnvelope(encoded: $0) }) else { return nil }
        self = envelope
    }
}

/// A live subscription to one user's endpoint channel: cancel it to stop its deliveries.
///
/// Envelopes are pushed to the subscriber's handler (see ``Broker/subscribe(_:_:)``), so an idle
/// subscription holds no task and no buffer.
public struct BrokerSubscription: Sendable {
    private let cancelAction: @Sendable () async -> Void

    /// Creates a subscription; `cancel` must stop further calls to the subscriber's handler.
    public init(cancel: @escaping @Sendable () async -> Void) {
        self.cancelAction = cancel
    }

    /// Stops the subscription (a publish already under way may still hand over an envelope).
    public func cancel() async { await cancelAction() }
}

/// Carries stored events to every node holding a connection of the user, and tracks presence.
///
/// One channel per user (`user:<id>`), never per conversation, so a Redis pub/sub
/// implementation maps one to one. Publishing is best effort: whatever is lost is in the
/// timeline and comes back on the next replay or gap fill.
public protocol Broker: Sendable {
    /// Publishes `envelope` on each user's channel.
    func publish(_ envelope: BrokerEnvelope, to users: [UserID]) async throws
    /// Publishes without suspending if this broker can (one in the process hands envelopes
    /// straight to its subscribers; one over the network writes them to its connection without
    /// waiting for the answer): `true`; `false` when it cannot now (say, its connection is
    /// down), and nothing was published (use ``publish(_:to:)``). The default: `false`.
    func publishNow(_ envelope: BrokerEnvelope, to users: [UserID]) -> Bool
    /// Subscribes to a user's channel: envelopes published after this returns are handed to
    /// `receive`, in publish order per publisher. `receive` must not block (it may run on the
    /// publisher's task or on an I/O thread). A broker that can lose envelopes in an outage
    /// hands `receive` a ``BrokerEnvelope/resync`` once the channel is back.
    func subscribe(_ user: UserID, _ receive: @escaping @Sendable (BrokerEnvelope) -> Void) async throws -> BrokerSubscription
    /// Registers a connection; `true` if it is the user's first across the cluster.
    func connectionOpened(user: UserID, connection: String) async throws -> Bool
    /// Unregisters a connection; `true` if it was the user's last across the cluster.
    func connectionClosed(user: UserID, connection: String) async throws -> Bool
    /// Whether the user has a connection anywhere.
    func isOnline(_ user: UserID) async throws -> Bool
    /// Claims the cluster-wide job `job` for `duration`: `true` when no claim holds it (this
    /// node's then does, until `duration` has passed), `false` while one does (another node's,
    /// or this node's own earlier one). A periodic job that must run once per cluster rather than
    /// once per node (retention) runs only on a claim. The default, for a broker of one process,
    /// whose node is the whole cluster: `true` every time.
    func claim(_ job: String, for duration: Duration) async throws -> Bool
}

extension Broker {
    public func publishNow(_ envelope: BrokerEnvelope, to users: [UserID]) -> Bool { false }
    public func claim(_ job: String, for duration: Duration) async throws -> Bool { true }
}

/// The byte form without intermediate copies: a network client writes it straight into its
/// output buffer and reads it straight out of its input buffer.
extension BrokerEnvelope {
    /// The number of bytes of the byte form (``bytes``).
    public var encodedCount: Int {
        switch self {
        case .timeline(let seq, let event, let payload):
            1 + Self.decimalCount(seq) + 1 + event.utf8.count + 1 + payload.count
        case .ephemeral(let event, let payload):
            1 + event.utf8.count + 1 + payload.count
        case .resync:
            2
        }
    }

    /// Writes the byte form (``bytes``) at the start of `target`, which holds at least
    /// ``encodedCount`` bytes; returns the number written.
    public func encode(into target: UnsafeMutableRawBufferPointer) -> Int {
        precondition(target.count >= self.encodedCount, "the byte form does not fit")
        var at = 0
        func put(_ byte: UInt8) {
            target[at] = byte
            at += 1
        }
        func put(_ bytes: UnsafeRawBufferPointer) {
            guard let base = bytes.baseAddress, !bytes.isEmpty else { return }
            target.baseAddress!.advanced(by: at).copyMemory(from: base, byteCount: bytes.count)
            at += bytes.count
        }
        func put(_ text: String) {
            var text = text
            text.withUTF8 { put(UnsafeRawBufferPointer($0)) }
        }
        switch self {
        case .timeline(let seq, let event, let payload):
            put(UInt8(ascii: "T"))
            if seq < 0 { put(UInt8(ascii: "-")) }
            var magnitude = seq.magnitude
            let digits = Self.decimalCount(seq) - (seq < 0 ? 1 : 0)
            for offset in stride(from: digits - 1, through: 0, by: -1) {
                target[at + offset] = UInt8(ascii: "0") + UInt8(magnitude % 10)
                magnitude /= 10
            }
            at += digits
            put(UInt8(ascii: " "))
            put(event)
            put(UInt8(ascii: "\n"))
            payload.withUnsafeBytes { put($0) }
        case .ephemeral(let event, let payload):
            put(UInt8(ascii: "E"))
            put(event)
            put(UInt8(ascii: "\n"))
            payload.withUnsafeBytes { put($0) }
        case .resync:
            put(UInt8(ascii: "R"))
            put(UInt8(ascii: "\n"))
        }
        return at
    }

    /// Decodes the byte form from `bytes` (a slice of a network read, say), copying the payload
    /// once; `nil` when malformed. It reads what ``init(bytes:)`` always read: after `T`, spaces,
    /// then the seq (a decimal, optionally signed), one space and a non-empty event name.
    public init?(encoded bytes: UnsafeRawBufferPointer) {
        guard let first = bytes.first, let newline = bytes.firstIndex(of: UInt8(ascii: "\n")) else { return nil }
        let payload = { [UInt8](UnsafeRawBufferPointer(rebasing: bytes[(newline + 1)...])) }
        switch first {
        case UInt8(ascii: "T"):
            var start = 1
            while start < newline, bytes[start] == UInt8(ascii: " ") { start += 1 }
            guard let space = bytes[start..<newline].firstIndex(of: UInt8(ascii: " ")), space + 1 < newline,
                  let seq = Self.decimal(UnsafeRawBufferPointer(rebasing: bytes[start..<space])) else { return nil }
            let event = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[(space + 1)..<newline]), as: UTF8.self)
            self = .timeline(seq: seq, event: event, payload: payload())
        case UInt8(ascii: "E"):
            self = .ephemeral(event: String(decoding: UnsafeRawBufferPointer(rebasing: bytes[1..<newline]), as: UTF8.self), payload: payload())
        case UInt8(ascii: "R") where newline == 1 && bytes.count == 2:
            self = .resync
        default:
            return nil
        }
    }

    /// The number of characters of `value` in decimal, its minus sign included.
    private static func decimalCount(_ value: Int64) -> Int {
        var count = value < 0 ? 2 : 1
        var rest = value.magnitude / 10
        while rest > 0 {
            count += 1
            rest /= 10
        }
        return count
    }

    /// A decimal with an optional sign, as `Int64(_: String)` reads it; `nil` when malformed or out of range.
    private static func decimal(_ text: UnsafeRawBufferPointer) -> Int64? {
        var digits = text[...]
        let negative = digits.first == UInt8(ascii: "-")
        if negative || digits.first == UInt8(ascii: "+") { digits = digits.dropFirst() }
        guard !digits.isEmpty else { return nil }
        var magnitude: UInt64 = 0
        for digit in digits {
            guard (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(digit) else { return nil }
            let (shifted, overflow1) = magnitude.multipliedReportingOverflow(by: 10)
            let (sum, overflow2) = shifted.addingReportingOverflow(UInt64(digit - UInt8(ascii: "0")))
            guard !overflow1, !overflow2 else { return nil }
            magnitude = sum
        }
        if negative { return magnitude <= UInt64(Int64.max) + 1 ? Int64(truncatingIfNeeded: 0 &- magnitude) : nil }
        return magnitude <= UInt64(Int64.max) ? Int64(magnitude) : nil
    }
}
