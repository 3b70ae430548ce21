import Dispatch
import Foundation
import Synchronization

/// A profile's `credential_process`: a command (run by `/bin/sh -c`, as the AWS CLI does on
/// Unix) that prints keys as JSON on its standard output:
/// `{"Version": 1, "AccessKeyId", "SecretAccessKey", "SessionToken"?, "Expiration"?}`. Keys
/// without an `Expiration` never expire; others are fetched again before they do.
enum CredentialProcess {
    /// How long the command may run (`aws sso` and vault helpers answer in seconds).
    static let timeoutSeconds = 60
    /// The most output read (an answer is a few hundred bytes).
    static let outputLimit = 64 << 10

    /// Runs `command` and reads its answer; an error names the command's first word only (the
    /// rest may hold secrets), its exit status and the end of its standard error.
    static func run(_ command: String) async throws -> CredentialsProvider.Temporary {
        let name = "credential_process \(executable(of: command))"
        let (status, output, errors) = try await execute(command, name: name)
        guard status == 0 else {
            let detail = errors.trimmingCharacters(in: .whitespacesAndNewlines).suffix(300)
            throw DynamoDBError.invalidConfiguration("\(name) exited with status \(status)\(detail.isEmpty ? "" : ": \(detail)")")
        }
        return try decode(output, from: name)
    }

    /// The command's first word, for messages.
    static func executable(of command: String) -> String {
        command.split(whereSeparator: \.isWhitespace).first.map(String.init) ?? command
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

    /// Runs `command` off the caller's executor (a process is waited for by blocking a thread);
    /// its exit status, standard output and standard error.
    private static func execute(_ command: String, name: String) async throws -> (Int32, Data, String) {
        try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global().async {
                let process = Process()
                process.executableURL = URL(fileURLWithPath: "/bin/sh")
                process.arguments = ["-c", command]
                let output = Pipe(), errors = Pipe()
                process.standardOutput = output
                process.standardError = errors
                process.standardInput = FileHandle.nullDevice
                do {
                    try process.run()
                } catch {
                    continuation.resume(throwing: DynamoDBError.invalidConfiguration("cannot run \(name): \(error.localizedDescription)"))
                    return
                }
                let timedOut = Atomic(false)
                let deadline = DispatchWorkItem {
                    timedOut.store(true, ordering: .relaxed)
                    process.terminate()
                }
                DispatchQueue.global().asyncAfter(deadline: .now() + .seconds(timeoutSeconds), execute: deadline)
                // Both pipes are drained at once: a command filling one while the other is read would hang.
                let errorText = Mutex(Data())
                let drained = DispatchGroup()
                DispatchQueue.global().async(group: drained) {
                    let data = errors.fileHandleForReading.readDataToEndOfFile()
                    errorText.withLock { $0 = data.suffix(4096) }
                }
                let data = output.fileHandleForReading.readDataToEndOfFile()
                drained.wait()
                process.waitUntilExit()
                deadline.cancel()
                if timedOut.load(ordering: .relaxed) {
                    continuation.resume(throwing: DynamoDBError(.unreachable, "\(name) did not finish within \(timeoutSeconds) s"))
                    return
                }
                guard data.count <= outputLimit else {
                    continuation.resume(throwing: DynamoDBError.invalidResponse("\(name) printed more than \(outputLimit) bytes"))
                    return
                }
                let stderr = String(decoding: errorText.withLock { $0 }, as: UTF8.self)
                continuation.resume(returning: (process.terminationStatus, data, stderr))
            }
        }
    }
}
