import Handlers

/// The CGI-style head a FastCGI responder sends: `Status:` then the header fields.
enum ResponseHead {
    static func serialize(_ response: Response, contentLength: Int?) -> [UInt8] {
        var head = "Status: \(response.status) \(reasonPhrase(response.status))\r\n"
        for field in response.headers {
            head += "\(clean(field.name)): \(clean(field.value))\r\n"
        }
        if let contentLength {
            head += "Content-Length: \(contentLength)\r\n"
        }
        head += "\r\n"
        return Array(head.utf8)
    }

    /// A header value must not be able to start another header.
    private static func clean(_ text: String) -> String {
        guard text.utf8.contains(where: { $0 == 13 || $0 == 10 || $0 == 0 }) else { return text }
        return String(text.unicodeScalars.filter { $0 != "\r" && $0 != "\n" && $0 != "\0" })
    }
}
