import Foundation
import NIOConcurrencyHelpers

/// The helper processes of a sharded `connections` run, as their standard output tells:
/// `READY <established>` once connected, then `PROGRESS <open> <failed> <errors>` once a second.
/// A helper holds its connections until its parent writes a line to its standard input (or
/// closes it), so every helper holds until the parent's hold ends.
final class ShardMonitor: Sendable {
    /// What one helper reported last.
    struct Status: Equatable, Sendable {
        /// Connections established, once it said READY.
        var ready: Int?
        var open = 0
        var failed = 0
        var errors = 0
        /// Its output ended (it exited).
        var exited = false
        /// The start of a line not yet complete.
        var partial = ""

        /// Takes more of the helper's output; complete lines update the status, anything
        /// else (its JSON report) is ignored.
        mutating func consume(_ text: String) {
            partial += text
            while let newline = partial.firstIndex(of: "\n") {
                let fields = partial[..<newline].split(separator: " ")
                partial = String(partial[partial.index(after: newline)...])
                switch fields.first {
                case "READY" where fields.count == 2:
                    ready = Int(fields[1]) ?? 0
                case "PROGRESS" where fields.count == 4:
                    open = Int(fields[1]) ?? open
                    failed = Int(fields[2]) ?? failed
                    errors = Int(fields[3]) ?? errors
                default:
                    break
                }
            }
        }
    }

    private let statuses: NIOLockedValueBox<[Status]>

    init(count: Int) {
        statuses = NIOLockedValueBox([Status](repeating: Status(), count: count))
    }

    /// Every helper connected (or gone).
    var allReady: Bool { statuses.withLockedValue { $0.allSatisfy { $0.ready != nil || $0.exited } } }

    /// Connections the helpers established, by their READY lines.
    var established: Int { statuses.withLockedValue { $0.reduce(0) { $0 + ($1.ready ?? 0) } } }

    /// Reads helper `index`'s output on a thread of its own until it ends (blocking reads stay
    /// off the concurrency pool, which has a thread per core).
    func watch(_ handle: FileHandle, shard index: Int) {
        Thread {
            while true {
                let data = handle.availableData
                if data.isEmpty { break }
                self.statuses.withLockedValue { $0[index].consume(String(decoding: data, as: UTF8.self)) }
            }
            self.statuses.withLockedValue { $0[index].exited = true }
        }.start()
    }

    /// Prints the helpers' summed progress to standard error once a second until cancelled.
    func progressTask(label: String) -> Task<Void, Never> {
        Task.detached {
            let start = Date()
            while !Task.isCancelled {
                try? await Task.sleep(for: .seconds(1))
                if Task.isCancelled { break }
                let all = self.statuses.withLockedValue { $0 }
                let sum = { (field: (Status) -> Int) in all.reduce(0) { $0 + field($1) } }
                log(String(
                    format: "[%@ %5.1fs] conn=%d failed=%d errors=%d (%d processes, %d ready)", label, Date().timeIntervalSince(start),
                    sum(\.open), sum(\.failed), sum(\.errors), all.count, all.filter { $0.ready != nil }.count))
            }
        }
    }

    /// In a helper: writes the PROGRESS line to standard output once a second until cancelled.
    static func reportTask(_ stats: BenchStats) -> Task<Void, Never> {
        Task.detached {
            while !Task.isCancelled {
                try? await Task.sleep(for: .seconds(1))
                let line = "PROGRESS \(stats.connections.load(ordering: .relaxed)) \(stats.failedConnections.load(ordering: .relaxed)) \(stats.errors.load(ordering: .relaxed))\n"
                FileHandle.standardOutput.write(Data(line.utf8))
            }
        }
    }

    /// In a helper: returns once the parent writes a line to standard input or closes it
    /// (also when the parent dies, so no helper outlives it).
    static func waitForParent() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            Thread {
                _ = readLine()
                continuation.resume()
            }.start()
        }
    }
}
