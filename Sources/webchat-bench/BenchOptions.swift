import ArgumentParser
import Foundation
import NIOCore
import NIOPosix
import SocketIO

/// Options every scenario shares.
struct CommonOptions: ParsableArguments {
    @Option(help: "Server base URL (http:// or ws://, loopback only); several, comma-separated, for the nodes of a cluster: client i uses the (i mod n)-th.")
    var url: String = "http://127.0.0.1:8080"

    @Option(help: "Client event-loop threads (default: one per core).")
    var threads: Int = System.coreCount

    @Option(help: "Local source addresses to spread connections over, e.g. 127.0.0.1-127.0.0.20.")
    var sources: String?

    @Option(help: "Handshakes in flight at once while connecting.")
    var concurrency: Int = 200

    @Option(help: "Write the JSON report to this file as well as standard output.")
    var json: String?

    func validate() throws {
        guard threads >= 1 else { throw ValidationError("--threads must be at least 1") }
        guard concurrency >= 1 else { throw ValidationError("--concurrency must be at least 1") }
        _ = try endpoints()
        _ = try sourceAddresses()
    }

    /// Host and port of each URL in `url`, in order.
    func endpoints() throws -> [(host: String, port: Int)] {
        let urls = url.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        guard !urls.isEmpty else { throw ValidationError("--url names no server") }
        return try urls.map(Self.endpoint)
    }

    /// Host and port of `url`, loopback only.
    private static func endpoint(_ url: String) throws -> (host: String, port: Int) {
        var rest = Substring(url)
        if let scheme = rest.range(of: "://") { rest = rest[scheme.upperBound...] }
        if let slash = rest.firstIndex(of: "/") { rest = rest[..<slash] }
        let parts = rest.split(separator: ":")
        let host = String(parts.first ?? "127.0.0.1")
        let port = parts.count > 1 ? Int(parts[1]) ?? -1 : 80
        guard (1...65535).contains(port) else { throw ValidationError("bad port in --url \(url)") }
        guard host == "127.0.0.1" || host == "localhost" || host == "::1" else {
            throw ValidationError("the bench targets loopback only, not \(host)")
        }
        return (host == "localhost" ? "127.0.0.1" : host, port)
    }

    /// The local source addresses, or nil for the kernel's choice.
    func sourceAddresses() throws -> [SocketAddress]? {
        guard let sources else { return nil }
        let ends = sources.split(separator: "-").map(String.init)
        guard let first = ends.first, let lastOctets = ends.last?.split(separator: ".").last, let last = Int(lastOctets) else {
            throw ValidationError("--sources must look like 127.0.0.1-127.0.0.20")
        }
        var octets = first.split(separator: ".").map(String.init)
        guard octets.count == 4, let start = Int(octets[3]), start <= last else { throw ValidationError("bad --sources \(sources)") }
        return try (start...last).map { octet in
            octets[3] = String(octet)
            return try SocketAddress(ipAddress: octets.joined(separator: "."), port: 0)
        }
    }

    /// Prints the report and writes it to `--json`.
    func emit(_ report: JSONValue) throws {
        let text = report.jsonString
        print(text)
        if let json {
            try (text + "\n").write(toFile: json, atomically: true, encoding: .utf8)
        }
    }
}

/// A short random tag that keeps user and message ids of one run apart from others.
func runTag() -> String {
    let letters = Array("abcdefghijklmnopqrstuvwxyz0123456789")
    return String((0..<6).map { _ in letters.randomElement()! })
}

extension ByteBuffer {
    /// Writes `value` in decimal ASCII.
    mutating func writeDecimal(_ value: UInt64) {
        var scale: UInt64 = 1
        while value / scale >= 10 { scale *= 10 }  // at most 10^19, which UInt64 holds
        var rest = value
        while scale > 0 {
            writeInteger(UInt8(ascii: "0") + UInt8(rest / scale))
            rest %= scale
            scale /= 10
        }
    }
}

/// Connects `count` clients with at most `concurrency` handshakes at once; returns the
/// clients that connected (transport level; the scenario waits for CONNECT itself). With
/// several `--url`s client `i` goes to node `node(i) mod n` (default `i`).
func connectAll(
    count: Int, common: CommonOptions, group: MultiThreadedEventLoopGroup, stats: BenchStats,
    node: @escaping @Sendable (Int) -> Int = { $0 },
    loopFor: @escaping @Sendable (Int) -> any EventLoop,
    makeClient: @escaping @Sendable (Int) -> SocketIOClient
) async throws -> [SocketIOClient?] {
    let endpoints = try common.endpoints()
    let sources = try common.sourceAddresses()
    let path = "/socket.io/?EIO=4&transport=websocket"
    return await withTaskGroup(of: (Int, SocketIOClient?).self) { tasks in
        var results = [SocketIOClient?](repeating: nil, count: count)
        var next = 0
        func launch() {
            let index = next
            next += 1
            tasks.addTask {
                let source = sources.map { $0[index % $0.count] }
                let (host, port) = endpoints[node(index) % endpoints.count]
                do {
                    let client = try await SocketIOClient.connect(
                        host: host, port: port, path: path, on: loopFor(index), source: source,
                        makeClient: { makeClient(index) }
                    ).get()
                    return (index, client)
                } catch {
                    stats.failedConnections.add(1, ordering: .relaxed)
                    stats.error("connect \(index): \(error)")
                    return (index, nil)
                }
            }
        }
        while next < min(count, common.concurrency) { launch() }
        for await (index, client) in tasks {
            results[index] = client
            if next < count { launch() }
        }
        return results
    }
}

/// Waits until `condition` holds or `timeout` passes; returns whether it held.
func waitUntil(timeout: Duration, poll: Duration = .milliseconds(20), _ condition: () async -> Bool) async -> Bool {
    let deadline = ContinuousClock.now + timeout
    while !(await condition()) {
        if ContinuousClock.now >= deadline { return false }
        try? await Task.sleep(for: poll)
    }
    return true
}

/// Opens sessions for `users` (open auth mode) and returns their tokens in order.
func openSessions(_ users: [String], common: CommonOptions, group: MultiThreadedEventLoopGroup) async throws -> [String] {
    let endpoints = try common.endpoints()
    return try await withThrowingTaskGroup(of: (Int, String).self) { tasks in
        var tokens = [String](repeating: "", count: users.count)
        var next = 0
        func launch() {
            let index = next
            next += 1
            tasks.addTask {
                let (host, port) = endpoints[index % endpoints.count]
                let token = try await HTTPPost.openSession(host: host, port: port, user: users[index], on: group.next()).get()
                return (index, token)
            }
        }
        while next < min(users.count, 32) { launch() }
        for try await (index, token) in tasks {
            tokens[index] = token
            if next < users.count { launch() }
        }
        return tokens
    }
}

/// The server's resident set size in bytes, from /proc/PID/status.
func residentBytes(pid: Int) -> Int? {
    guard let text = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return nil }
    for line in text.split(separator: "\n") where line.hasPrefix("VmRSS:") {
        let fields = line.split(separator: " ", omittingEmptySubsequences: true)
        if fields.count >= 2, let kib = Int(fields[1]) { return kib * 1024 }
    }
    return nil
}

/// JSON string literal for `text` (ids and bodies made here need no escaping beyond quotes).
func quoted(_ text: String) -> String { "\"" + text + "\"" }
