import Runs
import AgentRuntime

/// Agent Protocol's `/agents/...` and, for `langgraph_sdk` clients, the same under LangGraph's `/assistants/...`.
struct AgentEndpoints {
    let catalog: AgentCatalog

    func register(in router: inout Router) {
        for (prefix, idName) in [("/agents", "agent_id"), ("/assistants", "assistant_id")] {
            let kind = prefix.dropFirst()
            router.add(Route("POST", "\(prefix)/search", operationID: "search_\(kind)", access: .scope("agents:read"),
                             summary: "List and filter \(kind)", doc: .agentSearch(String(kind)), handler: .inline { request, _ in
                try search(request)
            }))
            router.add(Route("GET", "\(prefix)/{\(idName)}", operationID: "get_\(kind.dropLast())", access: .scope("agents:read"),
                             summary: "One \(kind.dropLast()) by id", doc: .agentGet(String(kind.dropLast())), handler: .inline { _, context in
                .json(encodeJSON(AgentObject(try agent(context.parameter(idName)))))
            }))
            router.add(Route("GET", "\(prefix)/{\(idName)}/schemas", operationID: "get_\(kind.dropLast())_schemas", access: .scope("agents:read"),
                             summary: "JSON Schemas of an agent's input, output and state", doc: .agentSchemas(String(kind.dropLast())), handler: .inline { _, context in
                .json(encodeJSON(AgentSchemas(agent: try agent(context.parameter(idName)))))
            }))
        }
    }

    func agent(_ id: String) throws -> AgentDefinition {
        guard let agent = catalog.agent(id) else {
            throw APIError.notFound("No agent with id '\(id.prefix(100))'.", code: "agent_not_found")
        }
        return agent
    }

    func search(_ request: Request) throws -> Response {
        let query = try request.decodeJSON(SearchQuery.self, allowEmpty: true)
        let limit = query.limit ?? 10
        let offset = query.offset ?? 0
        guard (1...1000).contains(limit) else { throw APIError.invalid(field: "limit", "must be between 1 and 1000") }
        guard offset >= 0 else { throw APIError.invalid(field: "offset", "must be 0 or more") }
        let page = matches(query).dropFirst(offset).prefix(limit).map(AgentObject.init)
        return .json(encodeJSON(Array(page)))
    }

    func matches(_ query: SearchQuery) -> [AgentDefinition] {
        catalog.agents.filter { agent in
            (query.name.map { agent.name.localizedCaseInsensitiveContains($0) || agent.id == $0 } ?? true)
                && (query.graph_id.map { agent.id == $0 } ?? true)
                && JSONValue.object(agent.metadata).contains(query.metadata ?? [:])
        }
    }

    struct SearchQuery: Decodable {
        var name: String?
        var graph_id: String?
        var metadata: [String: JSONValue]?
        var limit: Int?
        var offset: Int?

        init(name: String? = nil, graph_id: String? = nil, metadata: [String: JSONValue]? = nil, limit: Int? = nil, offset: Int? = nil) {
            self.name = name
            self.graph_id = graph_id
            self.metadata = metadata
            self.limit = limit
            self.offset = offset
        }
    }
}

/// One agent, readable both as an Agent Protocol `Agent` and as a LangGraph `Assistant`.
struct AgentObject: Encodable {
    var agent_id: String
    var assistant_id: String
    var graph_id: String
    var name: String
    var description: String
    var metadata: [String: JSONValue]
    var config: [String: JSONValue] = [:]
    var version = 1
    var capabilities: [String: Bool] = ["ap.io.messages": true, "ap.io.streaming": true]
    var model: String
    var tools: [String]

    init(_ agent: AgentDefinition) {
        agent_id = agent.id
        assistant_id = agent.id
        graph_id = agent.id
        name = agent.name
        description = agent.description
        metadata = agent.metadata
        model = "\(agent.model.provider.rawValue)/\(agent.model.name)"
        tools = agent.tools.map(\.spec.name)
    }
}

/// JSON Schemas of what a run takes and gives back (LangGraph's `/assistants/{id}/schemas`).
struct AgentSchemas: Encodable {
    var agent_id: String
    var graph_id: String
    var input_schema: JSONValue
    var output_schema: JSONValue
    var state_schema: JSONValue
    var config_schema: JSONValue

    init(agent: AgentDefinition) {
        agent_id = agent.id
        graph_id = agent.id
        let message: JSONValue = .object([
            "type": .string("object"),
            "required": .array([.string("role"), .string("content")]),
            "properties": .object([
                "role": .object(["type": .string("string"),
                                 "enum": .array(["user", "assistant", "system", "human", "ai"].map(JSONValue.string))]),
                "content": .object(["type": .string("string")]),
                "id": .object(["type": .string("string")]),
            ]),
        ])
        // Open, as LangGraph's state is: keys beside the messages are kept on the thread (up to 64 KiB).
        let state: JSONValue = .object([
            "type": .string("object"),
            "required": .array([.string("messages")]),
            "properties": .object(["messages": .object(["type": .string("array"), "items": message])]),
            "additionalProperties": .bool(true),
        ])
        input_schema = state
        output_schema = state
        state_schema = state
        config_schema = .object(["type": .string("object")])
    }
}
