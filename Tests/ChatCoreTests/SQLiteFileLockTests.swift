import ChatSQLite
import Foundation
import Testing
import TestSupport

@Suite struct SQLiteFileLockTests {
    @Test("a second store on the same file is refused, naming the holder, until the first is gone")
    func oneStorePerFile() throws {
        let folder = try TemporaryDirectory()
        let path = folder.path + "/chat.sqlite"
        var first: SQLiteChatStore? = try SQLiteChatStore(path: path)
        #expect(first != nil)
        do {
            _ = try SQLiteChatStore(path: path)
            Issue.record("a second store opened the file")
        } catch let error as DatabaseLockError {
            #expect(error.message.contains("in use by another process (pid \(ProcessInfo.processInfo.processIdentifier))"), "\(error)")
        }
        first = nil
        _ = try SQLiteChatStore(path: path)
    }

    @Test("the lock is the file's, not the path's: a symbolic link to a file in use is refused too")
    func symbolicLinkToAFileInUse() throws {
        let folder = try TemporaryDirectory()
        let path = folder.path + "/chat.sqlite"
        let first = try SQLiteChatStore(path: path)
        try FileManager.default.createSymbolicLink(atPath: folder.path + "/link.sqlite", withDestinationPath: path)
        try FileManager.default.createSymbolicLink(atPath: folder.path + "/folder-link", withDestinationPath: folder.path)
        for other in [folder.path + "/link.sqlite", folder.path + "/folder-link/chat.sqlite"] {
            #expect(throws: DatabaseLockError.self, "\(other)") { _ = try SQLiteChatStore(path: other) }
        }
        withExtendedLifetime(first) {}
    }

    @Test("a database with another hard link, a link to a missing file, or a directory is refused with the reason")
    func hardLinksAndDanglingLinks() throws {
        let folder = try TemporaryDirectory()
        let path = folder.path + "/chat.sqlite"
        _ = try SQLiteChatStore(path: path)
        try FileManager.default.linkItem(atPath: path, toPath: folder.path + "/other-name.sqlite")
        let hardLinked = #expect(throws: DatabaseLockError.self) { _ = try SQLiteChatStore(path: path) }
        #expect(hardLinked?.message.contains("has 2 hard links") == true, "\(String(describing: hardLinked))")
        try FileManager.default.createSymbolicLink(atPath: folder.path + "/dangling.sqlite", withDestinationPath: folder.path + "/gone.sqlite")
        let dangling = #expect(throws: DatabaseLockError.self) { _ = try SQLiteChatStore(path: folder.path + "/dangling.sqlite") }
        #expect(dangling?.message.contains("symbolic link to a missing file") == true, "\(String(describing: dangling))")
        let directory = #expect(throws: DatabaseLockError.self) { _ = try SQLiteChatStore(path: folder.path) }
        #expect(directory?.message.contains("is a directory") == true, "\(String(describing: directory))")
    }
}
