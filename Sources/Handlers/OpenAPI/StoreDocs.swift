import AgentRuntime

/// LangGraph's store (`StoreEndpoints`) and its bodies.
extension OpenAPIDocument.Operation {
    static let storePut = OpenAPIDocument.Operation(
        tag: "store",
        description: "Creates the item or replaces its value and `ttl` (`created_at` stays). `value`: a JSON object of at most 1 MiB (413 beyond). `namespace`: 1 to 10 labels, each 1-256 characters without `.`. `ttl`: minutes (as langgraph-sdk sends it); the item expires that long after its last write or read, and is invisible from then on. `index` is accepted and is a no-op: every string of the value is indexed for the text search. Per tenant.",
        body: .json("StorePut"), responses: [(204, "Stored", .empty)], problems: OpenAPIDocument.bodyProblems)
    static let storeGet = OpenAPIDocument.Operation(
        tag: "store",
        description: "The item, unless it expired. Reading starts its `ttl` again unless `refresh_ttl=false`. The query string is at most 4 KB (a 414 problem beyond): an item whose namespace and key are longer is found with a search.",
        body: nil,
        parameters: [
            // Lengths the 4 KB query can hold percent-encoded; longer ones are a 414 problem from the app, not nginx's page.
            OpenAPIDocument.Parameter(name: "namespace", location: "query", schema: ["type": "string", "minLength": 1, "maxLength": 256],
                                      description: "The labels joined by `.` (as langgraph-sdk sends them).", required: true),
            OpenAPIDocument.Parameter(name: "key", location: "query", schema: ["type": "string", "minLength": 1, "maxLength": 256],
                                      description: "The item's key.", required: true),
            OpenAPIDocument.Parameter(name: "refresh_ttl", location: "query", schema: ["type": "string", "enum": ["true", "false"], "default": "true"],
                                      description: "false: read without starting the item's time to live again."),
        ],
        responses: [(200, "The item", .json("StoreItem"))], problems: [404, 414, 422])
    static let storeDelete = OpenAPIDocument.Operation(
        tag: "store", description: "204 whether or not the item was there.", body: .json("StoreItemRef"),
        responses: [(204, "Deleted", .empty)], problems: OpenAPIDocument.bodyProblems)
    static let storeSearch = OpenAPIDocument.Operation(
        tag: "store",
        description: "Items in the namespace prefix and below. `filter`: top-level keys of the value, each equal to a value or compared with `$eq`, `$ne`, `$gt`, `$gte`, `$lt`, `$lte` (ranges compare numbers with numbers and strings with strings). `query`: a lexical full-text search (SQLite FTS5 with bm25, PostgreSQL `ts_rank`; English stemming), not a semantic one: items with any of its words, best first, each with its `score` (higher is better; scores of the two stores differ). Without `query` (or with an empty one), the most recently updated first. Found items start their `ttl` again unless `refresh_ttl` is false.",
        body: .optionalJSON("StoreSearch"), responses: [(200, "The items", .json("StoreSearchResponse"))],
        problems: OpenAPIDocument.bodyProblems)
    static let storeNamespaces = OpenAPIDocument.Operation(
        tag: "store",
        description: "The namespaces holding unexpired items, sorted; `prefix` and `suffix` match whole labels (`*`: any one label), `max_depth` cuts deeper namespaces to that many labels (each listed once).",
        body: .optionalJSON("StoreNamespacesRequest"), responses: [(200, "The namespaces", .json("StoreNamespacesResponse"))],
        problems: OpenAPIDocument.bodyProblems)
}

enum StoreSchemas {
    static let components: JSONValue = APISchemas.parse(#"""
    {
      "StoreNamespace": {
        "type": "array", "maxItems": 10, "description": "Labels: 1-256 characters each, no `.`.",
        "items": {"type": "string", "minLength": 1, "maxLength": 256, "pattern": "^[^.\\u0000]+$"}
      },
      "StorePut": {
        "type": "object", "required": ["namespace", "key", "value"],
        "properties": {
          "namespace": {"allOf": [{"$ref": "#/components/schemas/StoreNamespace"}], "minItems": 1},
          "key": {"type": "string", "minLength": 1, "maxLength": 1024},
          "value": {"type": "object", "description": "At most 1 MiB as JSON."},
          "index": {"description": "Accepted, a no-op: every string of the value is indexed.",
                    "oneOf": [{"const": false}, {"type": "null"}, {"type": "array", "items": {"type": "string"}}]},
          "ttl": {"type": ["number", "null"], "exclusiveMinimum": 0, "maximum": 5256000, "description": "Minutes."}
        },
        "examples": [{"namespace": ["users", "u1"], "key": "prefs", "value": {"colour": "teal"}, "ttl": 60}]
      },
      "StoreItemRef": {
        "type": "object", "required": ["namespace", "key"],
        "properties": {
          "namespace": {"allOf": [{"$ref": "#/components/schemas/StoreNamespace"}], "minItems": 1},
          "key": {"type": "string", "minLength": 1, "maxLength": 1024}
        }
      },
      "StoreSearch": {
        "type": "object",
        "properties": {
          "namespace_prefix": {"anyOf": [{"$ref": "#/components/schemas/StoreNamespace"}, {"type": "null"}]},
          "filter": {"type": ["object", "null"], "maxProperties": 32,
                     "description": "`{\"key\": value}` or `{\"key\": {\"$gt\": 3}}`; operators $eq, $ne, $gt, $gte, $lt, $lte."},
          "limit": {"type": ["integer", "null"], "minimum": 1, "maximum": 1000, "default": 10},
          "offset": {"type": ["integer", "null"], "minimum": 0, "default": 0},
          "query": {"type": ["string", "null"], "maxLength": 1000, "description": "Words to look for (lexical, not semantic)."},
          "refresh_ttl": {"type": ["boolean", "null"], "default": true}
        }
      },
      "StoreNamespacesRequest": {
        "type": "object",
        "properties": {
          "prefix": {"anyOf": [{"$ref": "#/components/schemas/StoreNamespace"}, {"type": "null"}]},
          "suffix": {"anyOf": [{"$ref": "#/components/schemas/StoreNamespace"}, {"type": "null"}]},
          "max_depth": {"type": ["integer", "null"], "minimum": 1, "maximum": 10},
          "limit": {"type": ["integer", "null"], "minimum": 1, "maximum": 1000, "default": 100},
          "offset": {"type": ["integer", "null"], "minimum": 0, "default": 0}
        }
      },
      "StoreItem": {
        "type": "object", "required": ["namespace", "key", "value", "created_at", "updated_at"],
        "properties": {
          "namespace": {"type": "array", "items": {"type": "string"}},
          "key": {"type": "string"},
          "value": {"type": "object"},
          "created_at": {"type": "string", "format": "date-time"},
          "updated_at": {"type": "string", "format": "date-time"},
          "score": {"type": "number", "description": "Search with a `query` only: relevance, higher is better."}
        }
      },
      "StoreSearchResponse": {
        "type": "object", "required": ["items"],
        "properties": {"items": {"type": "array", "items": {"$ref": "#/components/schemas/StoreItem"}}}
      },
      "StoreNamespacesResponse": {
        "type": "object", "required": ["namespaces"],
        "properties": {"namespaces": {"type": "array", "items": {"type": "array", "items": {"type": "string"}}}}
      }
    }
    """#)
}
