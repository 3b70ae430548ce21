import Dispatch
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A profile's `credential_process`: a command (run by `/bin/sh -c`, as the Java and Go AWS
/// SDKs do on Unix) that prints keys as JSON on its standard output:
/// `{"Version": 1, "AccessKeyId", "SecretAccessKey", "SessionToken"?, "Expiration"?}`. Keys
/// without an `Expiration` never expire; others are fetched again before they do.
///
/// The command runs in a process group of its own: when it overruns ``timeoutSeconds`` or
/// prints more than ``outputLimit``, the whole group is killed (a pipeline or a helper's
/// children with it), so a hanging helper fails its fetch instead of stalling the store.
enum CredentialProcess {
    /// How long the command may run (`aws sso` and vault helpers answer in seconds).
    static let timeoutSeconds = 60
    /// The most output read (an answer is a few hundred bytes).
    static let outputLimit = 64 << 10

    /// Runs `command` and reads its answer; an error names the command's executable only (the
    /// rest may hold secrets), how it ended and the end of its standard error.
    static func run(_ command: String, timeout: Duration = .seconds(timeoutSeconds)) async throws -> CredentialsProvider.Temporary {
        let name = "credential_process \(executable(of: command))"
        let result = try await withCheckedThrowingContinuation { continuation in
            // Waiting for a process blocks a thread: not one of Swift concurrency's.
            DispatchQueue.global().async { continuation.resume(with: Result { try execute(command, name: name, timeout: timeout) }) }
        }
        guard result.status == 0 else {
            let detail = result.errors.trimmingCharacters(in: .whitespacesAndNewlines).suffix(300)
            throw DynamoDBError.invalidConfiguration("\(name) \(result.ending)\(detail.isEmpty ? "" : ": \(detail)")")
        }
        return try decode(Data(result.output), from: name)
    }

    /// The command's executable, for messages: its first word after any `NAME=value`
    /// assignments and `env` (which may carry secrets).
    static func executable(of command: String) -> String {
        let words = command.split(whereSeparator: \.isWhitespace)
        let first = words.first { word in
            !(word == "env" || (word.contains("=") && word.first.map { $0.isLetter || $0 == "_" } == true))
        }
        return first.map(String.init) ?? "(a command of assignments only)"
    }

    private struct Answer: Decodable {
        let Version: Int
        let AccessKeyId: String
        let SecretAccessKey: String
        let SessionToken: String?
        let Expiration: String?
    }

    static func decode(_ output: Data, from name: String) throws -> CredentialsProvider.Temporary {
        let answer: Answer
        do {
            answer = try JSONDecoder().decode(Answer.self, from: output)
        } catch {
            // The output may hold keys: it is not repeated.
            throw DynamoDBError.invalidResponse("\(name) did not print credentials as JSON (Version, AccessKeyId, SecretAccessKey): \(error)")
        }
        guard answer.Version == 1 else { throw DynamoDBError.invalidResponse("\(name) printed Version \(answer.Version); only 1 is known") }
        var expiration = Date.distantFuture
        if let text = answer.Expiration {
            guard let date = CredentialsProvider.parseDate(text) else {
                throw DynamoDBError.invalidResponse("\(name) printed an Expiration that is not an ISO 8601 time: \(text)")
            }
            expiration = date
        }
        let credentials = DynamoDBConfiguration.Credentials(accessKeyID: answer.AccessKeyId, secretAccessKey: answer.SecretAccessKey,
                                                            sessionToken: answer.SessionToken.flatMap { $0.isEmpty ? nil : $0 })
        return .init(credentials: credentials, expiration: expiration)
    }

    /// How a run ended.
    private struct Outcome {
        var status: Int32
        /// "exited with status N" or "was killed by signal N".
        var ending: String
        var output: [UInt8]
        var errors: String
    }

    /// Spawns `/bin/sh -c command` as the leader of a new process group, reads its standard
    /// output and error until both close, and reaps it; past the deadline or the output limit,
    /// kills the group.
    private static func execute(_ command: String, name: String, timeout: Duration) throws -> Outcome {
        var outPipe: [Int32] = [-1, -1], errPipe: [Int32] = [-1, -1]
        guard pipe(&outPipe) == 0 else { throw DynamoDBError.invalidConfiguration("cannot run \(name): pipe: \(errnoText())") }
        guard pipe(&errPipe) == 0 else {
            close(outPipe[0]); close(outPipe[1])
            throw DynamoDBError.invalidConfiguration("cannot run \(name): pipe: \(errnoText())")
        }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, outPipe[1], 1)
        posix_spawn_file_actions_adddup2(&actions, errPipe[1], 2)
        // Nothing else of the server's reaches the command (sockets, files being written).
        for fd in openDescriptors() where fd > 2 { posix_spawn_file_actions_addclose(&actions, fd) }
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP))
        posix_spawnattr_setpgroup(&attributes, 0)
        let arguments: [UnsafeMutablePointer<CChar>?] = [strdup("/bin/sh"), strdup("-c"), strdup(command), nil]
        defer { for argument in arguments { free(argument) } }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, "/bin/sh", &actions, &attributes, arguments, environ)
        close(outPipe[1]); close(errPipe[1])
        guard spawned == 0 else {
            close(outPipe[0]); close(errPipe[0])
            throw DynamoDBError.invalidConfiguration("cannot run \(name): \(String(cString: strerror(spawned)))")
        }

        let deadline = ContinuousClock.now + timeout
        var output: [UInt8] = [], errors: [UInt8] = []
        var open = [outPipe[0], errPipe[0]]
        var failure: DynamoDBError?
        var buffer = [UInt8](repeating: 0, count: 4096)
        while !open.isEmpty, failure == nil {
            let left = deadline - ContinuousClock.now
            guard left > .zero else {
                failure = DynamoDBError(.unreachable, "\(name) did not finish within \(timeout)")
                break
            }
            var fds = open.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
            let milliseconds = Int32(min(left.components.seconds * 1000 + left.components.attoseconds / 1_000_000_000_000_000 + 1, 60_000))
            guard poll(&fds, nfds_t(fds.count), milliseconds) >= 0 || errno == EINTR else {
                failure = DynamoDBError(.unreachable, "\(name): poll: \(errnoText())")
                break
            }
            for polled in fds where polled.revents != 0 {
                let count = read(polled.fd, &buffer, buffer.count)
                if count > 0 {
                    if polled.fd == outPipe[0] { output += buffer[..<count] } else { errors = (errors + buffer[..<count]).suffix(4096) }
                } else if count == 0 || (errno != EINTR && errno != EAGAIN) {
                    open.removeAll { $0 == polled.fd }
                }
            }
            if output.count > outputLimit { failure = DynamoDBError.invalidResponse("\(name) printed more than \(outputLimit) bytes") }
        }
        close(outPipe[0]); close(errPipe[0])
        // Its output closed, the shell may still run (a child that closed its pipes): wait for it
        // until the deadline, then kill its group.
        var status: Int32 = 0
        while failure == nil {
            let reaped = waitpid(pid, &status, WNOHANG)
            if reaped == pid { break }
            if reaped < 0, errno != EINTR { failure = DynamoDBError(.unreachable, "\(name): waitpid: \(errnoText())"); break }
            if ContinuousClock.now >= deadline { failure = DynamoDBError(.unreachable, "\(name) did not finish within \(timeout)"); break }
            usleep(2_000)
        }
        if let failure {
            kill(-pid, SIGKILL)
            while waitpid(pid, &status, 0) < 0, errno == EINTR {}
            throw failure
        }
        // WIFEXITED / WEXITSTATUS / WTERMSIG, which Swift does not import.
        let signal = status & 0x7F
        let ending = signal == 0 ? "exited with status \((status >> 8) & 0xFF)" : "was killed by signal \(signal)"
        return Outcome(status: signal == 0 ? (status >> 8) & 0xFF : 128 + signal, ending: ending, output: output,
                       errors: String(decoding: errors, as: UTF8.self))
    }

    private static func errnoText() -> String { String(cString: strerror(errno)) }

    /// This process's open file descriptors (`/proc/self/fd`; glibc's `closefrom` action is not
    /// visible to Swift). One opened after the listing may reach the command.
    private static func openDescriptors() -> [Int32] {
        ((try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []).compactMap { Int32($0) }
    }
}
