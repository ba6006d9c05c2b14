import Testing

@testable import AgentRuntime

@Suite struct JSONSchemaValidatorTests {
    /// The messages of validating `value` against `schema`, as `path: message`.
    func problems(_ value: JSONValue, _ schema: JSONValue, path: String = "") -> [String] {
        JSONSchemaValidator.validate(value, against: schema, path: path).map(\.description)
    }

    @Test func typeChecksEachKind() {
        let cases: [(String, JSONValue, JSONValue)] = [
            ("object", .object([:]), .array([])), ("array", .array([]), .object([:])),
            ("string", .string("x"), .number(1)), ("number", .number(1.5), .string("1.5")),
            ("integer", .number(3), .number(3.5)), ("boolean", .bool(true), .null), ("null", .null, .bool(false)),
        ]
        for (type, good, bad) in cases {
            #expect(problems(good, ["type": .string(type)]).isEmpty, "\(type)")
            #expect(problems(bad, ["type": .string(type)]).count == 1, "\(type)")
        }
        #expect(problems(.number(1), ["type": "string"]) == ["must be a string"])
        #expect(problems(.number(1.5), ["type": "integer"]) == ["must be an integer"])
        #expect(problems(.string("1"), ["type": "object"]) == ["must be an object"])
        #expect(problems(.string("1"), ["type": "null"]) == ["must be null"])
    }

    @Test func integerIsAWholeNumberAndStillANumber() {
        #expect(problems(.number(2.0), ["type": "integer"]).isEmpty)
        #expect(problems(.number(-7), ["type": "integer"]).isEmpty)
        #expect(problems(.number(2.5), ["type": "integer"]) == ["must be an integer"])
        #expect(problems(.number(2), ["type": "number"]).isEmpty)
        #expect(problems(.bool(true), ["type": "number"]) == ["must be a number"])
    }

    @Test func typeMayBeAList() {
        let schema: JSONValue = ["type": ["string", "null"]]
        #expect(problems(.null, schema).isEmpty)
        #expect(problems(.string("x"), schema).isEmpty)
        #expect(problems(.number(1), schema) == ["must be a string or null"])
        #expect(
            problems(.bool(true), ["type": ["string", "integer", "null"]]) == ["must be a string, an integer or null"])
    }

    @Test func aWrongTypeStopsTheOtherChecks() {
        #expect(problems(.number(5), ["type": "string", "minLength": 10, "enum": ["a"]]) == ["must be a string"])
    }

    @Test func enumAndConst() {
        let choice: JSONValue = ["enum": ["a", "b"]]
        #expect(problems("a", choice).isEmpty)
        #expect(problems("c", choice) == [#"must be one of: "a", "b""#])
        #expect(problems(.number(2), ["enum": [1, "two", .null]]) == [#"must be one of: 1, "two", null"#])
        #expect(problems(.number(1.0), ["enum": [1]]).isEmpty)
        #expect(problems("x", ["const": "x"]).isEmpty)
        #expect(problems("y", ["const": "x"]) == [#"must be "x""#])
        #expect(problems(["a": 1], ["const": ["a": 2]]) == [#"must be {"a": 2}"#])
    }

    @Test func numericBounds() {
        let schema: JSONValue = ["minimum": 1, "maximum": 10]
        #expect(problems(.number(1), schema).isEmpty)
        #expect(problems(.number(10), schema).isEmpty)
        #expect(problems(.number(0), schema) == ["must be at least 1"])
        #expect(problems(.number(10.5), schema) == ["must be at most 10"])
        let exclusive: JSONValue = ["exclusiveMinimum": 0, "exclusiveMaximum": 1.5]
        #expect(problems(.number(0.5), exclusive).isEmpty)
        #expect(problems(.number(0), exclusive) == ["must be greater than 0"])
        #expect(problems(.number(1.5), exclusive) == ["must be less than 1.5"])
        // Bounds only concern numbers.
        #expect(problems("0", schema).isEmpty)
    }

    @Test func stringLengthCountsCharacters() {
        let schema: JSONValue = ["minLength": 2, "maxLength": 3]
        #expect(problems("ab", schema).isEmpty)
        #expect(problems("héé", schema).isEmpty)
        #expect(problems("👍🏽👍🏽", schema).isEmpty)
        #expect(problems("a", schema) == ["must be at least 2 characters long"])
        #expect(problems("abcd", schema) == ["must be at most 3 characters long"])
        #expect(problems("", ["minLength": 1]) == ["must be at least 1 character long"])
    }

    @Test func pattern() {
        let schema: JSONValue = ["pattern": "^[a-z]+$"]
        #expect(problems("abc", schema).isEmpty)
        #expect(problems("aBc", schema) == ["does not match pattern ^[a-z]+$"])
        // Unanchored, as in JSON Schema.
        #expect(problems("x-42-y", ["pattern": "[0-9]+"]).isEmpty)
        #expect(problems("abc", ["pattern": "([a-z"]) == ["schema pattern is invalid"])
    }

    @Test func arrays() {
        let schema: JSONValue = ["type": "array", "items": ["type": "integer"], "minItems": 1, "maxItems": 3]
        #expect(problems([1, 2, 3], schema).isEmpty)
        #expect(problems([], schema) == ["must have at least 1 item"])
        #expect(problems([1, 2, 3, 4], schema) == ["must have at most 3 items"])
        #expect(
            problems([1, "two", 3.5], schema, path: "ids") == ["ids[1]: must be an integer", "ids[2]: must be an integer"])
        #expect(problems([1, 2], ["minItems": 3]) == ["must have at least 3 items"])
    }

    @Test func objects() {
        let schema: JSONValue = [
            "type": "object",
            "properties": ["name": ["type": "string"], "age": ["type": "integer"]],
            "required": ["name", "age"],
        ]
        #expect(problems(["name": "Ada", "age": 36], schema).isEmpty)
        #expect(problems(["name": "Ada"], schema) == ["age: is required"])
        #expect(
            problems(["name": "Ada", "age": "36"], schema, path: "arguments") == ["arguments.age: must be an integer"])
        // Without additionalProperties, extra members are fine.
        #expect(problems(["name": "Ada", "age": 36, "extra": true], schema).isEmpty)
    }

    @Test func additionalProperties() {
        let closed: JSONValue = ["properties": ["a": [:]], "additionalProperties": false]
        #expect(problems(["a": 1], closed).isEmpty)
        #expect(problems(["a": 1, "b": 2, "c": 3], closed) == ["b: is not allowed", "c: is not allowed"])
        let typed: JSONValue = ["properties": ["a": [:]], "additionalProperties": ["type": "number"]]
        #expect(problems(["a": "x", "b": 2], typed).isEmpty)
        #expect(problems(["b": "2"], typed, path: "tags") == ["tags.b: must be a number"])
    }

    @Test func nestedPaths() {
        let schema: JSONValue = [
            "properties": [
                "a": ["properties": ["b": ["items": ["properties": ["c": ["type": "string"]], "required": ["d"]]]]]
            ]
        ]
        let value: JSONValue = ["a": ["b": [["c": "ok", "d": 1], ["c": 2, "d": 1], ["c": "ok"]]]]
        let violations = JSONSchemaValidator.validate(value, against: schema)
        #expect(violations == [
            SchemaViolation(path: "a.b[1].c", message: "must be a string"),
            SchemaViolation(path: "a.b[2].d", message: "is required"),
        ])
        #expect(problems([1, "x"], ["items": ["type": "number"]]) == ["[1]: must be a number"])
        #expect(
            problems(["odd key": 1], ["additionalProperties": false], path: "args") == [#"args["odd key"]: is not allowed"#])
    }

    @Test func severalViolationsAtOnce() {
        let schema: JSONValue = [
            "type": "object",
            "properties": [
                "query": ["type": "string", "minLength": 1],
                "limit": ["type": "integer", "minimum": 1, "maximum": 100],
                "sort": ["enum": ["asc", "desc"]],
            ],
            "required": ["query", "sort"],
            "additionalProperties": false,
        ]
        let value: JSONValue = ["query": "", "limit": 500, "debug": true]
        #expect(problems(value, schema, path: "arguments") == [
            "arguments.sort: is required",
            "arguments.debug: is not allowed",
            "arguments.limit: must be at most 100",
            "arguments.query: must be at least 1 character long",
        ])
    }

    @Test func annotationsAndUnknownKeywordsAreIgnored() {
        let schema: JSONValue = [
            "title": "T", "description": "D", "default": 3, "examples": [1], "format": "email", "x-custom": true,
        ]
        #expect(problems("anything", schema).isEmpty)
    }

    @Test func booleanSchemas() {
        #expect(problems(.number(1), true).isEmpty)
        #expect(problems(.number(1), false, path: "x") == ["x: is not allowed"])
    }

    @Test func descriptionOmitsAnEmptyPath() {
        #expect(SchemaViolation(path: "", message: "must be a string").description == "must be a string")
        #expect(SchemaViolation(path: "a.b", message: "is required").description == "a.b: is required")
    }
}
