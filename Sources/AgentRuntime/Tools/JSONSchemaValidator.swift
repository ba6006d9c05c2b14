/// One way a JSON value fails its schema, e.g. `arguments.items[2].name: must be a string`.
public struct SchemaViolation: Sendable, Equatable, CustomStringConvertible {
    /// Where the problem is, as `a.b[1].c`; empty for the value itself.
    public var path: String
    public var message: String

    public init(path: String, message: String) {
        self.path = path
        self.message = message
    }

    public var description: String { path.isEmpty ? message : "\(path): \(message)" }
}

/// Checks JSON against the subset of JSON Schema (2020-12) that tool argument schemas use.
///
/// Supported: `type`, `properties`, `required`, `additionalProperties`, `items`, `enum`, `const`,
/// `minimum`, `maximum`, `exclusiveMinimum`, `exclusiveMaximum`, `minLength`, `maxLength`, `pattern`,
/// `minItems`, `maxItems`, and the boolean schemas `true` and `false`. Other keywords, and keywords whose
/// value has the wrong shape, are ignored so that a richer schema still validates what it can.
/// Recursion follows the schema, not the value, so a deeply nested value cannot exhaust the stack.
public struct JSONSchemaValidator: Sendable {
    /// Every violation of `schema` by `value`, in a stable order; empty when `value` is valid.
    /// - Parameter path: the name of `value` in messages, e.g. `arguments`.
    public static func validate(_ value: JSONValue, against schema: JSONValue, path: String = "") -> [SchemaViolation] {
        var violations: [SchemaViolation] = []
        check(value, schema, path, &violations)
        return violations
    }

    private static func check(_ value: JSONValue, _ schema: JSONValue, _ path: String, _ out: inout [SchemaViolation]) {
        let keywords: [String: JSONValue]
        switch schema {
        case .object(let object): keywords = object
        case .bool(false): return out.append(SchemaViolation(path: path, message: "is not allowed"))
        default: return
        }
        func fail(_ message: String) { out.append(SchemaViolation(path: path, message: message)) }

        // A value of the wrong type would only collect noise from the other keywords, so stop here.
        let types: [String]? =
            switch keywords["type"] {
            case .string(let name): [name]
            case .array(let names): names.compactMap { if case .string(let name) = $0 { name } else { nil } }
            default: nil
            }
        if let types, !types.isEmpty, !types.contains(where: { hasType(value, $0) }) {
            return fail("must be " + list(types.map(article), conjunction: "or"))
        }

        if case .array(let options) = keywords["enum"], !options.contains(value) {
            fail("must be one of: " + options.map(render).joined(separator: ", "))
        }
        if let constant = keywords["const"], constant != value {
            fail("must be " + render(constant))
        }

        switch value {
        case .number(let number):
            if let bound = numeric(keywords["minimum"]), number < bound { fail("must be at least \(format(bound))") }
            if let bound = numeric(keywords["maximum"]), number > bound { fail("must be at most \(format(bound))") }
            if let bound = numeric(keywords["exclusiveMinimum"]), number <= bound {
                fail("must be greater than \(format(bound))")
            }
            if let bound = numeric(keywords["exclusiveMaximum"]), number >= bound {
                fail("must be less than \(format(bound))")
            }
        case .string(let string):
            if let bound = wholeNumber(keywords["minLength"]), string.count < bound {
                fail("must be at least \(counted(bound, "character")) long")
            }
            if let bound = wholeNumber(keywords["maxLength"]), string.count > bound {
                fail("must be at most \(counted(bound, "character")) long")
            }
            if case .string(let pattern) = keywords["pattern"] {
                // JSON Schema patterns are unanchored searches; Swift's dialect is close to ECMA-262's.
                if let regex = try? Regex(pattern) {
                    if string.firstMatch(of: regex) == nil { fail("does not match pattern \(pattern)") }
                } else {
                    fail("schema pattern is invalid")
                }
            }
        case .array(let elements):
            if let bound = wholeNumber(keywords["minItems"]), elements.count < bound {
                fail("must have at least \(counted(bound, "item"))")
            }
            if let bound = wholeNumber(keywords["maxItems"]), elements.count > bound {
                fail("must have at most \(counted(bound, "item"))")
            }
            if let items = keywords["items"] {
                for (index, element) in elements.enumerated() {
                    check(element, items, "\(path)[\(index)]", &out)
                }
            }
        case .object(let object):
            checkObject(object, keywords, path, &out)
        case .null, .bool:
            break
        }
    }

    private static func checkObject(
        _ object: [String: JSONValue], _ keywords: [String: JSONValue], _ path: String, _ out: inout [SchemaViolation]
    ) {
        if case .array(let required) = keywords["required"] {
            for case .string(let name) in required where object[name] == nil {
                out.append(SchemaViolation(path: member(path, name), message: "is required"))
            }
        }
        var properties: [String: JSONValue] = [:]
        if case .object(let schemas) = keywords["properties"] { properties = schemas }
        let additional = keywords["additionalProperties"]
        // Sorted so that the order of violations does not depend on dictionary order.
        for (name, property) in object.sorted(by: { $0.key < $1.key }) {
            if let schema = properties[name] ?? additional {
                check(property, schema, member(path, name), &out)
            }
        }
    }

    /// `path.name`, or `path["odd name"]` when the name is not a plain identifier.
    private static func member(_ path: String, _ name: String) -> String {
        let plain =
            name.first.map { $0.isLetter || $0 == "_" } == true
            && name.allSatisfy { $0.isLetter || $0.isNumber || $0 == "_" || $0 == "-" }
        if !plain { return "\(path)[\(quote(name))]" }
        return path.isEmpty ? name : "\(path).\(name)"
    }

    private static func article(_ type: String) -> String {
        switch type {
        case "null": "null"
        case "object", "array", "integer": "an \(type)"
        case "string", "number", "boolean": "a \(type)"
        default: type
        }
    }

    /// `a`, `a or b`, `a, b or c`.
    private static func list(_ items: [String], conjunction: String) -> String {
        guard let last = items.last, items.count > 1 else { return items.first ?? "" }
        return items.dropLast().joined(separator: ", ") + " \(conjunction) " + last
    }

    private static func counted(_ count: Int, _ noun: String) -> String {
        count == 1 ? "1 \(noun)" : "\(count) \(noun)s"
    }

    /// Whole numbers without `.0`, so that messages read like the schema that was written.
    private static func format(_ number: Double) -> String {
        number == number.rounded() && abs(number) < 1e15 ? String(Int64(number)) : String(number)
    }

    /// Compact JSON for messages, with object keys sorted so that messages are stable.
    private static func render(_ value: JSONValue) -> String {
        switch value {
        case .null: "null"
        case .bool(let bool): bool ? "true" : "false"
        case .number(let number): format(number)
        case .string(let string): quote(string)
        case .array(let elements): "[" + elements.map(render).joined(separator: ", ") + "]"
        case .object(let object):
            "{" + object.sorted { $0.key < $1.key }.map { quote($0.key) + ": " + render($0.value) }
                .joined(separator: ", ") + "}"
        }
    }

    private static func quote(_ string: String) -> String { string.jsonQuoted }
}

extension JSONSchemaValidator {
    // Helpers as statics rather than JSONValue extensions, so they cannot clash with the repo's own.
    private static func hasType(_ value: JSONValue, _ type: String) -> Bool {
        switch (type, value) {
        case ("null", .null), ("boolean", .bool), ("string", .string), ("array", .array), ("object", .object),
            ("number", .number):
            true
        case ("integer", .number(let number)): number.isFinite && number == number.rounded()
        default: false
        }
    }

    private static func numeric(_ keyword: JSONValue?) -> Double? {
        if case .number(let number) = keyword { number } else { nil }
    }

    /// A non-negative whole number, as `minLength` and friends require.
    private static func wholeNumber(_ keyword: JSONValue?) -> Int? {
        guard case .number(let number) = keyword, number >= 0, number == number.rounded(), number < 1e15 else {
            return nil
        }
        return Int(number)
    }
}
