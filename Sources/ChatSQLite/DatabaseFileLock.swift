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
///
/// The lock is named after the file, not the path it was reached by: symbolic links in the path
/// are resolved first, and a database with more than one hard link is refused, since another
/// name of it would have a lock of its own. (Not `flock` on the database itself: closing any
/// descriptor of that file drops the POSIX locks SQLite holds on it in this process.)
final class DatabaseFileLock: Sendable {
    private let descriptor: Int32

    /// Takes the lock for the database at `databasePath`, or throws naming the process that holds it.
    init(databasePath: String) throws {
        let path = try Self.resolve(databasePath) + ".lock"
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

    /// `databasePath` with every symbolic link resolved (its folder's, when the file is not there
    /// yet); throws for a dangling link or a file with other hard links.
    static func resolve(_ databasePath: String) throws -> String {
        var status = stat()
        if lstat(databasePath, &status) == 0 {
            guard let resolved = realpath(databasePath, nil) else {
                throw DatabaseLockError(message: "\(databasePath) is a symbolic link to a missing file (\(String(cString: strerror(errno))))")
            }
            defer { free(resolved) }
            var target = stat()
            guard stat(resolved, &target) == 0 else {
                throw DatabaseLockError(message: "cannot read \(databasePath): \(String(cString: strerror(errno)))")
            }
            guard target.st_mode & S_IFMT == S_IFREG else {
                let kind = target.st_mode & S_IFMT == S_IFDIR ? "a directory" : "not a regular file"
                throw DatabaseLockError(message: "\(databasePath) is \(kind): --store sqlite:PATH names the database file")
            }
            if target.st_nlink > 1 {
                throw DatabaseLockError(message: """
                    \(databasePath) has \(target.st_nlink) hard links: webchat cannot tell whether another process uses it \
                    under another name; give it a file of its own (a copy, or `sqlite3 … ".backup …"`)
                    """)
            }
            return String(cString: resolved)
        }
        let url = URL(fileURLWithPath: databasePath)
        let folder = url.deletingLastPathComponent().path
        guard let resolved = realpath(folder, nil) else {
            throw DatabaseLockError(message: "cannot resolve \(folder): \(String(cString: strerror(errno)))")
        }
        defer { free(resolved) }
        return String(cString: resolved) + "/" + url.lastPathComponent
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
