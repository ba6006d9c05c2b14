import Foundation

/// One operation of a user's OpenAPI 3.x document, offered to a model as a tool.
///
/// Everything that can be checked without arguments is checked once by `OpenAPIActions.load`, so a broken or
/// unsafe document fails when the agent is configured rather than in the middle of a run; `request` then only
/// renders the model's arguments, and refuses any value that could reach outside the configured API.
public struct OpenAPIAction: Sendable, Equatable {
    public let operationID: String
    /// Uppercase HTTP method, e.g. `GET`.
    public let method: String
    /// The path as the document writes it, e.g. `/pets/{petId}`; it is appended to the base URL's path.
    public let pathTemplate: String
    /// `<source>__<operationId>` fitted to `^[a-zA-Z0-9_-]{1,64}$`, the tool-name pattern model providers accept.
    public let toolName: String
    /// Summary and description of the operation, at most 1,024 characters so that one document cannot flood the prompt.
    public let description: String
    /// JSON Schema (object) of the arguments: path, query and header parameters by name, plus `body`. Every `$ref`
    /// is inlined because the model and the argument validator see this schema alone, never the document.
    public let parameters: JSONValue

    enum Location: String, Sendable { case path, query, header }
    struct Input: Sendable, Equatable { var name: String, location: Location, required: Bool, explode: Bool }
    enum Piece: Sendable, Equatable { case text(String), parameter(String) }
    let inputs: [Input]
    let pieces: [Piece]
    /// nil when the tool has no `body` argument; otherwise whether it is required.
    let bodyRequired: Bool?

    /// Builds the request for `arguments` (already validated against `parameters` by the caller).
    ///
    /// An absent argument and a JSON `null` both mean "not given": optional parameters are then omitted, required
    /// ones are an error. Every refusal says what is wrong in words fit to show the model, so it can retry.
    public func request(_ arguments: [String: JSONValue], baseURL: URL) throws(OpenAPIActionError) -> OpenAPIRequest {
        let known = Set(inputs.map(\.name) + (bodyRequired == nil ? [] : ["body"]))
        if let unknown = arguments.keys.sorted().first(where: { !known.contains($0) }) {
            throw OpenAPIActionError("unknown argument '\(unknown)'; expected: \(known.sorted().joined(separator: ", "))")
        }
        func given(_ name: String, required: Bool) throws(OpenAPIActionError) -> JSONValue? {
            if let value = arguments[name], value != .null { return value }
            if required { throw OpenAPIActionError("missing required argument '\(name)'") }
            return nil
        }
        var path = ""
        for piece in pieces {
            switch piece {
            case .text(let text): path += text
            case .parameter(let name):
                guard let raw = Self.text(try given(name, required: true) ?? .null) else {
                    throw OpenAPIActionError("path parameter '\(name)' must be a string, number or boolean")
                }
                if raw.isEmpty || Self.hasDotSegment(raw) {
                    throw OpenAPIActionError("path parameter '\(name)' must not be empty, '.' or '..', nor contain '.' or '..' between slashes")
                }
                path += Self.percentEncoded(raw)
            }
        }
        var query: [String] = []
        var headers: [(String, String)] = [("Accept", "application/json")]
        for input in inputs where input.location != .path {
            guard let value = try given(input.name, required: input.required) else { continue }
            var texts: [String] = []
            let items: [JSONValue] = if case .array(let items) = value { items } else { [value] }
            for item in items {
                guard let text = Self.text(item) else {
                    throw OpenAPIActionError("\(input.location) parameter '\(input.name)' must be a string, number, boolean or an array of those")
                }
                texts.append(text)
            }
            if input.location == .header {
                let joined = texts.joined(separator: ",")
                if joined.unicodeScalars.contains(where: { ($0.value < 0x20 && $0 != "\t") || $0.value == 0x7F }) {
                    throw OpenAPIActionError("header parameter '\(input.name)' must not contain control characters (CR, LF, NUL...)")
                }
                headers.append((input.name, joined))
            } else if input.explode {
                query += texts.map { Self.percentEncoded(input.name) + "=" + Self.percentEncoded($0) }
            } else if !texts.isEmpty {
                query.append(Self.percentEncoded(input.name) + "=" + texts.map(Self.percentEncoded).joined(separator: ","))
            }
        }
        var body: [UInt8]?
        if let required = bodyRequired, let value = try given("body", required: required) {
            guard let data = Self.encoded(value) else { throw OpenAPIActionError("argument 'body' cannot be encoded as JSON") }
            body = data
            headers.insert(("Content-Type", "application/json"), at: 1)
        }
        return OpenAPIRequest(method: method, url: try Self.url(baseURL, path: path, query: query), headers: headers, body: body)
    }

    /// Appends `path` to the base URL, then checks that the result is still on the same origin under the base path.
    private static func url(_ baseURL: URL, path: String, query: [String]) throws(OpenAPIActionError) -> URL {
        guard let scheme = baseURL.scheme?.lowercased(), scheme == "http" || scheme == "https", baseURL.host != nil,
              baseURL.query == nil, baseURL.fragment == nil else {
            throw OpenAPIActionError("the base URL \(baseURL.absoluteString) must be an http(s) URL without query or fragment")
        }
        var base = baseURL.absoluteString
        while base.hasSuffix("/") { base.removeLast() }
        var basePath = baseURL.path
        while basePath.hasSuffix("/") { basePath.removeLast() }
        let text = base + path + (query.isEmpty ? "" : "?" + query.joined(separator: "&"))
        guard let url = URL(string: text), url.scheme == baseURL.scheme, url.host == baseURL.host, url.port == baseURL.port else {
            throw OpenAPIActionError("the request URL \(text) is not valid")
        }
        let finalPath = url.standardized.path
        guard basePath.isEmpty || finalPath == basePath || finalPath.hasPrefix(basePath + "/") else {
            throw OpenAPIActionError("the request path \(finalPath) leaves the base path \(basePath)")
        }
        return url
    }

    /// Compact JSON with sorted keys, so equal values give equal bytes (stable requests, stable size checks).
    static func encoded(_ value: JSONValue) -> [UInt8]? {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return (try? encoder.encode(value)).map(Array.init)
    }

    /// Plain rendering of a scalar: integers without `.0`, booleans as `true`/`false`; nil for anything else.
    static func text(_ value: JSONValue) -> String? {
        switch value {
        case .string(let text): text
        case .bool(let flag): flag ? "true" : "false"
        case .number(let number) where number.isFinite:
            number == number.rounded() && abs(number) < 9.0e15 ? String(Int64(number)) : String(number)
        default: nil
        }
    }

    /// True when `value`, as given or percent-decoded once, has a `.` or `..` segment between `/` or `\`: some
    /// servers decode `%2F` before routing, so an encoded `..%2F` could still climb out of the API.
    private static func hasDotSegment(_ value: String) -> Bool {
        [value, value.removingPercentEncoding ?? value].contains { form in
            form.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "/" || $0 == "\\" })
                .contains { $0 == "." || $0 == ".." }
        }
    }

    private static let unreserved = Set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~".utf8)
    /// Encodes everything outside RFC 3986 "unreserved", so a value is always one path segment or one query value.
    fileprivate static func percentEncoded(_ text: String) -> String {
        let hex = Array("0123456789ABCDEF")
        var out = ""
        for byte in text.utf8 {
            out += unreserved.contains(byte) ? String(Unicode.Scalar(byte)) : String(["%", hex[Int(byte >> 4)], hex[Int(byte & 15)]])
        }
        return out
    }
}

/// An HTTP request built from a tool call, for the project's outbound client to send (it adds credentials).
public struct OpenAPIRequest: Sendable, Equatable {
    public var method: String
    public var url: URL
    /// In order: `Accept`, then `Content-Type` when there is a body, then header parameters as declared.
    public var headers: [(String, String)]
    /// JSON with sorted keys, or nil when the operation has no body or the optional `body` argument is absent.
    public var body: [UInt8]?

    public init(method: String, url: URL, headers: [(String, String)], body: [UInt8]?) {
        (self.method, self.url, self.headers, self.body) = (method, url, headers, body)
    }

    public static func == (lhs: Self, rhs: Self) -> Bool {
        lhs.method == rhs.method && lhs.url == rhs.url && lhs.body == rhs.body
            && lhs.headers.map(\.0) == rhs.headers.map(\.0) && lhs.headers.map(\.1) == rhs.headers.map(\.1)
    }
}

/// Why a document cannot become tools, or why a tool call cannot become a request; the message is the whole story.
public struct OpenAPIActionError: Error, Sendable, Equatable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
