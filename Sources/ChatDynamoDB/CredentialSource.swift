import Foundation

extension DynamoDBConfiguration {
    /// Where the store's AWS credentials come from, in the order the AWS SDKs look for them
    /// (``resolve(environment:region:)``).
    public enum CredentialSource: Sendable, Hashable, CustomStringConvertible {
        /// Fixed keys: `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, optional `AWS_SESSION_TOKEN`.
        case fixed(Credentials)
        /// A role assumed with a web identity token (EKS's IAM roles for service accounts): STS's
        /// `AssumeRoleWithWebIdentity` at `stsEndpoint`, with the token in `tokenFile` (read for
        /// every request: it is rotated), again before the keys expire.
        case webIdentity(tokenFile: String, roleARN: String, sessionName: String, stsEndpoint: String)
        /// A container credentials endpoint (an ECS task role, EKS Pod Identity): temporary keys
        /// fetched from `url`, again before they expire.
        case container(url: String, authorization: ContainerAuthorization?)
        /// The EC2 instance's role, from the instance metadata service (IMDSv2) at `endpoint`,
        /// again before the keys expire.
        case instanceMetadata(endpoint: String)
        /// A shared config profile's `credential_process`: keys printed by a command, run again
        /// before they expire (``CredentialProcess``).
        case process(command: String)
        /// A role a shared config profile assumes (`role_arn`) with STS's `AssumeRole`, signed
        /// with the keys of its `source_profile` or `credential_source`; again before they expire.
        indirect case assumeRole(AssumedRole)

        /// What `AssumeRole` needs.
        public struct AssumedRole: Sendable, Hashable {
            /// `role_arn`.
            public var roleARN: String
            /// `role_session_name`, else `webchat`.
            public var sessionName: String
            /// `external_id`, when the role's trust policy asks for one.
            public var externalID: String?
            /// `duration_seconds`, else STS's default (an hour).
            public var durationSeconds: Int?
            /// STS's base URL.
            public var stsEndpoint: String
            /// The region STS requests are signed for.
            public var stsRegion: String
            /// Whose keys sign the request.
            public var source: CredentialSource

            /// Creates the settings of an `AssumeRole` call.
            public init(roleARN: String, sessionName: String = "webchat", externalID: String? = nil, durationSeconds: Int? = nil,
                        stsEndpoint: String, stsRegion: String, source: CredentialSource) {
                self.roleARN = roleARN
                self.sessionName = sessionName
                self.externalID = externalID
                self.durationSeconds = durationSeconds
                self.stsEndpoint = stsEndpoint
                self.stsRegion = stsRegion
                self.source = source
            }
        }

        /// What a container credentials request sends as its `Authorization` header.
        public enum ContainerAuthorization: Sendable, Hashable {
            /// `AWS_CONTAINER_AUTHORIZATION_TOKEN`.
            case token(String)
            /// `AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE`, read for every request (it is rotated).
            case tokenFile(String)
        }

        /// ECS's endpoint for `AWS_CONTAINER_CREDENTIALS_RELATIVE_URI`.
        public static let ecsEndpoint = "http://169.254.170.2"
        /// EC2's instance metadata service.
        public static let instanceMetadataEndpoint = "http://169.254.169.254"

        /// The source the environment names: fixed keys if set, else a web identity
        /// (`AWS_WEB_IDENTITY_TOKEN_FILE` with `AWS_ROLE_ARN`, optional `AWS_ROLE_SESSION_NAME`;
        /// STS at `AWS_ENDPOINT_URL_STS`, else in `AWS_REGION`'s or `AWS_DEFAULT_REGION`'s
        /// regional endpoint, else the global one), else a container endpoint
        /// (`AWS_CONTAINER_CREDENTIALS_RELATIVE_URI` or `_FULL_URI`, with
        /// `AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE` or `_TOKEN`), else the instance metadata
        /// service (at `AWS_EC2_METADATA_SERVICE_ENDPOINT` if set); nil when none is left
        /// (`AWS_EC2_METADATA_DISABLED=true`).
        public init?(environment: [String: String]) {
            if let fixed = Credentials(environment: environment) {
                self = .fixed(fixed)
                return
            }
            func value(_ name: String) -> String? { environment[name].flatMap { $0.isEmpty ? nil : $0 } }
            if let tokenFile = value("AWS_WEB_IDENTITY_TOKEN_FILE"), let role = value("AWS_ROLE_ARN") {
                let sts = Self.sts(environment, region: value("AWS_REGION") ?? value("AWS_DEFAULT_REGION"))
                self = .webIdentity(tokenFile: tokenFile, roleARN: role, sessionName: value("AWS_ROLE_SESSION_NAME") ?? "webchat",
                                    stsEndpoint: sts.endpoint)
                return
            }
            let url = value("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI").map { Self.ecsEndpoint + ($0.hasPrefix("/") ? $0 : "/" + $0) }
                ?? value("AWS_CONTAINER_CREDENTIALS_FULL_URI")
            if let url {
                let authorization = value("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE").map(ContainerAuthorization.tokenFile)
                    ?? value("AWS_CONTAINER_AUTHORIZATION_TOKEN").map(ContainerAuthorization.token)
                self = .container(url: url, authorization: authorization)
                return
            }
            guard let instance = Self.instanceMetadata(environment) else { return nil }
            self = instance
        }

        /// The container endpoint the environment names, if any (for a profile's
        /// `credential_source = EcsContainer`).
        static func container(_ environment: [String: String]) -> CredentialSource? {
            guard let source = CredentialSource(environment: environment.filter { $0.key.hasPrefix("AWS_CONTAINER_") }),
                  case .container = source else { return nil }
            return source
        }

        /// The instance metadata service at `AWS_EC2_METADATA_SERVICE_ENDPOINT` or its usual
        /// address; nil with `AWS_EC2_METADATA_DISABLED=true`.
        static func instanceMetadata(_ environment: [String: String]) -> CredentialSource? {
            guard environment["AWS_EC2_METADATA_DISABLED"]?.lowercased() != "true" else { return nil }
            let endpoint = environment["AWS_EC2_METADATA_SERVICE_ENDPOINT"].flatMap { $0.isEmpty ? nil : $0 } ?? Self.instanceMetadataEndpoint
            return .instanceMetadata(endpoint: endpoint.hasSuffix("/") ? String(endpoint.dropLast()) : endpoint)
        }

        /// STS's URL (`AWS_ENDPOINT_URL_STS`, else `region`'s regional endpoint, else the global
        /// one) and the region its requests are signed for.
        static func sts(_ environment: [String: String], region: String?) -> (endpoint: String, region: String) {
            // China's regions have a domain of their own.
            let endpoint = environment["AWS_ENDPOINT_URL_STS"].flatMap { $0.isEmpty ? nil : $0 }
                ?? region.map { "https://sts.\($0).amazonaws.com\($0.hasPrefix("cn-") ? ".cn" : "")" } ?? "https://sts.amazonaws.com"
            return (endpoint.hasSuffix("/") ? String(endpoint.dropLast()) : endpoint, region ?? "us-east-1")
        }

        /// The source for a store in `region`, in the AWS SDKs' order (as the Java SDK's default
        /// chain has it): the environment's fixed keys, then its web identity, then the shared
        /// files' profile (`AWS_PROFILE`, else `default`; ``SharedProfiles``), then a container's
        /// or the instance's role (``init(environment:)``). A profile named by `AWS_PROFILE` must
        /// exist and say where its keys come from; `default` may be missing or hold other settings.
        /// One exception to the order: a named profile whose role is signed with the
        /// environment's keys (`credential_source = Environment`) comes before those keys, which
        /// would otherwise always be taken as they are.
        public static func resolve(environment: [String: String], region: String?) throws(DynamoDBError) -> CredentialSource? {
            let named = SharedProfiles.namedProfile(environment)
            var loaded: SharedProfiles?
            if let named {
                let files = try SharedProfiles.load(environment: environment)
                if let settings = files.profiles[named.name], settings["role_arn"] != nil, settings["credential_source"] == "Environment" {
                    return try files.credentialSource(profile: named.name, environment: environment, region: region)
                }
                loaded = files
            }
            let fromEnvironment = CredentialSource(environment: environment)
            switch fromEnvironment {
            case .fixed?, .webIdentity?: return fromEnvironment
            default: break
            }
            let files: SharedProfiles
            if let loaded { files = loaded } else { files = try SharedProfiles.load(environment: environment) }
            if let source = try files.credentialSource(profile: named?.name ?? "default", environment: environment, region: region) {
                return source
            }
            if let (name, variable) = named {
                let defined = files.profiles[name] != nil
                throw .invalidConfiguration("\(variable) names the profile '\(name)', which "
                    + (defined ? "says nothing about credentials" : "no shared file defines (read: \(files.describeFiles))"))
            }
            return fromEnvironment
        }

        /// Which source, never a secret.
        public var description: String {
            switch self {
            case .fixed(let credentials): "fixed keys \(credentials.accessKeyID)"
            case .webIdentity(_, let role, _, let sts): "the role \(role), assumed with a web identity at \(sts)"
            case .container(let url, _): "container credentials from \(url)"
            case .instanceMetadata(let endpoint): "the instance role, from instance metadata at \(endpoint)"
            case .process(let command): "the credential_process \(CredentialProcess.executable(of: command))"
            case .assumeRole(let role): "the role \(role.roleARN), assumed at \(role.stsEndpoint) with \(role.source)"
            }
        }
    }
}
