import ChatDynamoDB
import Testing

@Suite struct DynamoDBConfigurationTests {
    static let environment = ["AWS_ACCESS_KEY_ID": "AKID", "AWS_SECRET_ACCESS_KEY": "secret"]

    @Test func defaults() throws {
        let configuration = try DynamoDBConfiguration.parse("dynamodb://eu-west-1", environment: Self.environment)
        #expect(configuration.region == "eu-west-1")
        #expect(configuration.endpoint == "https://dynamodb.eu-west-1.amazonaws.com")
        #expect(configuration.tablePrefix == "webchat_")
        #expect(configuration.createTables)
        #expect(configuration.credentials == .fixed(.init(accessKeyID: "AKID", secretAccessKey: "secret")))
    }

    @Test func everyParameter() throws {
        var environment = Self.environment
        environment["AWS_SECRET_ACCESS_KEY"] = "wJalrXUtnFEMI"
        environment["AWS_SESSION_TOKEN"] = "token"
        let configuration = try DynamoDBConfiguration.parse(
            "dynamodb://us-east-1?endpoint=http://127.0.0.1:8000/&prefix=chat.v2-&create=false", environment: environment)
        #expect(configuration.endpoint == "http://127.0.0.1:8000")
        #expect(configuration.tablePrefix == "chat.v2-")
        #expect(!configuration.createTables)
        #expect(configuration.credentials == .fixed(.init(accessKeyID: "AKID", secretAccessKey: "wJalrXUtnFEMI", sessionToken: "token")))
        // Printed, logged or dumped, the secret and the token never show.
        for text in ["\(configuration)", String(reflecting: configuration), "\(configuration.credentials)"] {
            #expect(!text.contains("wJalrXUtnFEMI") && !text.contains("token"), "\(text)")
        }
    }

    @Test(arguments: [
        ("redis://localhost:6379", "expected dynamodb://"),
        ("dynamodb://", "names no region"),
        ("dynamodb:///?endpoint=http://x", "names no region"),
        ("dynamodb://EU_WEST", "not a region name"),
        ("dynamodb://eu-west-1:443", "only a region"),
        ("dynamodb://eu-west-1/tables", "only a region"),
        ("dynamodb://eu-west-1?endpoint=ftp://host", "http or https"),
        ("dynamodb://eu-west-1?endpoint=localhost:8000", "http or https"),
        ("dynamodb://eu-west-1?endpoint=http://host/path", "without a path"),
        ("dynamodb://eu-west-1?endpoint=", "http or https"),
        ("dynamodb://eu-west-1?prefix=a%20b", "prefix"),
        ("dynamodb://eu-west-1?create=maybe", "create must be true or false"),
        ("dynamodb://eu-west-1?table=x", "unknown store URL parameter 'table'"),
    ])
    func refusesBadURLs(_ url: String, _ hint: String) {
        do {
            _ = try DynamoDBConfiguration.parse(url, environment: Self.environment)
            Issue.record("accepted \(url)")
        } catch {
            #expect(error.code == .invalidConfiguration)
            #expect(error.message.contains(hint), "\(error.message)")
        }
    }

    @Test(arguments: [
        ["AWS_EC2_METADATA_DISABLED": "true"], ["AWS_ACCESS_KEY_ID": "AKID", "AWS_EC2_METADATA_DISABLED": "TRUE"],
        ["AWS_ACCESS_KEY_ID": "AKID", "AWS_SECRET_ACCESS_KEY": "", "AWS_EC2_METADATA_DISABLED": "true"],
    ])
    func needsCredentials(_ environment: [String: String]) {
        #expect(throws: DynamoDBError.self) { try DynamoDBConfiguration.parse("dynamodb://eu-west-1", environment: environment) }
        do {
            _ = try DynamoDBConfiguration.parse("dynamodb://eu-west-1", environment: environment)
        } catch {
            #expect(error.message.contains("AWS_ACCESS_KEY_ID") && error.code == .invalidConfiguration)
        }
    }

    @Test("where credentials come from, in the AWS SDKs' order", arguments: [
        (["AWS_ACCESS_KEY_ID": "AKID", "AWS_SECRET_ACCESS_KEY": "secret", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": "/v2/credentials/x"],
         DynamoDBConfiguration.CredentialSource.fixed(.init(accessKeyID: "AKID", secretAccessKey: "secret"))),
        (["AWS_WEB_IDENTITY_TOKEN_FILE": "/var/run/secrets/eks.amazonaws.com/serviceaccount/token", "AWS_ROLE_ARN": "arn:aws:iam::1:role/chat",
          "AWS_REGION": "eu-west-1", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": "/v2/credentials/x"],
         .webIdentity(tokenFile: "/var/run/secrets/eks.amazonaws.com/serviceaccount/token", roleARN: "arn:aws:iam::1:role/chat",
                      sessionName: "webchat", stsEndpoint: "https://sts.eu-west-1.amazonaws.com")),
        (["AWS_WEB_IDENTITY_TOKEN_FILE": "/t", "AWS_ROLE_ARN": "arn:aws:iam::1:role/chat", "AWS_ROLE_SESSION_NAME": "node-7",
          "AWS_DEFAULT_REGION": "us-east-2", "AWS_ENDPOINT_URL_STS": "http://127.0.0.1:5000/"],
         .webIdentity(tokenFile: "/t", roleARN: "arn:aws:iam::1:role/chat", sessionName: "node-7", stsEndpoint: "http://127.0.0.1:5000")),
        (["AWS_WEB_IDENTITY_TOKEN_FILE": "/t", "AWS_ROLE_ARN": "arn:aws:iam::1:role/chat"],
         .webIdentity(tokenFile: "/t", roleARN: "arn:aws:iam::1:role/chat", sessionName: "webchat", stsEndpoint: "https://sts.amazonaws.com")),
        (["AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": "/v2/credentials/x", "AWS_CONTAINER_CREDENTIALS_FULL_URI": "http://127.0.0.1:9/c"],
         .container(url: "http://169.254.170.2/v2/credentials/x", authorization: nil)),
        (["AWS_CONTAINER_CREDENTIALS_FULL_URI": "http://169.254.170.23/v1/credentials", "AWS_CONTAINER_AUTHORIZATION_TOKEN": "t",
          "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE": "/var/run/secrets/pods.eks.amazonaws.com/serviceaccount/eks-pod-identity-token"],
         .container(url: "http://169.254.170.23/v1/credentials",
                    authorization: .tokenFile("/var/run/secrets/pods.eks.amazonaws.com/serviceaccount/eks-pod-identity-token"))),
        (["AWS_CONTAINER_CREDENTIALS_FULL_URI": "https://creds.internal/x", "AWS_CONTAINER_AUTHORIZATION_TOKEN": "t"],
         .container(url: "https://creds.internal/x", authorization: .token("t"))),
        ([:], .instanceMetadata(endpoint: "http://169.254.169.254")),
        (["AWS_ACCESS_KEY_ID": "AKID", "AWS_EC2_METADATA_SERVICE_ENDPOINT": "http://[fd00:ec2::254]/"], .instanceMetadata(endpoint: "http://[fd00:ec2::254]")),
    ] as [([String: String], DynamoDBConfiguration.CredentialSource)])
    func credentialSources(_ environment: [String: String], _ expected: DynamoDBConfiguration.CredentialSource) throws {
        #expect(DynamoDBConfiguration.CredentialSource(environment: environment) == expected)
        #expect(try DynamoDBConfiguration.parse("dynamodb://eu-west-1", environment: environment).credentials == expected)
        #expect(!"\(expected)".contains("secret"))
    }
}
