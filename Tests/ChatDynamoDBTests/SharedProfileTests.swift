@testable import ChatDynamoDB
import Foundation
import Testing
import TestSupport

/// Which source the AWS shared files (`~/.aws/credentials`, `~/.aws/config`) give, read from a
/// temporary HOME, and the errors for profiles that cannot be used.
@Suite("DynamoDB credentials from shared profiles")
struct SharedProfileTests {
    typealias Source = DynamoDBConfiguration.CredentialSource

    /// A HOME with `.aws/credentials` and `.aws/config` holding `credentials` and `config` (nil: no file).
    private struct Home {
        let directory: TemporaryDirectory
        var environment: [String: String]
        var credentialsPath: String { directory.path + "/.aws/credentials" }
        var configPath: String { directory.path + "/.aws/config" }

        init(credentials: String?, config: String?, environment: [String: String] = [:]) throws {
            directory = try TemporaryDirectory()
            try FileManager.default.createDirectory(atPath: directory.path + "/.aws", withIntermediateDirectories: true)
            if let credentials { try credentials.write(toFile: directory.path + "/.aws/credentials", atomically: true, encoding: .utf8) }
            if let config { try config.write(toFile: directory.path + "/.aws/config", atomically: true, encoding: .utf8) }
            self.environment = environment.merging(["HOME": directory.path]) { old, _ in old }
        }

        func resolve(region: String? = "eu-west-1") throws(DynamoDBError) -> Source? {
            try Source.resolve(environment: environment, region: region)
        }
    }

    private func expectRefused(_ home: Home, _ fragments: String..., sourceLocation: SourceLocation = #_sourceLocation) {
        do {
            let source = try home.resolve()
            Issue.record("resolved to \(String(describing: source))", sourceLocation: sourceLocation)
        } catch {
            #expect(error.code == .invalidConfiguration, sourceLocation: sourceLocation)
            for fragment in fragments {
                #expect(error.message.contains(fragment), "\(error.message)", sourceLocation: sourceLocation)
            }
        }
    }

    @Test("the default profile's keys, with comments, blank lines and another section around them")
    func defaultProfileKeys() throws {
        let home = try Home(credentials: """
            # team keys
            [other]
            aws_access_key_id = OTHER
            aws_secret_access_key = other-secret

            [default]
            ; rotated monthly
            aws_access_key_id=AKIADEFAULT
            aws_secret_access_key = default/secret+key   # kept in the vault
            aws_session_token = session-token
            """, config: "[default]\nregion = eu-west-1\ns3 =\n  max_concurrent_requests = 20\n")
        #expect(try home.resolve() == .fixed(.init(accessKeyID: "AKIADEFAULT", secretAccessKey: "default/secret+key", sessionToken: "session-token")))
        #expect(!"\(try home.resolve()!)".contains("secret"))
    }

    @Test("AWS_PROFILE picks a profile from both files; the credentials file wins where both set a key")
    func namedProfileAcrossFiles() throws {
        let home = try Home(credentials: "[work]\naws_secret_access_key = from-credentials\n", config: """
            [default]
            aws_access_key_id = NOTTHIS
            aws_secret_access_key = not-this
            [profile work]
            aws_access_key_id = AKIAWORK
            aws_secret_access_key = from-config
            [sso-session corp]
            sso_region = eu-west-1
            """, environment: ["AWS_PROFILE": "work"])
        #expect(try home.resolve() == .fixed(.init(accessKeyID: "AKIAWORK", secretAccessKey: "from-credentials")))
    }

    @Test("files named by AWS_SHARED_CREDENTIALS_FILE and AWS_CONFIG_FILE, with ~ for HOME")
    func filesFromTheEnvironment() throws {
        var home = try Home(credentials: nil, config: nil)
        try "[ci]\naws_access_key_id = AKIACI\naws_secret_access_key = ci\n".write(toFile: home.directory.path + "/keys.ini", atomically: true, encoding: .utf8)
        try "[profile ci]\nregion = us-west-2\n".write(toFile: home.directory.path + "/conf.ini", atomically: true, encoding: .utf8)
        home.environment["AWS_SHARED_CREDENTIALS_FILE"] = "~/keys.ini"
        home.environment["AWS_CONFIG_FILE"] = home.directory.path + "/conf.ini"
        home.environment["AWS_DEFAULT_PROFILE"] = "ci"
        #expect(try home.resolve() == .fixed(.init(accessKeyID: "AKIACI", secretAccessKey: "ci")))
    }

    @Test("the environment's keys and web identity come before any profile; a profile before a container or the instance")
    func order() throws {
        let keys = "[default]\naws_access_key_id = AKIAFILE\naws_secret_access_key = file\n"
        let environmentKeys = try Home(credentials: keys, config: nil, environment: ["AWS_ACCESS_KEY_ID": "AKIAENV", "AWS_SECRET_ACCESS_KEY": "env"])
        #expect(try environmentKeys.resolve() == .fixed(.init(accessKeyID: "AKIAENV", secretAccessKey: "env")))
        let webIdentity = try Home(credentials: keys, config: nil, environment: ["AWS_WEB_IDENTITY_TOKEN_FILE": "/t", "AWS_ROLE_ARN": "arn:aws:iam::1:role/w"])
        #expect(try webIdentity.resolve() == .webIdentity(tokenFile: "/t", roleARN: "arn:aws:iam::1:role/w", sessionName: "webchat",
                                                          stsEndpoint: "https://sts.amazonaws.com"))
        let container = try Home(credentials: keys, config: nil, environment: ["AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": "/v2/x"])
        #expect(try container.resolve() == .fixed(.init(accessKeyID: "AKIAFILE", secretAccessKey: "file")))
    }

    @Test("a default profile without credentials, or no files at all, leaves the container and the instance")
    func fallThrough() throws {
        let regionOnly = try Home(credentials: nil, config: "[default]\nregion = eu-west-1\n")
        #expect(try regionOnly.resolve() == .instanceMetadata(endpoint: "http://169.254.169.254"))
        let none = try Home(credentials: nil, config: nil, environment: ["AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": "/v2/x"])
        #expect(try none.resolve() == .container(url: "http://169.254.170.2/v2/x", authorization: nil))
        #expect(try Source.resolve(environment: ["AWS_EC2_METADATA_DISABLED": "true"], region: nil) == nil)
    }

    @Test("a role with a source profile: AssumeRole at the profile's region's STS, signed with that profile's keys; chains of roles")
    func assumeRole() throws {
        let home = try Home(credentials: "[base]\naws_access_key_id = AKIABASE\naws_secret_access_key = base\n", config: """
            [profile admin]
            role_arn = arn:aws:iam::111122223333:role/admin
            source_profile = base
            [profile chat]
            role_arn = arn:aws:iam::444455556666:role/webchat
            source_profile = admin
            role_session_name = chat-node
            external_id = shared-secret-id
            duration_seconds = 3600
            region = ap-southeast-2
            """, environment: ["AWS_PROFILE": "chat"])
        // The chain's roles are assumed in the region of the profile it starts from.
        let admin = Source.assumeRole(.init(roleARN: "arn:aws:iam::111122223333:role/admin", stsEndpoint: "https://sts.ap-southeast-2.amazonaws.com",
                                            stsRegion: "ap-southeast-2", source: .fixed(.init(accessKeyID: "AKIABASE", secretAccessKey: "base"))))
        let expected = Source.assumeRole(.init(roleARN: "arn:aws:iam::444455556666:role/webchat", sessionName: "chat-node", externalID: "shared-secret-id",
                                               durationSeconds: 3600, stsEndpoint: "https://sts.ap-southeast-2.amazonaws.com",
                                               stsRegion: "ap-southeast-2", source: admin))
        #expect(try home.resolve() == expected)
        #expect("\(expected)" == "the role arn:aws:iam::444455556666:role/webchat, assumed at https://sts.ap-southeast-2.amazonaws.com with "
            + "the role arn:aws:iam::111122223333:role/admin, assumed at https://sts.ap-southeast-2.amazonaws.com with fixed keys AKIABASE")
        // AWS_REGION comes before the profile's region; a profile with none takes the store's.
        var regional = home
        regional.environment["AWS_REGION"] = "ca-central-1"
        guard case .assumeRole(let role)? = try regional.resolve() else { Issue.record("not a role"); return }
        #expect(role.stsRegion == "ca-central-1" && role.stsEndpoint == "https://sts.ca-central-1.amazonaws.com")
        var admins = home
        admins.environment["AWS_PROFILE"] = "admin"
        guard case .assumeRole(let adminRole)? = try admins.resolve(region: "sa-east-1") else { Issue.record("not a role"); return }
        #expect(adminRole.stsRegion == "sa-east-1")
    }

    @Test("a named profile whose role is signed with the environment's keys comes before those keys")
    func environmentSourceFirst() throws {
        let home = try Home(credentials: nil, config: "[profile chat]\nrole_arn = arn:aws:iam::1:role/chat\ncredential_source = Environment\n",
                            environment: ["AWS_PROFILE": "chat", "AWS_ACCESS_KEY_ID": "AKIAENV", "AWS_SECRET_ACCESS_KEY": "env"])
        #expect(try home.resolve() == .assumeRole(.init(roleARN: "arn:aws:iam::1:role/chat", stsEndpoint: "https://sts.eu-west-1.amazonaws.com",
                                                        stsRegion: "eu-west-1", source: .fixed(.init(accessKeyID: "AKIAENV", secretAccessKey: "env")))))
        // Without AWS_PROFILE naming it, the environment's keys are taken as they are.
        var unnamed = home
        unnamed.environment["AWS_PROFILE"] = nil
        #expect(try unnamed.resolve() == .fixed(.init(accessKeyID: "AKIAENV", secretAccessKey: "env")))
    }

    @Test("comments after a section header; indented settings; sub-settings under a setting without a value")
    func layout() throws {
        let home = try Home(credentials: """
            [default]   # the CI account
              aws_access_key_id = AKIAINDENTED
              aws_secret_access_key = indented
            """, config: """
            [default] ; shared
            s3 =
              max_concurrent_requests = 20
              aws_access_key_id = NOT-A-KEY
            region = eu-west-1
            """)
        #expect(try home.resolve() == .fixed(.init(accessKeyID: "AKIAINDENTED", secretAccessKey: "indented")))
        let files = try SharedProfiles.load(environment: home.environment)
        #expect(files.profiles["default"]?["region"] == "eu-west-1" && files.profiles["default"]?["max_concurrent_requests"] == nil)
    }

    @Test("a role signed by its own keys, by the container's or the instance's role; AWS_ENDPOINT_URL_STS; a web identity profile")
    func roleSources() throws {
        let config = """
            [profile self]
            role_arn = arn:aws:iam::1:role/a
            source_profile = self
            aws_access_key_id = AKIASELF
            aws_secret_access_key = self
            [profile ecs]
            role_arn = arn:aws:iam::1:role/b
            credential_source = EcsContainer
            [profile ec2]
            role_arn = arn:aws:iam::1:role/c
            credential_source = Ec2InstanceMetadata
            [profile eks]
            role_arn = arn:aws:iam::1:role/d
            web_identity_token_file = /var/run/token
            """
        func resolve(_ profile: String, _ extra: [String: String] = [:]) throws -> Source? {
            try Home(credentials: nil, config: config, environment: extra.merging(["AWS_PROFILE": profile]) { $1 }).resolve(region: "us-east-2")
        }
        let sts = "https://sts.us-east-2.amazonaws.com"
        #expect(try resolve("self") == .assumeRole(.init(roleARN: "arn:aws:iam::1:role/a", stsEndpoint: sts, stsRegion: "us-east-2",
                                                         source: .fixed(.init(accessKeyID: "AKIASELF", secretAccessKey: "self")))))
        #expect(try resolve("ecs", ["AWS_CONTAINER_CREDENTIALS_FULL_URI": "http://127.0.0.1:9/c", "AWS_ENDPOINT_URL_STS": "http://127.0.0.1:5000/"])
            == .assumeRole(.init(roleARN: "arn:aws:iam::1:role/b", stsEndpoint: "http://127.0.0.1:5000", stsRegion: "us-east-2",
                                 source: .container(url: "http://127.0.0.1:9/c", authorization: nil))))
        #expect(try resolve("ec2") == .assumeRole(.init(roleARN: "arn:aws:iam::1:role/c", stsEndpoint: sts, stsRegion: "us-east-2",
                                                        source: .instanceMetadata(endpoint: "http://169.254.169.254"))))
        #expect(try resolve("eks") == .webIdentity(tokenFile: "/var/run/token", roleARN: "arn:aws:iam::1:role/d", sessionName: "webchat", stsEndpoint: sts))
        // Environment keys would have been taken before any profile; the profile's own reading of them:
        let envHome = try Home(credentials: nil, config: "[profile env]\nrole_arn = r\ncredential_source = Environment\n")
        let files = try SharedProfiles.load(environment: ["AWS_CONFIG_FILE": envHome.configPath])
        #expect(try files.credentialSource(profile: "env", environment: ["AWS_ACCESS_KEY_ID": "AKIAENV", "AWS_SECRET_ACCESS_KEY": "e"], region: nil)
            == .assumeRole(.init(roleARN: "r", stsEndpoint: "https://sts.amazonaws.com", stsRegion: "us-east-1",
                                 source: .fixed(.init(accessKeyID: "AKIAENV", secretAccessKey: "e")))))
    }

    @Test("credential_process comes after a role and before keys")
    func credentialProcess() throws {
        let home = try Home(credentials: "[default]\naws_access_key_id = AKIAUNUSED\naws_secret_access_key = unused\n",
                            config: "[default]\ncredential_process = /opt/vault/aws-creds --role chat --token s3cr3t\n")
        let source = try home.resolve()
        #expect(source == .process(command: "/opt/vault/aws-creds --role chat --token s3cr3t"))
        #expect("\(source!)" == "the credential_process /opt/vault/aws-creds")
    }

    @Test("profiles that cannot be used are refused, naming the profile, the files and why")
    func refusals() throws {
        expectRefused(try Home(credentials: "[default]\naws_access_key_id = A\naws_secret_access_key = s\n", config: nil,
                               environment: ["AWS_PROFILE": "prod"]), "AWS_PROFILE names the profile 'prod', which no shared file defines", ".aws/credentials")
        expectRefused(try Home(credentials: nil, config: "[profile prod]\nregion = eu-west-1\n", environment: ["AWS_PROFILE": "prod"]),
                      "'prod', which says nothing about credentials")
        expectRefused(try Home(credentials: "[default]\naws_access_key_id = AKIAHALF\n", config: nil), "aws_access_key_id and aws_secret_access_key go together")
        expectRefused(try Home(credentials: nil, config: "[default]\nrole_arn = arn:aws:iam::1:role/x\n"), "role_arn needs source_profile")
        expectRefused(try Home(credentials: nil, config: "[default]\nrole_arn = r\nsource_profile = missing\n"), "source_profile 'missing' is not defined")
        expectRefused(try Home(credentials: nil, config: "[default]\nrole_arn = r\nsource_profile = a\n[profile a]\nrole_arn = r\nsource_profile = default\n"),
                      "comes back to it: default → a → default")
        expectRefused(try Home(credentials: nil, config: "[default]\nrole_arn = r\ncredential_source = Vault\n"), "credential_source must be")
        expectRefused(try Home(credentials: nil, config: "[default]\nrole_arn = r\ncredential_source = EcsContainer\n"), "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI")
        expectRefused(try Home(credentials: "[default]\naws_access_key_id = A\naws_secret_access_key = s\n",
                               config: "[default]\nrole_arn = r\nsource_profile = default\nduration_seconds = 60\n"), "duration_seconds must be")
        expectRefused(try Home(credentials: nil, config: "[default]\nsso_session = corp\nsso_account_id = 1\nsso_role_name = chat\n"),
                      "SSO profiles are not read", "aws configure export-credentials --profile default --format process")
    }

    @Test("a line that is not a setting, a section or a comment names the file and line")
    func malformedFiles() throws {
        let home = try Home(credentials: "[default]\naws_access_key_id = A\nthis is not a setting\n", config: nil)
        expectRefused(home, home.credentialsPath + ":3: expected 'name = value'")
        expectRefused(try Home(credentials: "aws_access_key_id = A\n", config: nil), ":1: a setting before any [section]")
        expectRefused(try Home(credentials: nil, config: "[default\n"), ":1: a section header must end with ']'")
    }

    @Test("the store URL's region is STS's when the profile names none, and parse reads the files")
    func parseReadsProfiles() throws {
        let home = try Home(credentials: "[default]\naws_access_key_id = AKIABASE\naws_secret_access_key = b\n",
                            config: "[profile chat]\nrole_arn = arn:aws:iam::1:role/chat\nsource_profile = default\n", environment: ["AWS_PROFILE": "chat"])
        let configuration = try DynamoDBConfiguration.parse("dynamodb://eu-central-1", environment: home.environment)
        #expect(configuration.credentials == .assumeRole(.init(
            roleARN: "arn:aws:iam::1:role/chat", stsEndpoint: "https://sts.eu-central-1.amazonaws.com", stsRegion: "eu-central-1",
            source: .fixed(.init(accessKeyID: "AKIABASE", secretAccessKey: "b")))))
    }
}
