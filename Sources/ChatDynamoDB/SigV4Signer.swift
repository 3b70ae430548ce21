import Crypto
import Foundation

/// AWS Signature Version 4 (`AWS4-HMAC-SHA256`) for one service in one region.
///
/// Signs every header it is given (the caller passes only the ones that must be signed:
/// `host`, `content-type`, `x-amz-target`, …) and adds `x-amz-date`, the session token when
/// there is one (signed too) and `authorization`.
struct SigV4Signer: Sendable {
    var credentials: DynamoDBConfiguration.Credentials
    var region: String
    var service: String

    /// The headers to add to a request: `x-amz-date`, `x-amz-security-token` (with a session
    /// token) and `authorization`.
    ///
    /// - Parameters:
    ///   - path: the request's path, not yet percent-encoded (`/` for DynamoDB).
    ///   - query: the query parameters, not yet percent-encoded.
    ///   - headers: the headers to sign, `host` among them.
    func sign(method: String, path: String, query: [(String, String)] = [], headers: [(String, String)],
              body: some DataProtocol, date: Date) -> [(String, String)] {
        let (amzDate, day) = Self.timestamps(date)
        var added = [("x-amz-date", amzDate)]
        if let token = credentials.sessionToken { added.append(("x-amz-security-token", token)) }
        let canonical = canonicalRequest(method: method, path: path, query: query, headers: headers + added, body: body)
        let scope = "\(day)/\(region)/\(service)/aws4_request"
        let stringToSign = ["AWS4-HMAC-SHA256", amzDate, scope, Self.sha256Hex(Array(canonical.request.utf8))].joined(separator: "\n")
        let signature = Self.hex(HMAC<SHA256>.authenticationCode(for: Array(stringToSign.utf8), using: signingKey(day: day)))
        added.append(("authorization",
                      "AWS4-HMAC-SHA256 Credential=\(credentials.accessKeyID)/\(scope), SignedHeaders=\(canonical.signedHeaders), Signature=\(signature)"))
        return added
    }

    /// The canonical request and its signed-header list.
    func canonicalRequest(method: String, path: String, query: [(String, String)], headers: [(String, String)],
                          body: some DataProtocol) -> (request: String, signedHeaders: String) {
        // Header names are case-insensitive: lowercased, values trimmed with inner runs of
        // spaces collapsed, repeated names joined by commas, sorted by name.
        var merged: [String: [String]] = [:]
        for (name, value) in headers {
            merged[name.lowercased(), default: []].append(Self.normalize(value))
        }
        let names = merged.keys.sorted()
        let canonicalHeaders = names.map { "\($0):\(merged[$0]!.joined(separator: ","))\n" }.joined()
        let signedHeaders = names.joined(separator: ";")
        let pairs: [(name: String, value: String)] = query.map { (Self.encode($0.0), Self.encode($0.1)) }
        let sortedPairs = pairs.sorted { $0.name == $1.name ? $0.value < $1.value : $0.name < $1.name }
        let canonicalQuery = sortedPairs.map { "\($0.name)=\($0.value)" }.joined(separator: "&")
        let segments: [String] = path.split(separator: "/", omittingEmptySubsequences: false).map { Self.encode(String($0)) }
        let canonicalPath = segments.joined(separator: "/")
        let payloadHash = Self.sha256Hex(body)
        let lines: [String] = [method, canonicalPath.isEmpty ? "/" : canonicalPath, canonicalQuery, canonicalHeaders, signedHeaders, payloadHash]
        let request = lines.joined(separator: "\n")
        return (request, signedHeaders)
    }

    /// `kSigning` = HMAC chain over the day, region, service and `aws4_request`.
    func signingKey(day: String) -> SymmetricKey {
        var key = SymmetricKey(data: Array("AWS4\(credentials.secretAccessKey)".utf8))
        for part in [day, region, service, "aws4_request"] {
            key = SymmetricKey(data: Data(HMAC<SHA256>.authenticationCode(for: Array(part.utf8), using: key)))
        }
        return key
    }

    /// `20150830T123600Z` and `20150830` for `date`, in UTC.
    static func timestamps(_ date: Date) -> (amzDate: String, day: String) {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let c = calendar.dateComponents([.year, .month, .day, .hour, .minute, .second], from: date)
        func two(_ value: Int?) -> String { value.map { $0 < 10 ? "0\($0)" : "\($0)" } ?? "00" }
        let day = "\(c.year ?? 1970)\(two(c.month))\(two(c.day))"
        return ("\(day)T\(two(c.hour))\(two(c.minute))\(two(c.second))Z", day)
    }

    /// RFC 3986 percent-encoding of everything but the unreserved characters, as SigV4 wants.
    static func encode(_ text: String) -> String {
        var out = ""
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                 UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
                out.unicodeScalars.append(Unicode.Scalar(byte))
            default:
                out += "%" + hexDigits(byte).uppercased()
            }
        }
        return out
    }

    private static func normalize(_ value: String) -> String {
        value.split(separator: " ", omittingEmptySubsequences: true).joined(separator: " ")
    }

    /// The SHA-256 of `bytes` in lowercase hexadecimal.
    static func sha256Hex(_ bytes: some DataProtocol) -> String {
        hex(SHA256.hash(data: bytes))
    }

    /// Lowercase hexadecimal.
    static func hex(_ bytes: some Sequence<UInt8>) -> String {
        bytes.map(hexDigits).joined()
    }

    private static func hexDigits(_ byte: UInt8) -> String {
        let digits = Array("0123456789abcdef")
        return String([digits[Int(byte >> 4)], digits[Int(byte & 0x0F)]])
    }
}
