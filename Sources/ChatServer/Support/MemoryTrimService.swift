#if canImport(Glibc)
import Glibc
#endif
import ServiceLifecycle
import SocketIO

/// Gives freed heap memory back to the system after connections come or go.
///
/// Setting a connection up allocates far more, for a moment, than it keeps (HTTP parsing, store
/// work, async frames); glibc's allocator keeps those freed pages in its arenas, so without a trim
/// the resident size grows several times faster than the live heap. `malloc_trim` returns every
/// free page; it runs only when the connection count changed since the last look.
struct MemoryTrimService: Service {
    let socketIO: SocketIOServer
    var interval: Duration = .seconds(2)

    func run() async throws {
        var last = socketIO.connectionCount
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
            let count = socketIO.connectionCount
            guard count != last else { continue }
            last = count
            _ = Self.mallocTrim?(0)
        }
    }

    /// glibc's `malloc_trim`, looked up at run time (`malloc.h` is not in the Glibc module; other
    /// C libraries have none).
    private static let mallocTrim: (@convention(c) (Int) -> Int32)? = {
        #if canImport(Glibc)
        guard let symbol = dlsym(dlopen(nil, RTLD_NOW), "malloc_trim") else { return nil }
        return unsafeBitCast(symbol, to: (@convention(c) (Int) -> Int32).self)
        #else
        return nil
        #endif
    }()
}
