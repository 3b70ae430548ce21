import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An exclusive advisory lock on `<database>.lock`, held while a store has the database open.
///
/// The writer keeps each user's seq and each conversation's pos in memory (`WriterMemory`), so
/// a second process writing the same file would hand out the same seqs again. The lock makes
/// that a clear error at start instead. It goes away with the process, however that ends.
final class DatabaseFileLock: Sendable {
    private let descriptor: Int32

    /// Takes the lock for the database at `databasePath`, or throws naming the process that holds it.
    init(databasePath: String) throws {
        let path = databasePath + ".lock"
        let descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw DatabaseLockError(message: "cannot open \(path): \(String(cString: strerror(errno)))") }
        guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
            let holder = (try? String(contentsOfFile: path, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
            close(descriptor)
            throw DatabaseLockError(message: """
                \(databasePath) is in use by another process\(holder.isEmpty ? "" : " (pid \(holder))"): one webchat \
                process per SQLite file; several processes need a shared store (--store dynamodb://…)
                """)
        }
        let pid = Array("\(getpid())\n".utf8)
        _ = ftruncate(descriptor, 0)
        _ = pid.withUnsafeBytes { pwrite(descriptor, $0.baseAddress, $0.count, 0) }
        self.descriptor = descriptor
    }

    deinit {
        flock(descriptor, LOCK_UN)
        close(descriptor)
    }
}

/// The database is locked by another process, or the lock file cannot be made.
public struct DatabaseLockError: Error, CustomStringConvertible, Sendable {
    /// What went wrong, for the operator.
    public let message: String
    public var description: String { message }
}
