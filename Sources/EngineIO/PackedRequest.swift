import HTTPTypes

/// A handshake request as a session keeps it for its whole life: every field in one byte
/// array (length-prefixed strings), unpacked into an ``EngineRequest`` only when asked for.
///
/// An `EngineRequest` holds a dictionary, an `HTTPFields` and a string or array per header:
/// around a dozen allocations and most of a kilobyte on every idle connection. Packed, it is
/// one allocation of about the request's own size.
struct PackedRequest: Sendable {
    private let bytes: [UInt8]

    init(_ request: EngineRequest) {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(Self.packedSize(of: request))
        Self.append(request.method.rawValue, to: &bytes)
        Self.append(request.path, to: &bytes)
        Self.append(request.authority ?? "", to: &bytes)
        bytes.append(request.authority == nil ? 0 : 1)
        Self.appendCount(request.query.count, to: &bytes)
        for (key, value) in request.query {
            Self.append(key, to: &bytes)
            Self.append(value, to: &bytes)
        }
        Self.appendCount(request.headers.count, to: &bytes)
        for field in request.headers {
            Self.append(field.name.rawName, to: &bytes)
            Self.append(field.value, to: &bytes)
        }
        self.bytes = bytes
    }

    /// The request as it was packed. Header fields whose name no longer parses are skipped
    /// (they parsed when packed, so none are).
    var request: EngineRequest {
        var reader = Reader(bytes: self.bytes)
        let method = HTTPRequest.Method(reader.string()) ?? .get
        let path = reader.string()
        let authority = reader.string()
        let hasAuthority = reader.byte() == 1
        var query: [String: String] = [:]
        let queryCount = reader.count()
        query.reserveCapacity(queryCount)
        for _ in 0..<queryCount {
            let key = reader.string()
            query[key] = reader.string()
        }
        var headers = HTTPFields()
        for _ in 0..<reader.count() {
            let name = reader.string()
            let value = reader.string()
            if let name = HTTPField.Name(name) { headers.append(HTTPField(name: name, value: value)) }
        }
        return EngineRequest(method: method, path: Substring(path), query: query, headers: headers, authority: hasAuthority ? authority : nil)
    }

    private static func packedSize(of request: EngineRequest) -> Int {
        var size = 16 + request.method.rawValue.utf8.count + request.path.utf8.count + (request.authority?.utf8.count ?? 0)
        for (key, value) in request.query { size += 8 + key.utf8.count + value.utf8.count }
        for field in request.headers { size += 8 + field.name.rawName.utf8.count + field.value.utf8.count }
        return size
    }

    /// A length (LEB128) then the UTF-8 bytes.
    private static func append(_ text: some StringProtocol, to bytes: inout [UInt8]) {
        appendCount(text.utf8.count, to: &bytes)
        bytes.append(contentsOf: text.utf8)
    }

    private static func appendCount(_ count: Int, to bytes: inout [UInt8]) {
        var value = UInt(count)
        while value >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: value) | 0x80)
            value >>= 7
        }
        bytes.append(UInt8(value))
    }

    private struct Reader {
        let bytes: [UInt8]
        var offset = 0

        mutating func byte() -> UInt8 {
            defer { offset += 1 }
            return bytes[offset]
        }

        mutating func count() -> Int {
            var value = 0
            var shift = 0
            while true {
                let byte = self.byte()
                value |= Int(byte & 0x7F) << shift
                if byte < 0x80 { return value }
                shift += 7
            }
        }

        mutating func string() -> String {
            let length = count()
            defer { offset += length }
            return String(decoding: bytes[offset..<offset + length], as: UTF8.self)
        }
    }
}
