import Handlers

/// The CGI-style head a FastCGI responder sends: `Status:` then the header fields.
enum ResponseHead {
    /// Appended as bytes: interpolating a string per field cost more than the rest of a `GET /ok`.
    static func serialize(_ response: Response, contentLength: Int?) -> [UInt8] {
        var head: [UInt8] = []
        head.reserveCapacity(64 + response.headers.count * 48)
        head.append(contentsOf: "Status: ".utf8)
        head.append(contentsOf: String(response.status.code).utf8)
        head.append(UInt8(ascii: " "))
        head.append(contentsOf: reasonPhrase(response.status).utf8)
        head.append(contentsOf: "\r\n".utf8)
        // HTTPFields holds only legal names, and values with CR, LF and NUL already made spaces: no field can start
        // another.
        for field in response.headers {
            head.append(contentsOf: field.name.rawName.utf8)
            head.append(contentsOf: ": ".utf8)
            head.append(contentsOf: field.value.utf8)
            head.append(contentsOf: "\r\n".utf8)
        }
        if let contentLength {
            head.append(contentsOf: "Content-Length: ".utf8)
            head.append(contentsOf: String(contentLength).utf8)
            head.append(contentsOf: "\r\n".utf8)
        }
        head.append(contentsOf: "\r\n".utf8)
        return head
    }
}
