import Foundation
import Testing
import AgentRuntime

// MARK: - Fixtures

private func json(_ text: String) -> JSONValue {
    try! JSONDecoder().decode(JSONValue.self, from: Data(text.utf8))
}

/// The message of the thrown OpenAPIActionError, or nil when `body` succeeds.
private func failure(_ body: () throws -> Any) -> String? {
    do {
        _ = try body()
        return nil
    } catch {
        return (error as? OpenAPIActionError)?.message ?? "unexpected error type: \(error)"
    }
}

private let petstore30 = json("""
{
  "openapi": "3.0.3",
  "info": {"title": "Petstore", "version": "1"},
  "paths": {
    "/pets": {
      "get": {
        "operationId": "listPets", "summary": "List pets", "description": "  Returns pets, newest first.\\n",
        "parameters": [
          {"name": "tags", "in": "query", "description": "Tags to filter by", "schema": {"type": "array", "items": {"type": "string"}}},
          {"name": "limit", "in": "query", "required": true, "schema": {"type": "integer", "maximum": 100}},
          {"$ref": "#/components/parameters/RequestID"}
        ]
      },
      "post": {"operationId": "createPet", "summary": "Create a pet", "requestBody": {"$ref": "#/components/requestBodies/NewPet"}}
    },
    "/pets/{petId}": {
      "parameters": [{"name": "petId", "in": "path", "required": true, "description": "path-level", "schema": {"type": "string"}}],
      "get": {
        "operationId": "showPetById",
        "parameters": [{"name": "petId", "in": "path", "required": true, "description": "The pet's id", "schema": {"type": "integer"}}]
      },
      "delete": {"operationId": "deletePet", "summary": "Delete a pet", "description": "Delete a pet"}
    }
  },
  "components": {
    "parameters": {"RequestID": {"name": "X-Request-ID", "in": "header", "schema": {"type": "string"}}},
    "requestBodies": {
      "NewPet": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/NewPet"}}}}
    },
    "schemas": {
      "NewPet": {
        "type": "object", "required": ["name"],
        "properties": {"name": {"type": "string"}, "owner": {"$ref": "#/components/schemas/Owner"}, "tag": {"type": "string", "nullable": true}}
      },
      "Owner": {"type": "object", "properties": {"name": {"type": "string"}, "address": {"$ref": "#/components/schemas/Address"}}},
      "Address": {"type": "object", "properties": {"city": {"type": "string"}}, "example": {"$ref": "data, not a reference"}}
    }
  }
}
""")

private let search31 = json("""
{
  "openapi": "3.1.0",
  "info": {"title": "Search", "version": "1"},
  "paths": {
    "/search": {"$ref": "#/components/pathItems/Search"},
    "/items/{id}/tags": {
      "put": {
        "operationId": "tagItem",
        "parameters": [
          {"name": "id", "in": "path", "required": true, "schema": {"type": "string"}},
          {"name": "tags", "in": "query", "explode": false, "schema": {"type": "array", "items": {"type": "string"}}},
          {"name": "X-Trace", "in": "header", "schema": {"type": "array", "items": {"type": "integer"}}}
        ],
        "requestBody": {"content": {"application/json; charset=utf-8": {"schema": {"type": "array", "items": {"type": "string"}}}}}
      }
    }
  },
  "components": {
    "pathItems": {
      "Search": {
        "post": {
          "operationId": "search", "description": "Full-text search.",
          "requestBody": {"required": true, "description": "What to find",
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/a~1b~0c", "title": "The query"}}}}
        }
      }
    },
    "schemas": {
      "a/b~c": {
        "type": "object",
        "properties": {"q": {"type": ["string", "null"], "nullable": true}, "enum": {"$ref": "#/components/schemas/Kind"}},
        "default": {"enum": {"$ref": "kept as data"}}
      },
      "Kind": {"type": "string", "enum": ["a", "b"]}
    }
  }
}
""")

/// A 3.0 document around one operation, for the refusals.
private func document(path: String = "/x", _ operation: String, components: String = "{}") -> JSONValue {
    json(#"{"openapi": "3.0.0", "info": {"title": "t", "version": "1"}, "paths": {"\#(path)": {"post": \#(operation)}}, "components": \#(components)}"#)
}

private let base = URL(string: "https://api.example.com/v2")!

private func action(_ id: String, in doc: JSONValue = petstore30) throws -> OpenAPIAction {
    try #require(try OpenAPIActions.load(doc, operations: [id], source: "pets").first)
}

// MARK: - Loading

@Test func loadsPetstoreOperationsInTheOrderAsked() throws {
    let actions = try OpenAPIActions.load(petstore30, operations: ["deletePet", "listPets"], source: "pets")
    #expect(actions.map(\.toolName) == ["pets__deletePet", "pets__listPets"])
    #expect(actions.map(\.method) == ["DELETE", "GET"])
    #expect(actions.map(\.pathTemplate) == ["/pets/{petId}", "/pets"])
    #expect(actions.map(\.description) == ["Delete a pet", "List pets\n\nReturns pets, newest first."])
    #expect(actions[1].parameters == json("""
    {"type": "object", "additionalProperties": false, "required": ["limit"], "properties": {
      "tags": {"type": "array", "items": {"type": "string"}, "description": "Tags to filter by"},
      "limit": {"type": "integer", "maximum": 100},
      "X-Request-ID": {"type": "string"}}}
    """))
    // The path-level parameter applies when the operation does not override it.
    #expect(actions[0].parameters == json("""
    {"type": "object", "additionalProperties": false, "required": ["petId"],
     "properties": {"petId": {"type": "string", "description": "path-level"}}}
    """))
}

@Test func operationLevelParameterWinsOverPathLevel() throws {
    #expect(try action("showPetById").parameters == json("""
    {"type": "object", "additionalProperties": false, "required": ["petId"],
     "properties": {"petId": {"type": "integer", "description": "The pet's id"}}}
    """))
}

@Test func requestBodyRefsAreInlinedRecursively() throws {
    let create = try action("createPet")
    #expect(create.description == "Create a pet")
    #expect(create.parameters == json("""
    {"type": "object", "additionalProperties": false, "required": ["body"], "properties": {"body": {
      "type": "object", "required": ["name"], "properties": {
        "name": {"type": "string"},
        "owner": {"type": "object", "properties": {
          "name": {"type": "string"},
          "address": {"type": "object", "properties": {"city": {"type": "string"}}, "example": {"$ref": "data, not a reference"}}}},
        "tag": {"type": ["string", "null"]}}}}}
    """))
}

@Test func openAPI31PathItemRefSiblingsEscapedPointersAndNames() throws {
    let search = try action("search", in: search31)
    #expect(search.method == "POST" && search.pathTemplate == "/search" && search.description == "Full-text search.")
    // `enum` under `properties` is a property name (resolved), under `default` it is data (kept); 3.1 keeps `nullable`.
    #expect(search.parameters == json("""
    {"type": "object", "additionalProperties": false, "required": ["body"], "properties": {"body": {
      "type": "object", "title": "The query", "description": "What to find",
      "properties": {"q": {"type": ["string", "null"], "nullable": true}, "enum": {"type": "string", "enum": ["a", "b"]}},
      "default": {"enum": {"$ref": "kept as data"}}}}}
    """))
    #expect(try action("tagItem", in: search31).parameters == json("""
    {"type": "object", "additionalProperties": false, "required": ["id"], "properties": {
      "id": {"type": "string"}, "tags": {"type": "array", "items": {"type": "string"}},
      "X-Trace": {"type": "array", "items": {"type": "integer"}}, "body": {"type": "array", "items": {"type": "string"}}}}
    """))
}

@Test func descriptionIsCappedAndFallsBackToMethodAndPath() throws {
    let long = String(repeating: "x", count: 2000)
    let doc = document(#"{"operationId": "op", "summary": "\#(long)"}"#)
    #expect(try action("op", in: doc).description == String(repeating: "x", count: 1024))
    #expect(try action("op", in: document(#"{"operationId": "op"}"#)).description == "POST /x")
}

// MARK: - Tool names

@Test func toolNamesAreSanitizedAndBounded() {
    #expect(OpenAPIActions.toolName(source: "pets", operationID: "listPets") == "pets__listPets")
    #expect(OpenAPIActions.toolName(source: "my api", operationID: "get.pet/{id}") == "my_api__get_pet__id_")
    #expect(OpenAPIActions.toolName(source: "s", operationID: "café-1") == "s__caf_-1")
    let exact = "svc__" + String(repeating: "a", count: 59)
    #expect(OpenAPIActions.toolName(source: "svc", operationID: String(repeating: "a", count: 59)) == exact)
    // FNV-1a 32 of the full name, computed independently.
    #expect(OpenAPIActions.toolName(source: "svc", operationID: String(repeating: "a", count: 100))
        == "svc__" + String(repeating: "a", count: 50) + "_2221dbff")
    #expect(OpenAPIActions.toolName(source: "svc", operationID: String(repeating: "b", count: 100))
        == "svc__" + String(repeating: "b", count: 50) + "_f584ca4b")
    // Names equal after sanitizing and truncation still differ by hash.
    let dotted = OpenAPIActions.toolName(source: "svc", operationID: String(repeating: "a", count: 99) + ".")
    let underscored = OpenAPIActions.toolName(source: "svc", operationID: String(repeating: "a", count: 99) + "_")
    #expect(dotted != underscored && dotted.count == 64 && underscored.count == 64)
    for name in [dotted, underscored, OpenAPIActions.toolName(source: "ü", operationID: String(repeating: "€", count: 80))] {
        #expect(name.range(of: "^[a-zA-Z0-9_-]{1,64}$", options: .regularExpression) != nil)
    }
}

@Test func longOperationIDGetsAStableHashedToolName() throws {
    let id = String(repeating: "a", count: 100)
    // FNV-1a 32 of "pets__" + 100 × "a", computed independently.
    #expect(try action(id, in: document(#"{"operationId": "\#(id)"}"#)).toolName == "pets__" + String(repeating: "a", count: 49) + "_d3b08df9")
}

// MARK: - Refusals at load

@Test func refusesDocumentsThatAreNotOpenAPI3() {
    #expect(failure { try OpenAPIActions.load(json(#"{"swagger": "2.0", "paths": {}}"#), operations: ["a"], source: "old") }
        == "old: not an OpenAPI 3.x document (Swagger 2.0)")
    #expect(failure { try OpenAPIActions.load(json(#"{"openapi": "4.0"}"#), operations: [], source: "s") }
        == "s: not an OpenAPI 3.x document (openapi: 4.0)")
    #expect(failure { try OpenAPIActions.load(json(#"{"paths": {}}"#), operations: [], source: "s") } == "s: not an OpenAPI 3.x document (no 'openapi' field)")
    #expect(failure { try OpenAPIActions.load(json("[1]"), operations: [], source: "s") } != nil)
}

@Test func missingOperationNamesSomeThatExist() {
    #expect(failure { try OpenAPIActions.load(petstore30, operations: ["listPets", "getPet"], source: "pets") }
        == "pets: operationId 'getPet' not found; the document has: createPet, deletePet, listPets, showPetById")
}

@Test func refusesNonLocalRefs() {
    for ref in ["https://example.com/pet.json", "./pet.yaml#/Pet", "pet.json", "#Pet"] {
        let doc = document(#"{"operationId": "op", "parameters": [{"name": "q", "in": "query", "schema": {"$ref": "\#(ref)"}}]}"#)
        #expect(failure { try action("op", in: doc) } == "pets: operation 'op' (POST /x): $ref '\(ref)' is not supported: only references within the document, such as '#/components/schemas/Pet'")
    }
    let parameterRef = document(#"{"operationId": "op", "parameters": [{"$ref": "common.yaml#/components/parameters/Q"}]}"#)
    #expect(failure { try action("op", in: parameterRef) }?.contains("$ref 'common.yaml#/components/parameters/Q' is not supported") == true)
    let dangling = document(##"{"operationId": "op", "requestBody": {"$ref": "#/components/requestBodies/Nope"}}"##)
    #expect(failure { try action("op", in: dangling) } == "pets: operation 'op' (POST /x): $ref '#/components/requestBodies/Nope' points to nothing in the document")
}

@Test func refusesRefCycles() {
    let body = ##"{"operationId": "op", "requestBody": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/A"}}}}}"##
    let mutual = document(body, components: ##"{"schemas": {"A": {"properties": {"b": {"$ref": "#/components/schemas/B"}}}, "B": {"items": {"$ref": "#/components/schemas/A"}}}}"##)
    #expect(failure { try action("op", in: mutual) }
        == "pets: operation 'op' (POST /x): $ref cycle: #/components/schemas/A -> #/components/schemas/B -> #/components/schemas/A")
    let tree = document(body, components: ##"{"schemas": {"A": {"type": "object", "properties": {"children": {"type": "array", "items": {"$ref": "#/components/schemas/A"}}}}}}"##)
    #expect(failure { try action("op", in: tree) } == "pets: operation 'op' (POST /x): $ref cycle: #/components/schemas/A -> #/components/schemas/A")
    let parameters = document(##"{"operationId": "op", "parameters": [{"$ref": "#/components/parameters/P"}]}"##,
                              components: ##"{"parameters": {"P": {"$ref": "#/components/parameters/Q"}, "Q": {"$ref": "#/components/parameters/P"}}}"##)
    #expect(failure { try action("op", in: parameters) }
        == "pets: operation 'op' (POST /x): $ref cycle: #/components/parameters/P -> #/components/parameters/Q -> #/components/parameters/P")
}

@Test func refusesSchemasThatExplodeWhenInlined() {
    // Each level references the previous one ten times: 10^6 copies of a 1 KB description if inlined.
    let text = String(repeating: "x", count: 1000)
    var schemas = [#""L0": {"type": "string", "description": "\#(text)"}"#]
    for level in 1...6 {
        let refs = Array(repeating: ##"{"$ref": "#/components/schemas/L\##(level - 1)"}"##, count: 10).joined(separator: ",")
        schemas.append(#""L\#(level)": {"anyOf": [\#(refs)]}"#)
    }
    let doc = document(##"{"operationId": "op", "parameters": [{"name": "q", "in": "query", "schema": {"$ref": "#/components/schemas/L6"}}]}"##,
                       components: #"{"schemas": {\#(schemas.joined(separator: ","))}}"#)
    #expect(failure { try action("op", in: doc) } == "pets: operation 'op' (POST /x): the arguments schema is too large once $refs are inlined")
    let wide = document(##"{"operationId": "op", "parameters": [{"name": "q", "in": "query", "schema": {"$ref": "#/components/schemas/L2"}}]}"##,
                        components: #"{"schemas": {\#(schemas.joined(separator: ","))}}"#)
    #expect(failure { try action("op", in: wide) } == "pets: operation 'op' (POST /x): the arguments schema is larger than 64 KiB once $refs are inlined")
}

@Test func refusesSchemasNestedTooDeeply() throws {
    let deep = String(repeating: #"{"items": "#, count: 200) + "{}" + String(repeating: "}", count: 200)
    let doc = document(#"{"operationId": "op", "parameters": [{"name": "q", "in": "query", "schema": \#(deep)}]}"#)
    #expect(failure { try action("op", in: doc) } == "pets: operation 'op' (POST /x): the arguments schema nests deeper than 128 levels")
    let fine = String(repeating: #"{"items": "#, count: 100) + "{}" + String(repeating: "}", count: 100)
    #expect(try action("op", in: document(#"{"operationId": "op", "parameters": [{"name": "q", "in": "query", "schema": \#(fine)}]}"#)).toolName == "pets__op")
}

@Test func emptySelectionLoadsNothing() throws {
    #expect(try OpenAPIActions.load(petstore30, operations: [], source: "pets").isEmpty)
}

@Test func refusesUnsupportedParameters() {
    func refusal(_ parameters: String, path: String = "/x") -> String? {
        failure { try action("op", in: document(path: path, #"{"operationId": "op", "parameters": \#(parameters)}"#)) }
    }
    let prefix = "pets: operation 'op' (POST /x): "
    #expect(refusal(#"[{"name": "session", "in": "cookie", "schema": {"type": "string"}}]"#) == prefix + "cookie parameter 'session' is not supported")
    #expect(refusal(#"[{"name": "body", "in": "query"}]"#) == prefix + "a query parameter is named 'body', which is reserved for the request body")
    #expect(refusal(#"[{"name": "id", "in": "query"}, {"name": "id", "in": "header"}]"#)
        == prefix + "the name 'id' is used by two parameters in different locations")
    #expect(refusal(#"[{"name": "id", "in": "query"}, {"name": "id", "in": "query"}]"#) == prefix + "parameter 'id' in query is declared twice")
    #expect(refusal(#"[{"name": "f", "in": "query", "style": "deepObject"}]"#)
        == prefix + "parameter 'f' uses style 'deepObject'; only 'form' is supported for query parameters")
    #expect(refusal(#"[{"name": "f", "in": "query", "content": {"application/json": {}}}]"#)
        == prefix + "parameter 'f' uses 'content' instead of 'schema', which is not supported")
    for name in ["Authorization", "content-type", "Accept", "Host", "Content-Length", "Cookie", "Transfer-Encoding", "Connection", "Proxy-Authorization"] {
        #expect(refusal(#"[{"name": "\#(name)", "in": "header"}]"#) == prefix + "header parameter '\(name)' is not allowed: the HTTP client sets that header")
    }
    for name in ["X Bad", "X:Y", "Ünicode"] {
        #expect(refusal(#"[{"name": "\#(name)", "in": "header"}]"#) == prefix + "header parameter '\(name)' is not a valid header name")
    }
    #expect(failure { try action("op", in: document(path: "/x/{id}", #"{"operationId": "op"}"#)) }
        == "pets: operation 'op' (POST /x/{id}): the path has {id} but no path parameter 'id' is declared")
    #expect(refusal(#"[{"name": "id", "in": "path"}]"#) == prefix + "path parameter 'id' does not appear in the path")
}

@Test func refusesRequiredBodiesWithoutJSON() throws {
    let odd = document(#"{"operationId": "op", "requestBody": {"required": true, "content": {"": {}, ";": {}}}}"#)
    #expect(failure { try action("op", in: odd) } == "pets: operation 'op' (POST /x): the request body is required but has no application/json content (has: , ;)")
    let doc = document(#"{"operationId": "op", "requestBody": {"required": true, "content": {"multipart/form-data": {}}}}"#)
    #expect(failure { try action("op", in: doc) }
        == "pets: operation 'op' (POST /x): the request body is required but has no application/json content (has: multipart/form-data)")
    // An optional non-JSON body is left out: the tool can still call the operation without it.
    let optional = document(#"{"operationId": "op", "requestBody": {"content": {"text/plain": {}}}}"#)
    #expect(try action("op", in: optional).parameters == json(#"{"type": "object", "properties": {}, "additionalProperties": false}"#))
}

@Test func refusesTwoOperationsWithTheSameToolName() {
    let doc = json(#"{"openapi": "3.0.0", "paths": {"/a": {"get": {"operationId": "a.b"}, "put": {"operationId": "a_b"}}}}"#)
    #expect(failure { try OpenAPIActions.load(doc, operations: ["a.b", "a_b"], source: "s") } == "s: operations 'a.b' and 'a_b' would both be tool 's__a_b'")
}

// MARK: - Requests

@Test func buildsQueryWithRepeatedArraysAndHeaders() throws {
    let list = try action("listPets")
    let request = try list.request(["tags": ["a b", "c&d=é"], "limit": 10, "X-Request-ID": "r-1"], baseURL: base)
    #expect(request == OpenAPIRequest(method: "GET", url: URL(string: "https://api.example.com/v2/pets?tags=a%20b&tags=c%26d%3D%C3%A9&limit=10")!,
                                      headers: [("Accept", "application/json"), ("X-Request-ID", "r-1")], body: nil))
    // Absent and null optional parameters are omitted; an empty array sends nothing.
    #expect(try list.request(["limit": 2.5, "X-Request-ID": .null, "tags": []], baseURL: base)
        == OpenAPIRequest(method: "GET", url: URL(string: "https://api.example.com/v2/pets?limit=2.5")!, headers: [("Accept", "application/json")], body: nil))
    #expect(try list.request(["limit": 3.0, "tags": [true, 1e20, -0.5]], baseURL: base).url.absoluteString
        == "https://api.example.com/v2/pets?tags=true&tags=1e%2B20&tags=-0.5&limit=3")
}

@Test func requestTimeRefusalsForQueryAndArguments() throws {
    let list = try action("listPets")
    #expect(failure { try list.request(["tags": ["a"]], baseURL: base) } == "missing required argument 'limit'")
    #expect(failure { try list.request(["limit": .null], baseURL: base) } == "missing required argument 'limit'")
    #expect(failure { try list.request(["limit": 1, "sort": "x"], baseURL: base) } == "unknown argument 'sort'; expected: X-Request-ID, limit, tags")
    #expect(failure { try list.request(["limit": ["a": 1]], baseURL: base) }
        == "query parameter 'limit' must be a string, number, boolean or an array of those")
    #expect(failure { try list.request(["limit": [[1]]], baseURL: base) }
        == "query parameter 'limit' must be a string, number, boolean or an array of those")
}

@Test func pathValuesAreOneEncodedSegmentUnderTheBasePath() throws {
    let show = try action("showPetById")
    func url(_ id: JSONValue, _ baseURL: URL = base) throws -> String { try show.request(["petId": id], baseURL: baseURL).url.absoluteString }
    #expect(try url(42) == "https://api.example.com/v2/pets/42")
    #expect(try url(42.0, URL(string: "https://api.example.com/v2/")!) == "https://api.example.com/v2/pets/42")
    #expect(try url(1.5, URL(string: "https://api.example.com")!) == "https://api.example.com/pets/1.5")
    #expect(try url(-7, URL(string: "http://localhost:8080/api/v1")!) == "http://localhost:8080/api/v1/pets/-7")
    #expect(try url("a/b?c#d%") == "https://api.example.com/v2/pets/a%2Fb%3Fc%23d%25")
    #expect(try url("chat noir é+~") == "https://api.example.com/v2/pets/chat%20noir%20%C3%A9%2B~")
    #expect(try url("...") == "https://api.example.com/v2/pets/...")
    #expect(try url(false) == "https://api.example.com/v2/pets/false")
    let request = try show.request(["petId": "a/b?c#d%"], baseURL: base)
    #expect(request.url.pathComponents == ["/", "v2", "pets", "a/b?c#d%"])
    #expect(request.url.query == nil && request.url.fragment == nil)
}

@Test func pathValuesThatCouldEscapeAreRefused() throws {
    let show = try action("showPetById")
    let message = "path parameter 'petId' must not be empty, '.' or '..', nor contain '.' or '..' between slashes"
    for value in ["", ".", "..", "../", "../admin", "a/../../b", "./x", "x/..", "..\\x", "..%2Fadmin", "%2E%2E", "a%2F.."] {
        #expect(failure { try show.request(["petId": .string(value)], baseURL: base) } == message, "\(value)")
    }
    #expect(failure { try show.request([:], baseURL: base) } == "missing required argument 'petId'")
    #expect(failure { try show.request(["petId": [1]], baseURL: base) } == "path parameter 'petId' must be a string, number or boolean")
    #expect(failure { try show.request(["petId": 1], baseURL: URL(string: "https://api.example.com/v2?key=1")!) }
        == "the base URL https://api.example.com/v2?key=1 must be an http(s) URL without query or fragment")
    #expect(failure { try show.request(["petId": 1], baseURL: URL(string: "file:///etc")!) } != nil)
}

@Test func documentPathsThatLeaveTheBasePathAreRefused() throws {
    let up = try action("op", in: document(path: "/../admin", #"{"operationId": "op"}"#))
    #expect(failure { try up.request([:], baseURL: base) } == "the request path /admin leaves the base path /v2")
    let sibling = try action("op", in: document(path: "/../v2x", #"{"operationId": "op"}"#))
    #expect(failure { try sibling.request([:], baseURL: base) } == "the request path /v2x leaves the base path /v2")
}

@Test func headerValuesWithControlCharactersAreRefused() throws {
    let list = try action("listPets")
    let message = "header parameter 'X-Request-ID' must not contain control characters (CR, LF, NUL...)"
    for value in ["a\r\nX-Evil: 1", "a\nb", "a\rb", "a\u{0}b", "\u{7F}"] {
        #expect(failure { try list.request(["limit": 1, "X-Request-ID": .string(value)], baseURL: base) } == message)
    }
    #expect(try list.request(["limit": 1, "X-Request-ID": "tab\tok"], baseURL: base).headers.last! == ("X-Request-ID", "tab\tok"))
}

@Test func bodyIsJSONWithContentType() throws {
    let create = try action("createPet")
    let request = try create.request(["body": ["name": "Rex/1", "owner": ["name": "Ann"], "age": 3, "weight": 4.5, "tag": .null]], baseURL: base)
    #expect(request == OpenAPIRequest(
        method: "POST", url: URL(string: "https://api.example.com/v2/pets")!,
        headers: [("Accept", "application/json"), ("Content-Type", "application/json")],
        body: Array(#"{"age":3,"name":"Rex/1","owner":{"name":"Ann"},"tag":null,"weight":4.5}"#.utf8)))
    #expect(failure { try create.request([:], baseURL: base) } == "missing required argument 'body'")
    #expect(failure { try create.request(["body": .null], baseURL: base) } == "missing required argument 'body'")
}

@Test func openAPI31RequestWithFormArraysHeaderListsAndOptionalBody() throws {
    let tag = try action("tagItem", in: search31)
    #expect(try tag.request(["id": "x 1", "tags": ["a", "b,c"], "X-Trace": [1, 2], "body": ["red"]], baseURL: base) == OpenAPIRequest(
        method: "PUT", url: URL(string: "https://api.example.com/v2/items/x%201/tags?tags=a,b%2Cc")!,
        headers: [("Accept", "application/json"), ("Content-Type", "application/json"), ("X-Trace", "1,2")], body: Array(#"["red"]"#.utf8)))
    #expect(try tag.request(["id": "x"], baseURL: base) == OpenAPIRequest(
        method: "PUT", url: URL(string: "https://api.example.com/v2/items/x/tags")!, headers: [("Accept", "application/json")], body: nil))
}

@Test func requestEqualityComparesHeadersInOrder() {
    let url = URL(string: "https://a.example")!
    let a = OpenAPIRequest(method: "GET", url: url, headers: [("A", "1"), ("B", "2")], body: nil)
    #expect(a == OpenAPIRequest(method: "GET", url: url, headers: [("A", "1"), ("B", "2")], body: nil))
    #expect(a != OpenAPIRequest(method: "GET", url: url, headers: [("B", "2"), ("A", "1")], body: nil))
    #expect(a != OpenAPIRequest(method: "GET", url: url, headers: [("A", "1"), ("B", "3")], body: nil))
    #expect(a != OpenAPIRequest(method: "GET", url: url, headers: [("A", "1"), ("B", "2")], body: []))
}
