import Foundation

/// A fresh folder under the system's temporary directory, removed when the value is released.
public final class TemporaryDirectory: Sendable {
    /// The folder's path.
    public let path: String

    public init() throws {
        let url = FileManager.default.temporaryDirectory.appending(path: "webchat-test-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        self.path = url.path
    }

    deinit {
        try? FileManager.default.removeItem(atPath: path)
    }
}

/// The package's executables, as built beside the test bundle (`swift build` puts them there).
public enum Executables {
    /// The path of the built executable `name`; throws with a hint when it has not been built.
    public static func path(of name: String) throws -> String {
        let bundle = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent()
        let candidate = bundle.appending(path: name).path
        guard FileManager.default.isExecutableFile(atPath: candidate) else {
            throw LiveServerError(message: "\(candidate) is missing: run `swift build` before `swift test` (scripts/test does)")
        }
        return candidate
    }
}
