/// Limits checked on a request body's bytes before it is decoded: deep nesting costs the decoder stack and
/// time, huge strings memory, and NUL characters break whatever stores or logs them later.
public enum JSONLimits {
    public static let maxDepth = 32
    public static let maxStringBytes = 512 * 1024
    /// Where messages may carry images as `data:` URLs (the OpenAI routes): one image's URL, and a little more.
    public static let maxMediaStringBytes = (8 << 20) + 1024

    /// One pass over the bytes; malformed JSON is left for the decoder to report.
    static func check(_ body: [UInt8], maxStringBytes: Int = JSONLimits.maxStringBytes) throws {
        var depth = 0
        var inString = false
        var escaped = false
        var stringStart = 0
        var index = 0
        let count = body.count
        while index < count {
            let byte = body[index]
            if inString {
                if escaped {
                    escaped = false
                    // \u0000: a NUL inside a string.
                    if byte == UInt8(ascii: "u"), index + 4 < count,
                       body[index + 1] == UInt8(ascii: "0"), body[index + 2] == UInt8(ascii: "0"),
                       body[index + 3] == UInt8(ascii: "0"), body[index + 4] == UInt8(ascii: "0") {
                        throw APIError(status: 422, code: "nul_character",
                                       detail: "The body contains a NUL character (\\u0000) in a string; it is not accepted anywhere.")
                    }
                } else if byte == UInt8(ascii: "\\") {
                    escaped = true
                } else if byte == UInt8(ascii: "\"") {
                    inString = false
                    if index - stringStart > maxStringBytes {
                        throw APIError(status: 422, code: "string_too_long",
                                       detail: "A string in the body is \(index - stringStart) bytes long; at most \(maxStringBytes) are accepted.")
                    }
                }
            } else {
                switch byte {
                case UInt8(ascii: "\""):
                    inString = true
                    stringStart = index + 1
                case UInt8(ascii: "{"), UInt8(ascii: "["):
                    depth += 1
                    if depth > maxDepth {
                        throw APIError(status: 422, code: "json_too_deep",
                                       detail: "The body nests objects and arrays more than \(maxDepth) levels deep.")
                    }
                case UInt8(ascii: "}"), UInt8(ascii: "]"):
                    depth -= 1
                default:
                    break
                }
            }
            index += 1
        }
    }
}
