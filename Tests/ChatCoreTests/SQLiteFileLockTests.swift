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
}
