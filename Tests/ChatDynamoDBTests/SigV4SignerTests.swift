@testable import ChatDynamoDB
import Foundation
import Testing

/// Cases of AWS's Signature Version 4 test suite (credentials AKIDEXAMPLE, us-east-1, service
/// `service`, 2015-08-30T12:36:00Z), with the suite's published signatures.
@Suite struct SigV4SignerTests {
    static let signer = SigV4Signer(
        credentials: .init(accessKeyID: "AKIDEXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"),
        region: "us-east-1", service: "service")
    static let date = Date(timeIntervalSince1970: 1_440_938_160) // 2015-08-30T12:36:00Z
    static let scope = "AKIDEXAMPLE/20150830/us-east-1/service/aws4_request"

    struct Case: Sendable, CustomTestStringConvertible {
        var name: String
        var method: String
        var query: [(String, String)] = []
        var headers: [(String, String)] = []
        var body = ""
        var signedHeaders: String
        var signature: String
        var testDescription: String { name }
    }

    static let cases: [Case] = [
        Case(name: "get-vanilla", method: "GET", signedHeaders: "host;x-amz-date",
             signature: "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"),
        Case(name: "post-vanilla", method: "POST", signedHeaders: "host;x-amz-date",
             signature: "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b"),
        Case(name: "get-vanilla-query-order-key-case", method: "GET", query: [("Param2", "value2"), ("Param1", "value1")],
             signedHeaders: "host;x-amz-date", signature: "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500"),
        Case(name: "post-vanilla-query", method: "POST", query: [("Param1", "value1")], signedHeaders: "host;x-amz-date",
             signature: "28038455d6de14eafc1f9222cf5aa6f1a96197d7deb8263271d420d138af7f11"),
        Case(name: "post-header-key-sort", method: "POST", headers: [("My-Header1", "value1")], signedHeaders: "host;my-header1;x-amz-date",
             signature: "c5410059b04c1ee005303aed430f6e6645f61f4dc9e1461ec8f8916fdf18852c"),
        Case(name: "post-header-value-case", method: "POST", headers: [("My-Header1", "VALUE1")], signedHeaders: "host;my-header1;x-amz-date",
             signature: "cdbc9802e29d2942e5e10b5bccfdd67c5f22c7c4e8ae67b53629efa58b974b7d"),
        Case(name: "post-x-www-form-urlencoded", method: "POST", headers: [("Content-Type", "application/x-www-form-urlencoded")],
             body: "Param1=value1", signedHeaders: "content-type;host;x-amz-date",
             signature: "ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a"),
    ]

    @Test(arguments: cases)
    func testSuiteCase(_ c: Case) {
        let headers = [("Host", "example.amazonaws.com")] + c.headers
        let added = Self.signer.sign(method: c.method, path: "/", query: c.query, headers: headers, body: Array(c.body.utf8), date: Self.date)
        let authorization = added.first { $0.0 == "authorization" }?.1
        #expect(authorization == "AWS4-HMAC-SHA256 Credential=\(Self.scope), SignedHeaders=\(c.signedHeaders), Signature=\(c.signature)")
        #expect(added.first { $0.0 == "x-amz-date" }?.1 == "20150830T123600Z")
    }

    /// post-vanilla's intermediate results: the canonical request and its hash.
    @Test func canonicalRequestOfPostVanilla() {
        let headers = [("Host", "example.amazonaws.com"), ("X-Amz-Date", "20150830T123600Z")]
        let canonical = Self.signer.canonicalRequest(method: "POST", path: "/", query: [], headers: headers, body: [UInt8]())
        #expect(canonical.request == "POST\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(SigV4Signer.sha256Hex(Array(canonical.request.utf8)) == "553f88c9e4d10fc9e109e2aeb65f030801b70c2f6468faca261d401ae622fc87")
    }

    /// post-sts-header-before: a session token is signed as `x-amz-security-token`.
    @Test func sessionTokenIsSigned() {
        let token = "AQoDYXdzEPT//////////wEXAMPLEtc764bNrC9SAPBSM22wDOk4x4HIZ8j4FZTwdQWLWsKWHGBuFqwAeMicRXmxfpSPfIeoIYRqTflfKD8YUuwthAx7mSEI/qkPpKPi/kMcGdQrmGdeehM4IC1NtBmUpp2wUE8phUZampKsburEDy0KPkyQDYwT7WZ0wq5VSXDvp75YU9HFvlRd8Tx6q6fE8YQcHNVXAkiY9q6d+xo0rKwT38xVqr7ZD0u0iPPkUL64lIZbqBAz+scqKmlzm8FDrypNC9Yjc8fPOLn9FX9KSYvKTr4rvx3iSIlTJabIQwj2ICCR/oLxBA=="
        var credentials = Self.signer.credentials
        credentials.sessionToken = token
        let signer = SigV4Signer(credentials: credentials, region: "us-east-1", service: "service")
        let added = signer.sign(method: "POST", path: "/", headers: [("Host", "example.amazonaws.com")], body: [UInt8](), date: Self.date)
        #expect(added.first { $0.0 == "x-amz-security-token" }?.1 == token)
        #expect(added.first { $0.0 == "authorization" }?.1
                == "AWS4-HMAC-SHA256 Credential=\(Self.scope), SignedHeaders=host;x-amz-date;x-amz-security-token, Signature=85d96828115b5dc0cfc3bd16ad9e210dd772bbebba041836c64533a82be05ead")
    }

    /// The signing key of the IAM example in the SigV4 documentation (20150830, us-east-1, iam).
    @Test func signingKeyOfTheIAMExample() {
        let signer = SigV4Signer(credentials: Self.signer.credentials, region: "us-east-1", service: "iam")
        let key = signer.signingKey(day: "20150830").withUnsafeBytes { Array($0) }
        #expect(SigV4Signer.hex(key) == "c4afb1cc5771d871763a393e44b703571b55cc28424d1a5e86da6ed3c154a4b9")
    }

    /// The timestamps without a `Calendar`, against Foundation's Gregorian UTC calendar.
    @Test func timestampsAgreeWithTheGregorianCalendar() {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        var dates = [0, 1_440_938_160, 951_782_400, 951_868_799, 4_107_542_400, 946_684_799, 253_402_300_799, -1, -86_401]
            .map { Date(timeIntervalSince1970: TimeInterval($0)) }
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<2000 { dates.append(Date(timeIntervalSince1970: TimeInterval(Int64.random(in: 0...7_258_118_400, using: &generator)) + 0.75)) }
        for date in dates {
            let c = calendar.dateComponents([.year, .month, .day, .hour, .minute, .second], from: date)
            let day = String(format: "%04d%02d%02d", c.year!, c.month!, c.day!)
            let expected = day + String(format: "T%02d%02d%02dZ", c.hour!, c.minute!, c.second!)
            let (amzDate, computedDay) = SigV4Signer.timestamps(date)
            #expect(amzDate == expected && computedDay == day, "\(date.timeIntervalSince1970)")
        }
    }

    /// The signing key is derived once a day: the day's cached key signs as a fresh one would,
    /// across a change of day and back.
    @Test func signingKeyIsCachedPerDay() {
        let signer = SigV4Signer(credentials: Self.signer.credentials, region: "us-east-1", service: "service")
        let body = Array("{}".utf8)
        for date in [Self.date, Self.date.addingTimeInterval(86_400), Self.date.addingTimeInterval(86_400 + 60), Self.date] {
            let fresh = SigV4Signer(credentials: Self.signer.credentials, region: "us-east-1", service: "service")
            let headers = [("Host", "example.amazonaws.com")]
            func authorization(_ signer: SigV4Signer) -> String? {
                signer.sign(method: "POST", path: "/", headers: headers, body: body, date: date).first { $0.0 == "authorization" }?.1
            }
            #expect(authorization(signer) != nil && authorization(signer) == authorization(fresh), "\(date)")
            let day = SigV4Signer.timestamps(date).day
            let cached = signer.cachedSigningKey(day: day).withUnsafeBytes { Array($0) }
            #expect(cached == signer.signingKey(day: day).withUnsafeBytes { Array($0) })
        }
        // Copies share the key of the day.
        let copy = signer
        #expect(copy.cachedSigningKey(day: "20150830").withUnsafeBytes { Array($0) } == signer.signingKey(day: "20150830").withUnsafeBytes { Array($0) })
    }
}
