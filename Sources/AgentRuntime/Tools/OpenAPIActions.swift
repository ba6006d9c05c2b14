import Foundation

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
