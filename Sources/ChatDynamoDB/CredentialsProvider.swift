import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import Synchronization

/// The keys requests are signed with, from a ``DynamoDBConfiguration/CredentialSource``: fixed
/// ones as they are; temporary ones fetched on first use and again once less than
/// ``refreshMargin`` of their life is left, one fetch at a time. While keys are still valid a
/// refresh runs in the background and requests go on with them. Refreshes are spaced: at most
/// one a minute after a success (keys handed out with less than the margin left would
/// otherwise be fetched again by every request), and after failures with a doubling wait up
/// to 30 s; only a request without usable keys fetches at once.
final class CredentialsProvider: Sendable {
    typealias Source = DynamoDBConfiguration.CredentialSource
    typealias Credentials = DynamoDBConfiguration.Credentials

    let source: Source
    /// The store's own HTTP client: its owner shuts it down.
    private let http: HTTPClient
    private let logger: Logger
    private let state = Mutex(State())

    private struct State {
        var current: Temporary?
        var refreshing: Task<Temporary, any Error>?
        /// No refresh before this while there are usable keys.
        var nextAttempt = Date.distantPast
        /// Refreshes failed in a row.
        var failures = 0
    }

    /// Keys and when they expire.
    struct Temporary: Sendable {
        let credentials: Credentials
        let expiration: Date
    }

    /// Temporary keys are fetched again once they have less than this left (AWS hands out new
    /// ones at least 5 minutes before the old ones expire).
    static let refreshMargin: TimeInterval = 300
    /// Keys with less life than this are not used (a request signed with them may arrive late).
    static let minimumLife: TimeInterval = 10
    /// How long one request to STS may take, connecting included.
    static let requestTimeout = TimeAmount.seconds(5)
    /// The same for the link-local endpoints (instance metadata, container credentials), which
    /// answer at once or not at all (not on EC2, not in a task), as the AWS SDKs time them.
    static let linkLocalTimeout = TimeAmount.seconds(1)

    /// The least time between two successful fetches.
    let refreshSpacing: TimeInterval

    /// Hears of every fetch (metrics).
    private let observer: DynamoDBStoreObserver
    /// For an assumed role: the keys its `AssumeRole` requests are signed with.
    private let roleSource: CredentialsProvider?

    /// Fetches with `http` (the store's client; the shared one by default); `refreshSpacing`: a
    /// minute, shorter in tests.
    init(source: Source, http: HTTPClient = .shared, logger: Logger, observer: DynamoDBStoreObserver = .none,
         refreshSpacing: TimeInterval = 60) {
        self.source = source
        self.http = http
        self.logger = logger
        self.observer = observer
        self.refreshSpacing = refreshSpacing
        if case .assumeRole(let role) = source {
            roleSource = CredentialsProvider(source: role.source, http: http, logger: logger, refreshSpacing: refreshSpacing)
        } else {
            roleSource = nil
        }
    }

    /// The keys to sign the next request with. Without usable ones, throws a ``DynamoDBError``
    /// naming the source: `unreachable` when its endpoint did not answer or answered 429 or 5xx
    /// (the client retries), else what the answer was (`service` for a refusal, not retried).
    func credentials() async throws -> Credentials {
        if case .fixed(let credentials) = source { return credentials }
        let now = Date()
        let (usable, refresh) = state.withLock { state -> (Credentials?, Task<Temporary, any Error>?) in
            let usable = state.current.flatMap { $0.expiration.timeIntervalSince(now) > Self.minimumLife ? $0.credentials : nil }
            let due = state.current.map { $0.expiration.timeIntervalSince(now) <= Self.refreshMargin } ?? true
            if due, state.refreshing == nil, usable == nil || now >= state.nextAttempt {
                startRefresh(&state)
            }
            return (usable, usable == nil ? state.refreshing : nil)
        }
        if let usable { return usable }
        do {
            return try await refresh!.value.credentials
        } catch let error as DynamoDBError {
            throw DynamoDBError(error.code, "no AWS credentials from \(source): \(error.message)\(hint(error.code))")
        } catch {
            throw DynamoDBError(.unreachable, "no AWS credentials from \(source): \(error)\(hint(.unreachable))")
        }
    }

    /// The instance metadata service is where the chain ends when nothing else is set: off EC2
    /// its silence, or a refusal from whatever answers at its address (a proxy, a container's
    /// hop limit, an instance without a role), usually means that no source was set.
    private func hint(_ code: DynamoDBError.Code) -> String {
        guard case .instanceMetadata = source else { return "" }
        return " (not on EC2, or no role for this instance? set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE "
            + "for a profile in ~/.aws; docs/OPERATIONS.md, \"DynamoDB credentials\", lists every source)"
    }

    private func startRefresh(_ state: inout State) {
        state.refreshing = Task { [self] in
            do {
                let fresh = try await fetch()
                let failed = self.state.withLock { state -> Int in
                    defer { state.failures = 0 }
                    state.current = fresh
                    state.refreshing = nil
                    state.nextAttempt = max(fresh.expiration.addingTimeInterval(-Self.refreshMargin), Date().addingTimeInterval(refreshSpacing))
                    return state.failures
                }
                observer.credentialsFetched(fresh.expiration)
                logger.log(level: failed > 0 ? .info : .debug, "AWS credentials refreshed",
                           metadata: ["source": "\(source)", "expiration": "\(fresh.expiration)", "failed attempts before": "\(failed)"])
                return fresh
            } catch {
                let failures = self.state.withLock { state -> Int in
                    state.refreshing = nil
                    state.failures += 1
                    state.nextAttempt = Date().addingTimeInterval(min(30, Double(1 << min(state.failures - 1, 5))))
                    return state.failures
                }
                observer.credentialsFetched(nil)
                // One warning per streak of failures; the keys in hand (if any) go on meanwhile.
                logger.log(level: failures == 1 ? .warning : .debug, "AWS credentials refresh failed",
                           metadata: ["source": "\(source)", "error": "\(error)", "failures": "\(failures)"])
                throw error
            }
        }
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
            return try Self.decode(try await request(.GET, url, headers: headers, timeout: Self.linkLocalTimeout), from: url)
        case .webIdentity(let tokenFile, let role, let sessionName, let sts):
            let token = try Self.read(tokenFile, "AWS_WEB_IDENTITY_TOKEN_FILE")
            let form = Self.formEncoded([("Action", "AssumeRoleWithWebIdentity"), ("Version", "2011-06-15"), ("RoleArn", role),
                                         ("RoleSessionName", sessionName), ("WebIdentityToken", token)])
            let body = try await request(.POST, sts + "/", headers: [("Content-Type", "application/x-www-form-urlencoded")],
                                         body: ByteBuffer(string: form), timeout: Self.requestTimeout)
            return try Self.decodeAssumedRole(body, from: sts)
        case .assumeRole(let role):
            return try await assume(role)
        case .process(let command):
            return try await CredentialProcess.run(command)
        case .instanceMetadata(let endpoint):
            // IMDSv2: a session token first, then the role's name, then its keys.
            let token = try await request(.PUT, endpoint + "/latest/api/token", headers: [("X-aws-ec2-metadata-token-ttl-seconds", "21600")],
                                          timeout: Self.linkLocalTimeout)
            let session = [("X-aws-ec2-metadata-token", String(buffer: token))]
            let rolesURL = endpoint + "/latest/meta-data/iam/security-credentials/"
            let roles = String(buffer: try await request(.GET, rolesURL, headers: session, timeout: Self.linkLocalTimeout))
            guard let role = roles.split(whereSeparator: \.isNewline).first.map(String.init), !role.isEmpty else {
                throw DynamoDBError.invalidResponse("the instance has no IAM role (\(rolesURL) lists none)")
            }
            let keysURL = rolesURL + role
            return try Self.decode(try await request(.GET, keysURL, headers: session, timeout: Self.linkLocalTimeout), from: keysURL)
        }
    }

    /// STS's `AssumeRole`, signed (SigV4) with the keys of the role's source.
    private func assume(_ role: Source.AssumedRole) async throws -> Temporary {
        let keys: Credentials
        do {
            keys = try await roleSource!.credentials()
        } catch let error as DynamoDBError {
            // Already "no AWS credentials from <the source>: …".
            throw DynamoDBError(error.code, "to sign AssumeRole, \(error.message)")
        }
        guard let components = URLComponents(string: role.stsEndpoint), let host = components.host else {
            throw DynamoDBError.invalidConfiguration("the STS endpoint is not a URL: \(role.stsEndpoint)")
        }
        var parameters = [("Action", "AssumeRole"), ("Version", "2011-06-15"), ("RoleArn", role.roleARN), ("RoleSessionName", role.sessionName)]
        if let externalID = role.externalID { parameters.append(("ExternalId", externalID)) }
        if let duration = role.durationSeconds { parameters.append(("DurationSeconds", String(duration))) }
        let form = Array(Self.formEncoded(parameters).utf8)
        let signed = [("host", components.port.map { "\(host):\($0)" } ?? host), ("content-type", "application/x-www-form-urlencoded")]
        let signer = SigV4Signer(credentials: keys, region: role.stsRegion, service: "sts")
        let headers = signed + signer.sign(method: "POST", path: "/", headers: signed, body: form, date: Date())
        let body = try await request(.POST, role.stsEndpoint + "/", headers: headers, body: ByteBuffer(bytes: form), timeout: Self.requestTimeout)
        return try Self.decodeAssumedRole(body, from: role.stsEndpoint)
    }

    /// A form body, encoded with RFC 3986's rules as SigV4 encodes (STS reads either).
    private static func formEncoded(_ parameters: [(String, String)]) -> String {
        parameters.map { "\($0)=\(SigV4Signer.encode($1))" }.joined(separator: "&")
    }

    /// `timeout` covers the whole request, connecting included.
    private func request(_ method: HTTPMethod, _ url: String, headers: [(String, String)], body: ByteBuffer? = nil,
                         timeout: TimeAmount) async throws -> ByteBuffer {
        var request = HTTPClientRequest(url: url)
        request.method = method
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        if let body { request.body = .bytes(body) }
        let response = try await http.execute(request, timeout: timeout)
        let body = try await response.body.collect(upTo: 64 << 10)
        guard response.status == .ok else {
            // Throttled or failing: worth another try; anything else is a refusal.
            let code = response.status.code == 429 || response.status.code >= 500 ? DynamoDBError.Code.unreachable : .service
            throw DynamoDBError(code, "\(method) \(url) answered \(response.status.code) \(String(buffer: body).prefix(200))")
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
        var found: [String: String] = [:]
        for name in ["AccessKeyId", "SecretAccessKey", "Expiration"] {
            // The answer holds secrets: a missing element is named, the answer is not repeated.
            guard let value = element(name) else { throw DynamoDBError.invalidResponse("\(url) answered without \(name)") }
            found[name] = value
        }
        let (id, secret, expirationText) = (found["AccessKeyId"]!, found["SecretAccessKey"]!, found["Expiration"]!)
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

    /// As the AWS SDKs require: the container endpoint's token goes over plain http only to a
    /// loopback address or to ECS's and EKS's link-local agents, each written as an IP address.
    static func checkContainerURL(_ url: String) throws {
        guard let components = URLComponents(string: url), let scheme = components.scheme?.lowercased(), let host = components.host else {
            throw DynamoDBError.invalidConfiguration("the container credentials URL is not a URL: \(url)")
        }
        if scheme == "https" { return }
        let literal = host.trimmingCharacters(in: ["[", "]"])
        let allowed: Bool = switch try? SocketAddress(ipAddress: literal, port: 0) {
        case .v4(let address)?:
            // 127.0.0.0/8, 169.254.170.2 and .23 (network byte order in sin_addr).
            { let ip = UInt32(bigEndian: address.address.sin_addr.s_addr); return ip >> 24 == 127 || ip == 0xA9FE_AA02 || ip == 0xA9FE_AA17 }()
        case .v6?:
            ["::1", "fd00:ec2::23"].contains { (try? SocketAddress(ipAddress: $0, port: 0)) == (try? SocketAddress(ipAddress: literal, port: 0)) }
        default:
            false
        }
        guard scheme == "http", allowed else {
            throw DynamoDBError.invalidConfiguration(
                "the container credentials URL must be https, or http to a loopback address or 169.254.170.2/.23: \(url)")
        }
    }
}
