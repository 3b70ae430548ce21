import Foundation

/// Where and how a ``DynamoDBChatStore`` keeps its tables.
public struct DynamoDBConfiguration: Sendable, Hashable {
    /// An access key, as AWS issues them.
    public struct Credentials: Sendable, Hashable, CustomStringConvertible {
        /// `AWS_ACCESS_KEY_ID`.
        public var accessKeyID: String
        /// `AWS_SECRET_ACCESS_KEY`.
        public var secretAccessKey: String
        /// `AWS_SESSION_TOKEN`, for temporary credentials.
        public var sessionToken: String?

        /// Creates credentials.
        public init(accessKeyID: String, secretAccessKey: String, sessionToken: String? = nil) {
            self.accessKeyID = accessKeyID
            self.secretAccessKey = secretAccessKey
            self.sessionToken = sessionToken
        }

        /// The credentials of the standard AWS environment variables, if set.
        ///
        /// `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and (optional) `AWS_SESSION_TOKEN`;
        /// nil unless both of the first two are set.
        public init?(environment: [String: String]) {
            guard let id = environment["AWS_ACCESS_KEY_ID"], !id.isEmpty,
                  let secret = environment["AWS_SECRET_ACCESS_KEY"], !secret.isEmpty else { return nil }
            let token = environment["AWS_SESSION_TOKEN"].flatMap { $0.isEmpty ? nil : $0 }
            self.init(accessKeyID: id, secretAccessKey: secret, sessionToken: token)
        }

        /// The key id only: the secret and the token are never printed.
        public var description: String { "Credentials(\(accessKeyID), secret hidden)" }
    }

    /// The AWS region, e.g. `eu-west-1` (also the signing region).
    public var region: String
    /// The service's base URL: `https://dynamodb.<region>.amazonaws.com` unless set.
    public var endpoint: String
    /// Prepended to every table's name, so several deployments can share an account.
    public var tablePrefix: String
    /// Where the keys requests are signed with come from.
    public var credentials: CredentialSource
    /// Whether the store creates missing tables (on-demand capacity) when it starts.
    ///
    /// Otherwise it only checks that they exist.
    public var createTables: Bool
    /// How long one attempt of a request may take (10 s).
    public var attemptTimeout: Duration = .seconds(10)
    /// How long the attempts of one request may take together, backoff included (15 s): a
    /// request that keeps failing, or an endpoint that stopped answering, fails by then with
    /// its last error rather than after every attempt's timeout in turn.
    public var requestBudget: Duration = .seconds(15)

    /// Creates a configuration.
    public init(region: String, endpoint: String? = nil, tablePrefix: String = "webchat_", credentials: CredentialSource,
                createTables: Bool = true) {
        self.region = region
        self.endpoint = endpoint ?? "https://dynamodb.\(region).amazonaws.com"
        self.tablePrefix = tablePrefix
        self.credentials = credentials
        self.createTables = createTables
    }

    /// Creates a configuration with fixed keys.
    public init(region: String, endpoint: String? = nil, tablePrefix: String = "webchat_", credentials: Credentials,
                createTables: Bool = true) {
        self.init(region: region, endpoint: endpoint, tablePrefix: tablePrefix, credentials: .fixed(credentials), createTables: createTables)
    }

    /// Parses a `--store` URL: `dynamodb://REGION?endpoint=http://127.0.0.1:8000&prefix=webchat_`.
    ///
    /// Query keys: `endpoint` (an http or https URL), `prefix` (table name prefix: letters,
    /// digits, `_`, `-`, `.`) and `create` (`true`/`false`, creating missing tables). Credentials come from `environment`
    /// (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, optional `AWS_SESSION_TOKEN`), else from a
    /// web identity's role, a shared config profile, a container's or the EC2 instance's role
    /// (``CredentialSource/resolve(environment:region:)``).
    public static func parse(_ url: String, environment: [String: String]) throws(DynamoDBError) -> DynamoDBConfiguration {
        guard let components = URLComponents(string: url), components.scheme?.lowercased() == "dynamodb" else {
            throw .invalidConfiguration("expected dynamodb://REGION?endpoint=…&prefix=…, got '\(url)'")
        }
        guard let region = components.host, !region.isEmpty else { throw .invalidConfiguration("the store URL names no region: dynamodb://REGION") }
        guard region.utf8.allSatisfy({ $0 == UInt8(ascii: "-") || (0x61...0x7A).contains($0) || (0x30...0x39).contains($0) }) else {
            throw .invalidConfiguration("'\(region)' is not a region name (e.g. eu-west-1)")
        }
        guard components.port == nil, components.path.isEmpty || components.path == "/", components.user == nil else {
            throw .invalidConfiguration("the store URL takes only a region and query parameters: dynamodb://REGION?endpoint=…")
        }
        var endpoint: String?
        var prefix = "webchat_"
        var create = true
        for item in components.queryItems ?? [] {
            let value = item.value ?? ""
            switch item.name {
            case "endpoint": endpoint = try parseEndpoint(value)
            case "prefix": prefix = try parsePrefix(value)
            case "create": create = try parseBool(value, key: "create")
            default: throw .invalidConfiguration("unknown store URL parameter '\(item.name)' (known: endpoint, prefix, create)")
            }
        }
        guard let credentials = try CredentialSource.resolve(environment: environment, region: region) else {
            throw .invalidConfiguration(
                "DynamoDB needs credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN for temporary ones), "
                    + "or a web identity (AWS_WEB_IDENTITY_TOKEN_FILE and AWS_ROLE_ARN), or a profile in ~/.aws (AWS_PROFILE), "
                    + "or run with a container role "
                    + "(AWS_CONTAINER_CREDENTIALS_*), or unset AWS_EC2_METADATA_DISABLED on EC2 with an instance role")
        }
        return DynamoDBConfiguration(region: region, endpoint: endpoint, tablePrefix: prefix, credentials: credentials,
                                     createTables: create)
    }

    private static func parseEndpoint(_ value: String) throws(DynamoDBError) -> String {
        guard let url = URLComponents(string: value), let scheme = url.scheme?.lowercased(), scheme == "http" || scheme == "https",
              let host = url.host, !host.isEmpty, url.query == nil, url.path.isEmpty || url.path == "/" else {
            throw .invalidConfiguration("endpoint must be an http or https URL without a path, e.g. http://127.0.0.1:8000; got '\(value)'")
        }
        return value.hasSuffix("/") ? String(value.dropLast()) : value
    }

    private static func parsePrefix(_ value: String) throws(DynamoDBError) -> String {
        let allowed = value.utf8.allSatisfy {
            (0x61...0x7A).contains($0) || (0x41...0x5A).contains($0) || (0x30...0x39).contains($0) || $0 == 0x5F || $0 == 0x2D || $0 == 0x2E
        }
        guard allowed, value.utf8.count <= 200 else {
            throw .invalidConfiguration("prefix may hold up to 200 letters, digits, '_', '-' and '.'; got '\(value)'")
        }
        return value
    }

    private static func parseBool(_ value: String, key: String) throws(DynamoDBError) -> Bool {
        switch value.lowercased() {
        case "true", "1", "yes": return true
        case "false", "0", "no": return false
        default: throw .invalidConfiguration("\(key) must be true or false; got '\(value)'")
        }
    }
}
