import AgentRuntime

/// Stored assistants (`AssistantEndpoints`) and their bodies.
extension OpenAPIDocument.Operation {
    static let assistantCreate = OpenAPIDocument.Operation(
        tag: "agents",
        description: "An assistant runs a configured agent (`graph_id`) with settings from `context` and `config.configurable` (context wins): `instructions` (or `system_prompt`; replaces the agent's), `temperature`, `max_tokens` (at most the agent's), `top_p`, `tools` (a subset of the agent's). Never a model, provider, server or key: those are a 422. Per tenant; usable wherever an agent is (runs' `assistant_id`, `/v1` `model`, an `/mcp` tool). `assistant_id`: 1 to 64 letters, digits, `_` or `-` (a UUID when absent), never a configured agent's. At most 1,000 per tenant.",
        body: .json("AssistantCreate"), responses: [(200, "The assistant, version 1", .json("Agent"))],
        problems: OpenAPIDocument.bodyProblems + [404, 409])
    static let assistantUpdate = OpenAPIDocument.Operation(
        tag: "agents",
        description: "A new version with the given fields changed (metadata merged by key), made current. The result must still fit its agent. Configured agents are read-only (409).",
        body: .optionalJSON("AssistantUpdate"), responses: [(200, "The assistant at its new version", .json("Agent"))],
        problems: OpenAPIDocument.bodyProblems + [404, 409])
    static let assistantDelete = OpenAPIDocument.Operation(
        tag: "agents", description: "With every version. Runs already made keep the settings they were made with.", body: nil,
        parameters: [OpenAPIDocument.Parameter(name: "delete_threads", location: "query", schema: ["type": "string", "enum": ["true", "false"]],
                                               description: "true: also delete the threads whose metadata.assistant_id is this assistant (runs stamp it).")],
        responses: [(204, "Deleted", .empty)], problems: [404, 409, 422])
    static let assistantVersions = OpenAPIDocument.Operation(
        tag: "agents", description: "Newest first, each as it was made; a configured agent has its one version.",
        body: .optionalJSON("AssistantVersionsRequest"), responses: [(200, "The versions", .jsonArray("Agent"))],
        problems: OpenAPIDocument.bodyProblems + [404])
    static let assistantSetLatest = OpenAPIDocument.Operation(
        tag: "agents", description: "Makes an earlier (or later) version current again.", body: .json("AssistantSetLatest"),
        responses: [(200, "The assistant at that version", .json("Agent"))], problems: OpenAPIDocument.bodyProblems + [404, 409])
}

enum AssistantSchemas {
    static let components: JSONValue = APISchemas.parse(#"""
    {
      "AssistantSettings": {
        "type": "object", "additionalProperties": false,
        "description": "What an assistant changes of its agent.",
        "not": {"required": ["instructions", "system_prompt"]},
        "properties": {
          "instructions": {"type": "string", "maxLength": 16365, "description": "Replaces the agent's. At most 20,000 characters, and the object it is in at most 16 KiB as JSON (413 beyond): 16,365 ASCII characters alone."},
          "system_prompt": {"type": "string", "maxLength": 16364, "description": "The same as instructions; send one of them."},
          "temperature": {"type": "number", "minimum": 0, "maximum": 2},
          "max_tokens": {"type": "integer", "minimum": 1},
          "top_p": {"type": "number", "exclusiveMinimum": 0, "maximum": 1},
          "tools": {"type": "array", "items": {"type": "string"}, "uniqueItems": true}
        }
      },
      "AssistantConfig": {
        "type": "object", "additionalProperties": false,
        "properties": {"configurable": {"allOf": [{"$ref": "#/components/schemas/AssistantSettings"},
                                                  {"properties": {"instructions": {"maxLength": 16349}, "system_prompt": {"maxLength": 16348}},
                                                   "description": "config is at most 16 KiB as JSON too."}]},
                       "tags": {"type": "array", "maxItems": 50, "items": {"type": "string"}}}
      },
      "AssistantCreate": {
        "type": "object", "required": ["graph_id"],
        "properties": {
          "graph_id": {"type": "string", "description": "A configured agent's id."},
          "assistant_id": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$"},
          "config": {"$ref": "#/components/schemas/AssistantConfig"},
          "context": {"$ref": "#/components/schemas/AssistantSettings"},
          "metadata": {"type": "object"},
          "if_exists": {"type": "string", "enum": ["raise", "do_nothing"], "default": "raise"},
          "name": {"type": "string", "maxLength": 200, "default": "Untitled"},
          "description": {"type": "string", "maxLength": 2000}
        },
        "examples": [{"graph_id": "assistant", "name": "No calculator", "context": {"tools": [], "temperature": 0.2}}]
      },
      "AssistantUpdate": {
        "type": "object",
        "properties": {
          "graph_id": {"type": "string"},
          "config": {"$ref": "#/components/schemas/AssistantConfig"},
          "context": {"$ref": "#/components/schemas/AssistantSettings"},
          "metadata": {"type": "object", "description": "Merged into the current metadata by top-level key."},
          "name": {"type": "string", "maxLength": 200},
          "description": {"type": "string", "maxLength": 2000}
        }
      },
      "AssistantVersionsRequest": {
        "type": "object",
        "properties": {"metadata": {"type": "object"}, "limit": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 10},
                       "offset": {"type": "integer", "minimum": 0, "default": 0}}
      },
      "AssistantSetLatest": {
        "type": "object", "required": ["version"], "properties": {"version": {"type": "integer", "minimum": 1}}
      }
    }
    """#)
}

extension AssistantSchemas {
    /// What `AssistantSettings` checks against the agent: its tools (a source's by prefix) and its `max_tokens` cap,
    /// per `graph_id`; and instructions or system_prompt, not both, wherever each is given (context wins over
    /// config.configurable key by key, so the two places count together).
    static func complete(_ schemas: inout [String: JSONValue], catalog: AgentCatalog) {
        func limits(_ agents: [AgentDefinition]) -> JSONValue {
            // What every one of these agents allows.
            func common(_ sets: [Set<String>]) -> [String] {
                guard var result = sets.first else { return [] }
                for set in sets.dropFirst() { result.formIntersection(set) }
                return result.sorted()
            }
            let names = common(agents.map { Set($0.tools.map(\.spec.name)) })
            let prefixes = common(agents.map { Set($0.toolSources.map { ToolNames.namespaced($0.name, "") }) })
            var tool: [JSONValue] = names.isEmpty ? [] : [["enum": .array(names.map { JSONValue.string($0) })]]
            tool += prefixes.map { ["type": "string", "pattern": .string("^" + $0)] }
            let cap = agents.map { $0.model.maxTokens ?? 1_000_000 }.min() ?? 1_000_000
            let settings: JSONValue = ["properties": [
                "tools": tool.isEmpty ? ["maxItems": 0] : ["items": ["anyOf": .array(tool)]],
                "max_tokens": ["maximum": .number(Double(cap))],
            ]]
            return ["properties": ["context": settings, "config": ["properties": ["configurable": settings]]]]
        }
        func both(_ inConfig: String, _ inContext: String) -> JSONValue {
            ["not": ["required": ["config", "context"], "properties": [
                "config": ["type": "object", "required": ["configurable"],
                           "properties": ["configurable": ["type": "object", "required": [.string(inConfig)]]]],
                "context": ["type": "object", "required": [.string(inContext)]],
            ]]]
        }
        let perAgent: [JSONValue] = catalog.agents.map { agent in
            ["if": ["required": ["graph_id"], "properties": ["graph_id": ["const": .string(agent.id)]]], "then": limits([agent])]
        }
        let rules: [JSONValue] = perAgent + [both("instructions", "system_prompt"), both("system_prompt", "instructions")]
        if case .object(var create)? = schemas["AssistantCreate"] {
            create["allOf"] = .array(rules)
            schemas["AssistantCreate"] = .object(create)
        }
        if case .object(var update)? = schemas["AssistantUpdate"] {
            // Without graph_id the assistant keeps its agent, which the request does not name: what every agent allows.
            update["allOf"] = .array(rules + [["if": ["not": ["required": ["graph_id"]]], "then": limits(catalog.agents)]])
            schemas["AssistantUpdate"] = .object(update)
        }
    }
}
