#if canImport(Glibc)
import Glibc
#endif
import ServiceLifecycle

/// Gives freed heap memory back to the system after connections come or go.
///
/// Setting a connection up allocates far more, for a moment, than it keeps (HTTP parsing, store
/// work, async frames); glibc's allocator keeps those freed pages in its arenas, so without a trim
/// the resident size grows several times faster than the live heap. `malloc_trim` returns every
/// free page; it runs while connections are being set up or torn down and once after that settles.
struct MemoryTrimService: Service {
    /// A number that changes whenever connections come or go (their setups and teardowns so far).
    let activity: @Sendable () -> Int
    var interval: Duration = .seconds(2)

    func run() async throws {
        var last = activity()
        var settling = false
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
            let count = activity()
            // Trim while the activity moves, and once more when it has settled.
            if count != last {
                last = count
                settling = true
            } else if settling {
                settling = false
            } else {
                continue
            }
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
