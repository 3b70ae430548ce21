import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import Synchronization

/// The keys requests are signed with, from a ``DynamoDBConfiguration/CredentialSource``: fixed
/// ones as they are; temporary ones fetched on first use and again once less than
/// ``refreshMargin`` of their life is left, one fetch at a time. While keys are still valid a
/// refresh runs in the background and requests go on with them; a failed refresh is retried on
/// the next request, and only requests without valid keys fail.
final class CredentialsProvider: Sendable {
    typealias Source = DynamoDBConfiguration.CredentialSource
    typealias Credentials = DynamoDBConfiguration.Credentials

    let source: Source
    private let http: HTTPClient?
    private let logger: Logger
    private let state = Mutex(State())
    private let isShutDown = Atomic<Bool>(false)

    private struct State {
        var current: Temporary?
        var refreshing: Task<Temporary, any Error>?
    }

    /// Keys and when they expire.
    struct Temporary: Sendable {
        let credentials: Credentials
        let expiration: Date
    }

    /// Temporary keys are fetched again once they have less than this left (AWS hands out new
    /// ones at least 5 minutes before the old ones expire).
    static let refreshMargin: TimeInterval = 300
    /// How long one request to a credentials endpoint may take.
    static let requestTimeout = TimeAmount.seconds(5)

    init(source: Source, logger: Logger) {
        self.source = source
        self.logger = logger
        if case .fixed = source {
            http = nil
        } else {
            var configuration = HTTPClient.Configuration()
            // Link-local endpoints answer at once or not at all (not on EC2, not in a task).
            configuration.timeout = .init(connect: .seconds(1), read: Self.requestTimeout)
            configuration.connectionPool.retryConnectionEstablishment = false
            http = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
        }
    }

    func shutdown() async throws {
        guard !isShutDown.exchange(true, ordering: .relaxed) else { return }
        try await http?.shutdown()
    }

    deinit {
        if !isShutDown.load(ordering: .relaxed) { http?.shutdown { _ in } }
    }

    /// The keys to sign the next request with; throws an `unreachable` ``DynamoDBError`` naming
    /// the source when there are no valid ones.
    func credentials() async throws -> Credentials {
        if case .fixed(let credentials) = source { return credentials }
        let now = Date()
        let (valid, refresh) = state.withLock { state -> (Credentials?, Task<Temporary, any Error>?) in
            if let current = state.current, current.expiration.timeIntervalSince(now) > Self.refreshMargin {
                return (current.credentials, nil)
            }
            let refresh = state.refreshing ?? startRefresh(&state)
            // Keys still good for a while serve requests while the refresh runs.
            if let current = state.current, current.expiration.timeIntervalSince(now) > 10 { return (current.credentials, nil) }
            return (nil, refresh)
        }
        if let valid { return valid }
        do {
            return try await refresh!.value.credentials
        } catch let error as DynamoDBError where error.code == .invalidConfiguration {
            throw error
        } catch {
            throw DynamoDBError(.unreachable, "no AWS credentials from \(source): \(error)")
        }
    }

    private func startRefresh(_ state: inout State) -> Task<Temporary, any Error> {
        let task = Task { [self] in
            do {
                let fresh = try await fetch()
                self.state.withLock { $0.current = fresh; $0.refreshing = nil }
                logger.debug("AWS credentials refreshed", metadata: ["source": "\(source)", "expiration": "\(fresh.expiration)"])
                return fresh
            } catch {
                self.state.withLock { $0.refreshing = nil }
                logger.warning("AWS credentials refresh failed", metadata: ["source": "\(source)", "error": "\(error)"])
                throw error
            }
        }
        state.refreshing = task
        return task
    }

    private func fetch() async throws -> Temporary {
        switch source {
        case .fixed(let credentials):
            return Temporary(credentials: credentials, expiration: .distantFuture)
        case .container(let url, let authorization):
            try Self.checkContainerURL(url)
            var headers: [(String, String)] = []
            switch authorization {
            case .token(let token): headers.append(("Authorization", token))
            case .tokenFile(let path):
                headers.append(("Authorization", try Self.read(path, "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE")))
            case nil: break
            }
            return try Self.decode(try await request(.GET, url, headers: headers), from: url)
        case .webIdentity(let tokenFile, let role, let sessionName, let sts):
            let token = try Self.read(tokenFile, "AWS_WEB_IDENTITY_TOKEN_FILE")
            // Form-encoded with RFC 3986's rules, as SigV4 encodes (STS reads either).
            let form = [("Action", "AssumeRoleWithWebIdentity"), ("Version", "2011-06-15"), ("RoleArn", role),
                        ("RoleSessionName", sessionName), ("WebIdentityToken", token)]
                .map { "\($0)=\(SigV4Signer.encode($1))" }.joined(separator: "&")
            let body = try await request(.POST, sts + "/", headers: [("Content-Type", "application/x-www-form-urlencoded")],
                                         body: ByteBuffer(string: form))
            return try Self.decodeAssumedRole(body, from: sts)
        case .instanceMetadata(let endpoint):
            // IMDSv2: a session token first, then the role's name, then its keys.
            let token = try await request(.PUT, endpoint + "/latest/api/token", headers: [("X-aws-ec2-metadata-token-ttl-seconds", "21600")])
            let session = [("X-aws-ec2-metadata-token", String(buffer: token))]
            let rolesURL = endpoint + "/latest/meta-data/iam/security-credentials/"
            let roles = String(buffer: try await request(.GET, rolesURL, headers: session))
            guard let role = roles.split(whereSeparator: \.isNewline).first.map(String.init), !role.isEmpty else {
                throw DynamoDBError.invalidResponse("the instance has no IAM role (\(rolesURL) lists none)")
            }
            let keysURL = rolesURL + role
            return try Self.decode(try await request(.GET, keysURL, headers: session), from: keysURL)
        }
    }

    private func request(_ method: HTTPMethod, _ url: String, headers: [(String, String)], body: ByteBuffer? = nil) async throws -> ByteBuffer {
        guard let http else { throw DynamoDBError.invalidConfiguration("fixed credentials are not fetched") }
        var request = HTTPClientRequest(url: url)
        request.method = method
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        if let body { request.body = .bytes(body) }
        let response = try await http.execute(request, timeout: Self.requestTimeout)
        let body = try await response.body.collect(upTo: 64 << 10)
        guard response.status == .ok else {
            throw DynamoDBError.invalidResponse("\(method) \(url) answered \(response.status.code) \(String(buffer: body).prefix(200))")
        }
        return body
    }

    /// A token file's token (trimmed); `variable` names the setting in the error.
    private static func read(_ path: String, _ variable: String) throws -> String {
        do {
            return try String(contentsOfFile: path, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        } catch {
            throw DynamoDBError.invalidConfiguration("cannot read \(variable) \(path): \(error.localizedDescription)")
        }
    }

    /// The keys in STS's XML answer to `AssumeRoleWithWebIdentity` (its elements hold text only).
    static func decodeAssumedRole(_ body: ByteBuffer, from url: String) throws -> Temporary {
        let xml = String(buffer: body)
        func element(_ name: String) -> String? {
            guard let open = xml.range(of: "<\(name)>"), let close = xml.range(of: "</\(name)>", range: open.upperBound..<xml.endIndex) else {
                return nil
            }
            return unescapeXML(String(xml[open.upperBound..<close.lowerBound])).trimmingCharacters(in: .whitespacesAndNewlines)
        }
        guard let id = element("AccessKeyId"), let secret = element("SecretAccessKey"), let expirationText = element("Expiration") else {
            throw DynamoDBError.invalidResponse("\(url) did not answer with credentials: \(xml.prefix(300))")
        }
        guard let expiration = parseDate(expirationText) else {
            throw DynamoDBError.invalidResponse("\(url) answered an Expiration that is not an ISO 8601 time: \(expirationText)")
        }
        let credentials = Credentials(accessKeyID: id, secretAccessKey: secret, sessionToken: element("SessionToken"))
        return Temporary(credentials: credentials, expiration: expiration)
    }

    private static func unescapeXML(_ text: String) -> String {
        guard text.contains("&") else { return text }
        return text.replacingOccurrences(of: "&lt;", with: "<").replacingOccurrences(of: "&gt;", with: ">")
            .replacingOccurrences(of: "&quot;", with: "\"").replacingOccurrences(of: "&apos;", with: "'")
            .replacingOccurrences(of: "&amp;", with: "&")
    }

    /// The JSON both endpoints answer with.
    private struct Answer: Decodable {
        let AccessKeyId: String
        let SecretAccessKey: String
        let Token: String?
        let Expiration: String
    }

    static func decode(_ body: ByteBuffer, from url: String) throws -> Temporary {
        let answer: Answer
        do {
            answer = try JSONDecoder().decode(Answer.self, from: Data(body.readableBytesView))
        } catch {
            throw DynamoDBError.invalidResponse("\(url) did not answer with credentials: \(error)")
        }
        guard let expiration = parseDate(answer.Expiration) else {
            throw DynamoDBError.invalidResponse("\(url) answered an Expiration that is not an ISO 8601 time: \(answer.Expiration)")
        }
        let credentials = Credentials(accessKeyID: answer.AccessKeyId, secretAccessKey: answer.SecretAccessKey,
                                      sessionToken: answer.Token.flatMap { $0.isEmpty ? nil : $0 })
        return Temporary(credentials: credentials, expiration: expiration)
    }

    static func parseDate(_ text: String) -> Date? {
        let plain = ISO8601DateFormatter()
        if let date = plain.date(from: text) { return date }
        let fractional = ISO8601DateFormatter()
        fractional.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return fractional.date(from: text)
    }

    /// As the AWS SDKs require: the container endpoint's token goes over plain http only to the
    /// loopback interface or to ECS's and EKS's link-local agents.
    static func checkContainerURL(_ url: String) throws {
        guard let components = URLComponents(string: url), let scheme = components.scheme?.lowercased(), let host = components.host else {
            throw DynamoDBError.invalidConfiguration("the container credentials URL is not a URL: \(url)")
        }
        if scheme == "https" { return }
        let allowed = host == "localhost" || host.hasPrefix("127.") || host == "::1" || host == "[::1]"
            || host == "169.254.170.2" || host == "169.254.170.23" || host.lowercased().trimmingCharacters(in: ["[", "]"]) == "fd00:ec2::23"
        guard scheme == "http", allowed else {
            throw DynamoDBError.invalidConfiguration(
                "the container credentials URL must be https, or http to a loopback address or 169.254.170.2/.23: \(url)")
        }
    }
}
