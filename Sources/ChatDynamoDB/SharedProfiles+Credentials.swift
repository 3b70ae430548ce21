import Foundation

extension SharedProfiles {
    typealias Source = DynamoDBConfiguration.CredentialSource

    /// Where profile `name`'s keys come from, in the Java AWS SDK's order within a profile: a
    /// role (`role_arn`, with `source_profile`, `web_identity_token_file` or
    /// `credential_source`), then `credential_process`, then fixed keys (`aws_access_key_id`,
    /// `aws_secret_access_key`, optional `aws_session_token`). Nil when the profile is not
    /// defined or says none of these. SSO profiles are refused with what to use instead.
    ///
    /// STS's region is `AWS_REGION`, `AWS_DEFAULT_REGION`, the profile's `region` or `region`
    /// (the store's), the first set; a `source_profile`'s role is assumed in that same region.
    func credentialSource(profile name: String, environment: [String: String], region: String?,
                          via chain: [String] = []) throws(DynamoDBError) -> Source? {
        guard let settings = profiles[name] else { return nil }
        func setting(_ key: String) -> String? { settings[key].flatMap { $0.isEmpty ? nil : $0 } }
        func refuse(_ why: String) -> DynamoDBError { .invalidConfiguration("AWS profile '\(name)' (\(describeFiles)): \(why)") }
        guard !chain.contains(name) else {
            throw refuse("its source_profile chain comes back to it: \((chain + [name]).joined(separator: " → "))")
        }
        let keys: Source?
        switch (setting("aws_access_key_id"), setting("aws_secret_access_key")) {
        case (let id?, let secret?): keys = .fixed(.init(accessKeyID: id, secretAccessKey: secret, sessionToken: setting("aws_session_token")))
        case (nil, nil): keys = nil
        default: throw refuse("aws_access_key_id and aws_secret_access_key go together")
        }
        // Resolved once, by the profile the chain starts from.
        let region = chain.isEmpty
            ? [environment["AWS_REGION"], environment["AWS_DEFAULT_REGION"], setting("region"), region].lazy.compactMap { $0 }.first { !$0.isEmpty }
            : region
        if let role = setting("role_arn") {
            let sts = Source.sts(environment, region: region)
            if let tokenFile = setting("web_identity_token_file") {
                return .webIdentity(tokenFile: tokenFile, roleARN: role, sessionName: setting("role_session_name") ?? "webchat",
                                    stsEndpoint: sts.endpoint)
            }
            let source: Source
            if let sourceProfile = setting("source_profile") {
                if sourceProfile == name {
                    // A profile may sign its own role with its own keys.
                    guard let keys else { throw refuse("it is its own source_profile but holds no keys") }
                    source = keys
                } else {
                    guard profiles[sourceProfile] != nil else { throw refuse("its source_profile '\(sourceProfile)' is not defined") }
                    guard let found = try credentialSource(profile: sourceProfile, environment: environment, region: region, via: chain + [name])
                    else { throw refuse("its source_profile '\(sourceProfile)' says nothing about credentials") }
                    source = found
                }
            } else if let credentialSource = setting("credential_source") {
                source = try Self.credentialSource(credentialSource, environment, refuse)
            } else {
                throw refuse("role_arn needs source_profile, credential_source or web_identity_token_file")
            }
            var duration: Int?
            if let text = setting("duration_seconds") {
                guard let seconds = Int(text), (900...43_200).contains(seconds) else {
                    throw refuse("duration_seconds must be a number of seconds from 900 to 43200, not '\(text)'")
                }
                duration = seconds
            }
            return .assumeRole(.init(roleARN: role, sessionName: setting("role_session_name") ?? "webchat", externalID: setting("external_id"),
                                     durationSeconds: duration, stsEndpoint: sts.endpoint, stsRegion: sts.region, source: source))
        }
        if setting("sso_session") != nil || setting("sso_start_url") != nil {
            throw refuse("SSO profiles are not read; after `aws sso login`, a profile with "
                + "`credential_process = aws configure export-credentials --profile \(name) --format process` serves their keys")
        }
        if let command = setting("credential_process") { return .process(command: command) }
        return keys
    }

    /// A role's `credential_source`: whose keys sign its `AssumeRole`.
    private static func credentialSource(_ value: String, _ environment: [String: String],
                                         _ refuse: (String) -> DynamoDBError) throws(DynamoDBError) -> Source {
        switch value {
        case "Environment":
            guard let keys = DynamoDBConfiguration.Credentials(environment: environment) else {
                throw refuse("credential_source = Environment, but AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set")
            }
            return .fixed(keys)
        case "Ec2InstanceMetadata":
            guard let source = Source.instanceMetadata(environment) else {
                throw refuse("credential_source = Ec2InstanceMetadata, but AWS_EC2_METADATA_DISABLED is true")
            }
            return source
        case "EcsContainer":
            guard let source = Source.container(environment) else {
                throw refuse("credential_source = EcsContainer, but AWS_CONTAINER_CREDENTIALS_RELATIVE_URI or _FULL_URI is not set")
            }
            return source
        default:
            throw refuse("credential_source must be Environment, Ec2InstanceMetadata or EcsContainer, not '\(value)'")
        }
    }
}
