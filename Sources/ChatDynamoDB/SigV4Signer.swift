import Crypto
import Foundation
import Synchronization

/// AWS Signature Version 4 (`AWS4-HMAC-SHA256`) for one service in one region.
///
/// Signs every header it is given (the caller passes only the ones that must be signed:
/// `host`, `content-type`, `x-amz-target`, …) and adds `x-amz-date`, the session token when
/// there is one (signed too) and `authorization`. The signing key (four HMACs) depends only on
/// the UTC day besides the credentials, region and service, so it is derived once a day.
struct SigV4Signer: Sendable {
    let credentials: DynamoDBConfiguration.Credentials
    let region: String
    let service: String
    /// The signing key of the day signed last, shared by copies of this signer (which have the
    /// same credentials, region and service: they cannot be changed).
    private let cachedKey = SigningKeyCache()

    init(credentials: DynamoDBConfiguration.Credentials, region: String, service: String) {
        self.credentials = credentials
        self.region = region
        self.service = service
    }

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
        let signature = Self.hex(HMAC<SHA256>.authenticationCode(for: Array(stringToSign.utf8), using: cachedSigningKey(day: day)))
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

    /// ``signingKey(day:)``, derived again only when the day changed since the last request.
    func cachedSigningKey(day: String) -> SymmetricKey {
        if let key = cachedKey.key(for: day) { return key }
        let key = signingKey(day: day)
        cachedKey.store(key, for: day)
        return key
    }

    /// `20150830T123600Z` and `20150830` for `date`, in UTC (the proleptic Gregorian calendar,
    /// computed from the epoch seconds: no `Calendar` per request).
    static func timestamps(_ date: Date) -> (amzDate: String, day: String) {
        let seconds = Int64(date.timeIntervalSince1970.rounded(.down))
        let (days, time) = (seconds.floorDivided(by: 86_400), seconds.floorModulo(86_400))
        // Days since 1970-01-01 to year, month, day (Howard Hinnant's `civil_from_days`).
        let z = days + 719_468
        let era = z.floorDivided(by: 146_097)
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let shiftedMonth = (5 * dayOfYear + 2) / 153
        let dayOfMonth = dayOfYear - (153 * shiftedMonth + 2) / 5 + 1
        let month = shiftedMonth < 10 ? shiftedMonth + 3 : shiftedMonth - 9
        let year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
        var text: [UInt8] = []
        text.reserveCapacity(16)
        func append(_ value: Int64, digits: Int) {
            var divisor: Int64 = 1
            for _ in 1..<digits { divisor *= 10 }
            while divisor > 0 {
                text.append(UInt8(ascii: "0") + UInt8(value / divisor % 10))
                divisor /= 10
            }
        }
        append(year, digits: 4)
        append(month, digits: 2)
        append(dayOfMonth, digits: 2)
        let day = String(decoding: text, as: UTF8.self)
        text.append(UInt8(ascii: "T"))
        append(time / 3600, digits: 2)
        append(time / 60 % 60, digits: 2)
        append(time % 60, digits: 2)
        text.append(UInt8(ascii: "Z"))
        return (String(decoding: text, as: UTF8.self), day)
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
                out.unicodeScalars.append("%")
                out.unicodeScalars.append(Unicode.Scalar(upperHexDigits[Int(byte >> 4)]))
                out.unicodeScalars.append(Unicode.Scalar(upperHexDigits[Int(byte & 0x0F)]))
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
        var out: [UInt8] = []
        out.reserveCapacity(64)
        for byte in bytes {
            out.append(lowerHexDigits[Int(byte >> 4)])
            out.append(lowerHexDigits[Int(byte & 0x0F)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    private static let lowerHexDigits = Array("0123456789abcdef".utf8)
    private static let upperHexDigits = Array("0123456789ABCDEF".utf8)
}

/// The signing key of one day (see ``SigV4Signer/cachedSigningKey(day:)``), kept as bytes:
/// `SymmetricKey` is not `Sendable`.
final class SigningKeyCache: Sendable {
    private let entry = Mutex<(day: String, key: [UInt8])?>(nil)

    /// The key stored for `day`, if the last one stored is that day's.
    func key(for day: String) -> SymmetricKey? {
        entry.withLock { $0?.day == day ? $0?.key : nil }.map { SymmetricKey(data: $0) }
    }

    func store(_ key: SymmetricKey, for day: String) {
        let bytes = key.withUnsafeBytes { Array($0) }
        entry.withLock { $0 = (day, bytes) }
    }
}

fileprivate extension Int64 {
    /// The quotient rounded towards minus infinity (the day of a time before 1970 too).
    func floorDivided(by divisor: Int64) -> Int64 {
        let (quotient, remainder) = quotientAndRemainder(dividingBy: divisor)
        return remainder < 0 ? quotient - 1 : quotient
    }

    /// The remainder of ``floorDivided(by:)``, never negative for a positive divisor.
    func floorModulo(_ divisor: Int64) -> Int64 {
        self - floorDivided(by: divisor) * divisor
    }
}
