import AgentRuntime

/// Rules that every request meets, wherever it is read, stated once here and written into the schemas of request
/// bodies and path parameters when the document is built, so that each schema need not repeat them (and cannot
/// forget one). A client that generates requests from the document (schemathesis does) then sends nothing the server
/// refuses for a reason the document did not give.
enum RequestRules {
    /// No NUL in any string or object key of a body (`JSONLimits`): it breaks what stores or logs it later.
    static let noNUL = "^[^\\u0000]*$"
    /// Thread, run and cron ids (`ThreadEndpoints.validID`): 1 to 128 printable ASCII characters, no space, `/` or `\`.
    static let idPattern = "^[!-.0-\\[\\]-~]{1,128}$"
    /// Int64's bounds. The document's numbers are doubles, which hold -2^63 but not 2^63 - 1: the largest double below
    /// it (2^63 - 1024) stands for it, and `exactInt64Bounds` writes both exactly in the encoded text.
    static let int64Min = -0x1p63
    static let int64MaxBelow = 0x1p63 - 1024

    static func exactInt64Bounds(_ text: String) -> String {
        text.replacingOccurrences(of: ": \(int64MaxBelow)", with: ": 9223372036854775807")
            .replacingOccurrences(of: ": \(int64Min)", with: ": -9223372036854775808")
    }

    /// The component every free-form value refers to.
    static let anyJSON: JSONValue = ["$ref": "#/components/schemas/JSONValue"]

    /// One schema, not a choice of branches: openapi-spec-validator follows `items` through `anyOf` without noticing
    /// a cycle, and type-specific keywords apply only to values of their type.
    static let components: JSONValue = [
        "JSONValue": [
            "description": "Any JSON value, without NUL (\\u0000) in its strings or keys, nested at most 32 deep.",
            "type": ["null", "boolean", "number", "string", "array", "object"],
            "pattern": .string(noNUL),
            "items": anyJSON,
            "propertyNames": ["pattern": .string(noNUL)],
            "additionalProperties": anyJSON,
        ],
    ]

    /// The schema of a path parameter, by name: what the handlers accept before looking the thing up (a well-formed id
    /// that names nothing is a 404).
    static func pathParameter(_ name: String, path: String, method: String) -> JSONValue {
        switch name {
        case "thread_id", "run_id", "cron_id":
            return ["type": "string", "pattern": .string(idPattern)]
        case "conversation_id":
            // `OpenAIResponses.ownedThread`: printable ASCII without spaces.
            return ["type": "string", "pattern": "^[!-~]{1,128}$"]
        case "item_id" where method == "DELETE":
            return ["type": "string", "pattern": "^msg_", "maxLength": 128, "description": "A message item's id (`msg_...`)."]
        case "namespace":
            // Subgraphs: there are none, whatever the namespace.
            return ["type": "string"]
        default:
            return ["type": "string", "maxLength": 128]
        }
    }

    /// The names of the components request bodies refer to, directly or through other components.
    static func requestComponents(paths: [String: [String: JSONValue]], schemas: [String: JSONValue]) -> Set<String> {
        var pending: [JSONValue] = []
        for operations in paths.values {
            for operation in operations.values {
                if let body = operation.objectValue?["requestBody"] { pending.append(body) }
            }
        }
        var found: Set<String> = []
        while let next = pending.popLast() {
            for name in references(in: next) where !found.contains(name) {
                found.insert(name)
                if let schema = schemas[name] { pending.append(schema) }
            }
        }
        return found
    }

    static func references(in value: JSONValue) -> [String] {
        switch value {
        case .object(let object):
            var names: [String] = []
            if case .string(let ref)? = object["$ref"], ref.hasPrefix("#/components/schemas/") {
                names.append(String(ref.dropFirst("#/components/schemas/".count)))
            }
            for item in object.values { names += references(in: item) }
            return names
        case .array(let items):
            return items.flatMap(references(in:))
        default:
            return []
        }
    }

    /// A request body's schema with the rules every body meets: strings without a stricter rule of their own exclude
    /// NUL, keys too, and a value left free (an object's other properties, an untyped field) is any `JSONValue`.
    static func applied(_ schema: JSONValue) -> JSONValue {
        guard case .object(var object) = schema else { return schema }
        for key in ["properties", "patternProperties", "$defs"] {
            if case .object(let members)? = object[key] { object[key] = .object(members.mapValues(applied)) }
        }
        for key in ["items", "additionalProperties", "contains"] {
            if case .object? = object[key] { object[key] = applied(object[key]!) }
        }
        // Rules between fields (`required` and `properties` fragments, `not`) only narrow what the schema allows: left as written.
        for key in ["allOf", "anyOf", "oneOf", "prefixItems"] {
            if case .array(let members)? = object[key] { object[key] = .array(members.map { isFragment($0) ? $0 : applied($0) }) }
        }
        if object["$ref"] != nil { return .object(object) }
        let types: Set<String> = switch object["type"] {
        case .string(let type)?: [type]
        case .array(let list)?: Set(list.compactMap { if case .string(let type) = $0 { type } else { nil } })
        default: []
        }
        let constrained = ["allOf", "anyOf", "oneOf", "const", "enum", "not", "required", "properties", "if"].contains { object[$0] != nil }
        if types.isEmpty, !constrained {
            object["$ref"] = anyJSON.objectValue?["$ref"]
            return .object(object)
        }
        if types.contains("string"), ["pattern", "enum", "const", "format"].allSatisfy({ object[$0] == nil }) {
            object["pattern"] = .string(noNUL)
        }
        if types.contains("object") {
            if object["propertyNames"] == nil { object["propertyNames"] = ["pattern": .string(noNUL)] }
            if object["additionalProperties"] == nil || object["additionalProperties"] == true { object["additionalProperties"] = anyJSON }
        }
        if types.contains("array"), object["items"] == nil { object["items"] = anyJSON }
        // Integers are 64-bit (Swift's Int): 2^63 and beyond is a 422.
        if types.contains("integer") {
            if object["minimum"] == nil, object["exclusiveMinimum"] == nil { object["minimum"] = .number(int64Min) }
            if object["maximum"] == nil, object["exclusiveMaximum"] == nil { object["maximum"] = .number(int64MaxBelow) }
        }
        return .object(object)
    }

    /// A value left free: no type and no rule of its own (a description at most).
    static func isFree(_ schema: JSONValue) -> Bool {
        guard case .object(let object) = schema else { return false }
        return Set(object.keys).isSubset(of: ["description", "examples", "default"])
    }

    /// A schema that only adds a rule to the one it is part of: no type or reference of its own.
    static func isFragment(_ schema: JSONValue) -> Bool {
        guard case .object(let object) = schema else { return true }
        guard object["type"] == nil, object["$ref"] == nil, object["const"] == nil, object["enum"] == nil,
              Set(object.keys).isSubset(of: ["required", "properties", "not", "anyOf", "oneOf", "allOf", "if", "then", "else", "description"])
        else { return false }
        // A choice between schemas of their own (`anyOf: [string, array]`) is one.
        for key in ["anyOf", "oneOf", "allOf"] {
            if case .array(let members)? = object[key], !members.allSatisfy(isFragment) { return false }
        }
        return true
    }

    /// Optional properties that may also be `null`, at every depth: Swift's decoding reads `null` as the field's
    /// absence (clients that serialize None send it). `strict` names the properties whose decoding refuses `null`
    /// although they are optional, by their path from this schema (`metadata.thread_id`).
    static func nullableOptionals(_ schema: JSONValue, strict: Set<String> = []) -> JSONValue {
        guard case .object(var object) = schema else { return schema }
        for key in ["allOf", "anyOf", "oneOf"] {
            if case .array(let members)? = object[key] { object[key] = .array(members.map { nullableOptionals($0) }) }
        }
        if case .object? = object["items"] { object["items"] = nullableOptionals(object["items"]!) }
        guard case .object(var properties) = object["properties"] else { return .object(object) }
        var required: Set<String> = []
        if case .array(let items)? = object["required"] {
            for case .string(let name) in items { required.insert(name) }
        }
        for (name, property) in properties {
            let inner = nullableOptionals(property, strict: Set(strict.compactMap { path in
                path.hasPrefix(name + ".") ? String(path.dropFirst(name.count + 1)) : nil
            }))
            properties[name] = required.contains(name) || strict.contains(name) ? inner : OpenAPIDocument.nullable(inner)
        }
        object["properties"] = .object(properties)
        return .object(object)
    }
}
