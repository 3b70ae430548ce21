import Foundation

extension DynamoDBConfiguration {
    /// Where the store's AWS credentials come from, in the order the AWS SDKs look for them
    /// (``init(environment:)``). Shared config files (`~/.aws`) are not read.
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
                let region = value("AWS_REGION") ?? value("AWS_DEFAULT_REGION")
                // China's regions have a domain of their own.
                let sts = value("AWS_ENDPOINT_URL_STS")
                    ?? region.map { "https://sts.\($0).amazonaws.com\($0.hasPrefix("cn-") ? ".cn" : "")" } ?? "https://sts.amazonaws.com"
                self = .webIdentity(tokenFile: tokenFile, roleARN: role, sessionName: value("AWS_ROLE_SESSION_NAME") ?? "webchat",
                                    stsEndpoint: sts.hasSuffix("/") ? String(sts.dropLast()) : sts)
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
            guard value("AWS_EC2_METADATA_DISABLED")?.lowercased() != "true" else { return nil }
            let endpoint = value("AWS_EC2_METADATA_SERVICE_ENDPOINT") ?? Self.instanceMetadataEndpoint
            self = .instanceMetadata(endpoint: endpoint.hasSuffix("/") ? String(endpoint.dropLast()) : endpoint)
        }

        /// Which source, never a secret.
        public var description: String {
            switch self {
            case .fixed(let credentials): "fixed keys \(credentials.accessKeyID)"
            case .webIdentity(_, let role, _, let sts): "the role \(role), assumed with a web identity at \(sts)"
            case .container(let url, _): "container credentials from \(url)"
            case .instanceMetadata(let endpoint): "the instance role, from instance metadata at \(endpoint)"
            }
        }
    }
}
