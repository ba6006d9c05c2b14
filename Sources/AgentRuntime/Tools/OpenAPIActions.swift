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

    fileprivate enum Location: String, Sendable { case path, query, header }
    fileprivate struct Input: Sendable, Equatable { var name: String, location: Location, required: Bool, explode: Bool }
    fileprivate enum Piece: Sendable, Equatable { case text(String), parameter(String) }
    fileprivate let inputs: [Input]
    fileprivate let pieces: [Piece]
    /// nil when the tool has no `body` argument; otherwise whether it is required.
    fileprivate let bodyRequired: Bool?

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
    fileprivate static func encoded(_ value: JSONValue) -> [UInt8]? {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return (try? encoder.encode(value)).map(Array.init)
    }

    /// Plain rendering of a scalar: integers without `.0`, booleans as `true`/`false`; nil for anything else.
    fileprivate static func text(_ value: JSONValue) -> String? {
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

/// Turns selected operations of an OpenAPI 3.0/3.1 document into tools.
public enum OpenAPIActions {
    /// The largest arguments schema accepted per tool once `$ref`s are inlined, in bytes of JSON.
    public static let maxSchemaBytes = 65_536
    private static let methods = ["get", "put", "post", "delete", "patch", "head", "options"]
    /// Set by the HTTP client or the credentials layer, or hop-by-hop: a model must never choose them.
    private static let reservedHeaders: Set<String> = ["content-type", "accept", "authorization", "host", "content-length",
        "cookie", "transfer-encoding", "connection", "te", "trailer", "upgrade", "keep-alive"]

    /// The selected operations of the document (a decoded JSON or YAML document as JSONValue), in the order given.
    ///
    /// Throws with a message naming what is wrong: not OpenAPI 3.x, an operationId not found (with some that exist),
    /// a non-local or cyclic `$ref`, a cookie or unsupported-style parameter, a name clash, a reserved header.
    public static func load(_ document: JSONValue, operations: [String], source: String) throws(OpenAPIActionError) -> [OpenAPIAction] {
        guard case .string(let version) = document.objectValue?["openapi"], version.hasPrefix("3.") else {
            let found = document.objectValue?["swagger"].map { "Swagger \(OpenAPIAction.text($0) ?? "?")" }
                ?? document.objectValue?["openapi"].map { "openapi: \(OpenAPIAction.text($0) ?? "?")" } ?? "no 'openapi' field"
            throw OpenAPIActionError("\(source): not an OpenAPI 3.x document (\(found))")
        }
        var resolver = Resolver(document: document, is30: version.hasPrefix("3.0"))
        var index: [String: [(path: String, method: String, item: [String: JSONValue], operation: [String: JSONValue])]] = [:]
        var skipped = 0
        for (path, rawItem) in (document.objectValue?["paths"]?.objectValue ?? [:]).sorted(by: { $0.key < $1.key }) {
            guard let item = try? resolver.follow(rawItem) else { skipped += 1; continue }
            for method in methods {
                if case .object(let operation) = item[method], case .string(let id) = operation["operationId"] {
                    index[id, default: []].append((path, method.uppercased(), item, operation))
                }
            }
        }
        var actions: [OpenAPIAction] = []
        var names: [String: String] = [:]
        for id in operations {
            guard let found = index[id] else {
                let known = index.keys.sorted()
                let list = known.prefix(10).joined(separator: ", ") + (known.count > 10 ? ", … (\(known.count) in all)" : "")
                let note = skipped > 0 ? "; \(skipped) path item(s) with an unresolvable $ref were not searched" : ""
                throw OpenAPIActionError("\(source): operationId '\(id)' not found; the document has: \(known.isEmpty ? "none" : list)\(note)")
            }
            guard found.count == 1, let (path, method, item, operation) = found.first else {
                throw OpenAPIActionError("\(source): operationId '\(id)' is used by \(found.count) operations")
            }
            let action: OpenAPIAction
            do {
                action = try build(id, method, path, item, operation, source: source, resolver: &resolver)
            } catch {
                throw OpenAPIActionError("\(source): operation '\(id)' (\(method) \(path)): \(error.message)")
            }
            if let other = names.updateValue(id, forKey: action.toolName) {
                throw OpenAPIActionError("\(source): operations '\(other)' and '\(id)' would both be tool '\(action.toolName)'")
            }
            actions.append(action)
        }
        return actions
    }

    /// `<source>__<operationID>` with characters outside `[a-zA-Z0-9_-]` replaced by `_`; beyond 64 characters, a
    /// prefix plus `_` and the FNV-1a hash (8 hex digits) of the full name, so long names stay unique and stable.
    public static func toolName(source: String, operationID: String) -> String {
        ToolNames.namespaced(source, operationID)
    }

    private static func build(_ id: String, _ method: String, _ path: String, _ item: [String: JSONValue],
                              _ operation: [String: JSONValue], source: String,
                              resolver: inout Resolver) throws(OpenAPIActionError) -> OpenAPIAction {
        (resolver.budget, resolver.depth) = (20_000, 0)
        var merged: [(key: String, parameter: [String: JSONValue])] = []
        for list in [item["parameters"], operation["parameters"]] {
            var seen = Set<String>()
            guard case .array(let raw)? = list else { continue }
            for value in raw {
                let parameter = try resolver.follow(value)
                guard case .string(let name) = parameter["name"], !name.isEmpty, case .string(let location) = parameter["in"] else {
                    throw OpenAPIActionError("a parameter lacks 'name' or 'in'")
                }
                let key = location + ":" + name
                guard seen.insert(key).inserted else { throw OpenAPIActionError("parameter '\(name)' in \(location) is declared twice") }
                if let i = merged.firstIndex(where: { $0.key == key }) { merged[i].parameter = parameter } else { merged.append((key, parameter)) }
            }
        }
        var properties: [String: JSONValue] = [:]
        var required: [JSONValue] = []
        var inputs: [OpenAPIAction.Input] = []
        for (_, parameter) in merged {
            guard case .string(let name) = parameter["name"], case .string(let where_) = parameter["in"] else { continue }
            guard let location = OpenAPIAction.Location(rawValue: where_) else {
                throw OpenAPIActionError(where_ == "cookie" ? "cookie parameter '\(name)' is not supported" : "parameter '\(name)' has unknown location '\(where_)'")
            }
            guard name != "body" else { throw OpenAPIActionError("a \(where_) parameter is named 'body', which is reserved for the request body") }
            guard properties[name] == nil else { throw OpenAPIActionError("the name '\(name)' is used by two parameters in different locations") }
            if location == .header {
                let tchar = Set("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
                guard name.allSatisfy(tchar.contains) else { throw OpenAPIActionError("header parameter '\(name)' is not a valid header name") }
                guard !reservedHeaders.contains(name.lowercased()), !name.lowercased().hasPrefix("proxy-") else {
                    throw OpenAPIActionError("header parameter '\(name)' is not allowed: the HTTP client sets that header")
                }
            }
            let defaultStyle = location == .query ? "form" : "simple"
            if case .string(let style)? = parameter["style"], style != defaultStyle {
                throw OpenAPIActionError("parameter '\(name)' uses style '\(style)'; only '\(defaultStyle)' is supported for \(where_) parameters")
            }
            guard parameter["content"] == nil else { throw OpenAPIActionError("parameter '\(name)' uses 'content' instead of 'schema', which is not supported") }
            let schema = try resolver.inline(parameter["schema"] ?? .object([:]), refs: [], mode: .schema)
            let isRequired = location == .path || parameter["required"] == .bool(true)
            properties[name] = described(schema, parameter["description"])
            if isRequired { required.append(.string(name)) }
            inputs.append(.init(name: name, location: location, required: isRequired, explode: parameter["explode"] != .bool(false)))
        }
        var pieces: [OpenAPIAction.Piece] = []
        var rest = Substring(path)
        while let open = rest.firstIndex(of: "{") {
            guard let close = rest[open...].firstIndex(of: "}") else { throw OpenAPIActionError("the path has an unclosed '{'") }
            let name = String(rest[rest.index(after: open)..<close])
            guard inputs.contains(where: { $0.name == name && $0.location == .path }) else {
                throw OpenAPIActionError("the path has {\(name)} but no path parameter '\(name)' is declared")
            }
            pieces += [.text(String(rest[..<open])), .parameter(name)]
            rest = rest[rest.index(after: close)...]
        }
        pieces.append(.text(String(rest)))
        if let unused = inputs.first(where: { input in input.location == .path && !pieces.contains(.parameter(input.name)) }) {
            throw OpenAPIActionError("path parameter '\(unused.name)' does not appear in the path")
        }
        var bodyRequired: Bool?
        if let raw = operation["requestBody"] {
            let requestBody = try resolver.follow(raw)
            let content = (requestBody["content"]?.objectValue ?? [:]).sorted { $0.key < $1.key }
            let isRequired = requestBody["required"] == .bool(true)
            if let json = content.first(where: { $0.key.prefix(while: { $0 != ";" }).trimmingCharacters(in: .whitespaces).lowercased() == "application/json" }) {
                let schema = try resolver.inline(json.value.objectValue?["schema"] ?? .object([:]), refs: [], mode: .schema)
                properties["body"] = described(schema, requestBody["description"])
                bodyRequired = isRequired
                if isRequired { required.append("body") }
            } else if isRequired {
                throw OpenAPIActionError("the request body is required but has no application/json content (has: \(content.map(\.key).joined(separator: ", ")))")
            }
        }
        var schema: [String: JSONValue] = ["type": "object", "properties": .object(properties), "additionalProperties": false]
        if !required.isEmpty { schema["required"] = .array(required) }
        guard let data = OpenAPIAction.encoded(.object(schema)), data.count <= maxSchemaBytes else {
            throw OpenAPIActionError("the arguments schema is larger than \(maxSchemaBytes / 1024) KiB once $refs are inlined")
        }
        var texts = ["summary", "description"].compactMap { operation[$0].flatMap(OpenAPIAction.text)?.trimmingCharacters(in: .whitespacesAndNewlines) }
        texts = texts.filter { !$0.isEmpty }.reduce(into: []) { if !$0.contains($1) { $0.append($1) } }
        let description = String((texts.isEmpty ? "\(method) \(path)" : texts.joined(separator: "\n\n")).prefix(1024))
        return OpenAPIAction(operationID: id, method: method, pathTemplate: path, toolName: toolName(source: source, operationID: id),
                             description: description, parameters: .object(schema), inputs: inputs, pieces: pieces, bodyRequired: bodyRequired)
    }

    /// The parameter's or request body's own description wins over the schema's: it says what the value means here.
    private static func described(_ schema: JSONValue, _ description: JSONValue?) -> JSONValue {
        guard case .object(var object) = schema, case .string? = description else { return schema }
        object["description"] = description
        return .object(object)
    }

    /// Resolves local `$ref`s (JSON Pointers into the document itself); anything else would mean fetching files or URLs.
    fileprivate struct Resolver {
        enum Mode { case schema, names, literal }
        let document: JSONValue
        let is30: Bool
        /// Nodes that may still be produced while inlining, so a small document cannot expand exponentially.
        var budget = 20_000
        /// Current nesting, bounded so that a deep document (YAML has no depth limit) cannot exhaust the stack.
        var depth = 0

        func target(_ ref: String) throws(OpenAPIActionError) -> JSONValue {
            guard ref.hasPrefix("#/") else {
                throw OpenAPIActionError("$ref '\(ref)' is not supported: only references within the document, such as '#/components/schemas/Pet'")
            }
            var node = document
            for raw in ref.dropFirst(2).split(separator: "/", omittingEmptySubsequences: false) {
                let token = (raw.removingPercentEncoding ?? String(raw)).replacingOccurrences(of: "~1", with: "/")
                    .replacingOccurrences(of: "~0", with: "~")
                switch node {
                case .object(let object) where object[token] != nil: node = object[token]!
                case .array(let items) where Int(token).map(items.indices.contains) == true: node = items[Int(token)!]
                default: throw OpenAPIActionError("$ref '\(ref)' points to nothing in the document")
                }
            }
            return node
        }

        /// A parameter, request body or path item, following `$ref`s to the object itself.
        func follow(_ value: JSONValue) throws(OpenAPIActionError) -> [String: JSONValue] {
            var value = value
            var seen: [String] = []
            while case .object(let object) = value, case .string(let ref)? = object["$ref"] {
                guard !seen.contains(ref) else { throw OpenAPIActionError("$ref cycle: \((seen + [ref]).joined(separator: " -> "))") }
                seen.append(ref)
                value = try target(ref)
            }
            guard case .object(let object) = value else { throw OpenAPIActionError("\(seen.last ?? "a parameter or body") is not an object") }
            return object
        }

        /// Copies a schema with every `$ref` replaced by its target (sibling keywords win, as 3.1 allows). Keyword
        /// values that are data (`enum`, `default`...) or names (`properties`...) are not mistaken for schemas.
        mutating func inline(_ value: JSONValue, refs: [String], mode: Mode) throws(OpenAPIActionError) -> JSONValue {
            budget -= 1
            depth += 1
            defer { depth -= 1 }
            guard budget >= 0 else { throw OpenAPIActionError("the arguments schema is too large once $refs are inlined") }
            guard depth <= 128 else { throw OpenAPIActionError("the arguments schema nests deeper than 128 levels") }
            switch value {
            case .array(let items):
                var out: [JSONValue] = []
                for item in items { out.append(try inline(item, refs: refs, mode: mode == .literal ? .literal : .schema)) }
                return .array(out)
            case .object(let object):
                if mode == .schema, case .string(let ref)? = object["$ref"] {
                    if let start = refs.firstIndex(of: ref) {
                        throw OpenAPIActionError("$ref cycle: \((refs[start...] + [ref]).joined(separator: " -> "))")
                    }
                    guard refs.count < 32 else { throw OpenAPIActionError("$refs nest deeper than 32 at '\(ref)'") }
                    var resolved = try inline(target(ref), refs: refs + [ref], mode: .schema)
                    if case .object(var merged) = resolved, object.count > 1 {
                        for (key, sibling) in object where key != "$ref" { merged[key] = try inline(sibling, refs: refs, mode: Self.mode(key)) }
                        resolved = .object(merged)
                    }
                    return resolved
                }
                var out: [String: JSONValue] = [:]
                for (key, child) in object {
                    out[key] = try inline(child, refs: refs, mode: mode == .schema ? Self.mode(key) : mode == .names ? .schema : .literal)
                }
                if is30, mode == .schema, out["nullable"] == .bool(true), case .string(let type)? = out["type"] {
                    out["type"] = [.string(type), "null"]
                    out["nullable"] = nil
                }
                return .object(out)
            default: return value
            }
        }

        static func mode(_ key: String) -> Mode {
            switch key {
            case "enum", "const", "default", "example", "examples", "discriminator", "xml", "externalDocs": .literal
            case "properties", "patternProperties", "$defs", "definitions", "dependentSchemas": .names
            default: .schema
            }
        }
    }
}
