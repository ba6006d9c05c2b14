public import HTTPTypes

/// An HTTP request as the transport hands it over: fully read, no transport types.
public struct Request: Sendable {
    public var method: HTTPRequest.Method
    /// The path, percent-decoding not applied (ids are matched as sent).
    public var path: String
    /// The raw query string without `?`.
    public var query: String
    public var headers: HTTPFields
    public var remoteAddress: String
    /// nginx's `$request_id` when present, otherwise one made by the transport.
    public var requestID: String
    public var body: [UInt8]

    public init(
        method: HTTPRequest.Method, path: String, query: String = "", headers: HTTPFields = [:],
        remoteAddress: String = "", requestID: String = "", body: [UInt8] = []
    ) {
        self.method = method
        self.path = path
        self.query = query
        self.headers = headers
        self.remoteAddress = remoteAddress
        self.requestID = requestID
        self.body = body
    }

    /// Query parameters, `+` and percent escapes decoded; the last value of a repeated name wins.
    public var queryItems: [String: String] {
        var items: [String: String] = [:]
        for pair in query.split(separator: "&", omittingEmptySubsequences: true) {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let name = percentDecode(parts[0])
            let value = parts.count > 1 ? percentDecode(parts[1]) : ""
            items[name] = value
        }
        return items
    }
}

/// `plusAsSpace`: true in a query string (form encoding), false in a path, where `+` is itself (RFC 3986).
func percentDecode(_ text: Substring, plusAsSpace: Bool = true) -> String {
    var bytes: [UInt8] = []
    bytes.reserveCapacity(text.utf8.count)
    var iterator = text.utf8.makeIterator()
    while let byte = iterator.next() {
        switch byte {
        case UInt8(ascii: "+") where plusAsSpace:
            bytes.append(UInt8(ascii: " "))
        case UInt8(ascii: "%"):
            if let high = iterator.next(), let low = iterator.next(),
               let h = hexValue(high), let l = hexValue(low) {
                bytes.append(h << 4 | l)
            } else {
                bytes.append(byte)
            }
        default:
            bytes.append(byte)
        }
    }
    return String(decoding: bytes, as: UTF8.self)
}

private func hexValue(_ byte: UInt8) -> UInt8? {
    switch byte {
    case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
    case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
    case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
    default: nil
    }
}
