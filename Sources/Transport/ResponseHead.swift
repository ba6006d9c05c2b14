import Handlers

/// The CGI-style head a FastCGI responder sends: `Status:` then the header fields.
enum ResponseHead {
    static func serialize(_ response: Response, contentLength: Int?) -> [UInt8] {
        var head = "Status: \(response.status.code) \(reasonPhrase(response.status))\r\n"
        // HTTPFields holds only legal names, and values with CR, LF and NUL already made spaces: no field can start
        // another.
        for field in response.headers {
            head += "\(field.name.rawName): \(field.value)\r\n"
        }
        if let contentLength {
            head += "Content-Length: \(contentLength)\r\n"
        }
        head += "\r\n"
        return Array(head.utf8)
    }
}
