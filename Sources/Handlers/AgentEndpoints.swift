import HTTPTypes
import AgentRuntime
import Foundation
import Runs
import Store

/// Agent Protocol's `/agents/...` and, for `langgraph_sdk` clients, the same under LangGraph's `/assistants/...`: the
/// configured agents (system assistants) and the caller's tenant's stored assistants, listed together.
struct AgentEndpoints {
    let resolver: AgentResolver

    func register(in router: inout Router) {
        for (prefix, idName) in [("/agents", "agent_id"), ("/assistants", "assistant_id")] {
            let kind = prefix.dropFirst()
            router.add(Route("POST", "\(prefix)/search", operationID: "search_\(kind)", access: .scope("agents:read"),
                             summary: "List and filter \(kind)", doc: .agentSearch(String(kind)), handler: .async { request, context in
                try await search(request, context)
            }))
            router.add(Route("GET", "\(prefix)/{\(idName)}", operationID: "get_\(kind.dropLast())", access: .scope("agents:read"),
                             summary: "One \(kind.dropLast()) by id", doc: .agentGet(String(kind.dropLast())), handler: .async { _, context in
                .json(encodeJSON(AssistantWire.object(try await resolver.describe(context.parameter(idName), tenant: context.tenant))))
            }))
            router.add(Route("GET", "\(prefix)/{\(idName)}/schemas", operationID: "get_\(kind.dropLast())_schemas", access: .scope("agents:read"),
                             summary: "JSON Schemas of an agent's input, output and state", doc: .agentSchemas(String(kind.dropLast())), handler: .async { _, context in
                let resolved = try await resolver.require(context.parameter(idName), tenant: context.tenant)
                return .json(encodeJSON(AgentSchemas(agent: resolved.agent, id: resolved.id)))
            }))
        }
    }

    func search(_ request: Request, _ context: RequestContext) async throws -> Response {
        let query = try request.decodeJSON(SearchQuery.self, allowEmpty: true)
        let limit = query.limit ?? 10
        let offset = query.offset ?? 0
        guard (1...1000).contains(limit) else { throw APIError.invalid(field: "limit", "must be between 1 and 1000") }
        // Bounded: the listing is merged in memory (a tenant has at most 1,000 assistants), and offset + limit must not overflow.
        guard (0...1_000_000).contains(offset) else { throw APIError.invalid(field: "offset", "must be between 0 and 1000000") }
        for (index, field) in (query.select ?? []).enumerated() where !AssistantWire.fields.contains(field) {
            throw APIError.invalid(field: "select[\(index)]", "unknown field '\(field.prefix(60))'; expected some of: \(AssistantWire.fields.joined(separator: ", "))")
        }
        var all = try await matches(query, tenant: context.tenant, upTo: offset + limit + 1)
        if let key = query.sort_by {
            let descending = query.sort_order == .desc
            // Ties and system assistants (no dates) in a fixed order: the id.
            all.sort { left, right in
                let (a, b) = (AssistantWire.sortValue(left, key), AssistantWire.sortValue(right, key))
                if a == b { return left.id < right.id }
                return descending ? a > b : a < b
            }
        }
        let page = all.dropFirst(offset).prefix(limit)
        var objects = page.map { AssistantWire.object($0) }
        if let select = query.select {
            objects = objects.map { $0.filter { select.contains($0.key) } }
        }
        var response = Response.json(encodeJSON(objects))
        if all.count > offset + limit { response.headers.append(HTTPField(name: .xPaginationNext, value: "\(offset + limit)")) }
        return response
    }

    /// The configured agents that match, then the tenant's assistants that match (at most `upTo` of them, newest first
    /// unless the query sorts).
    func matches(_ query: SearchQuery, tenant: String, upTo: Int) async throws -> [AgentResolver.Resolved] {
        let stored = try await resolver.reader.searchAssistants(assistantQuery(query, tenant: tenant, limit: upTo))
        return systemMatches(query) + stored.map { AssistantWire.listed($0, catalog: resolver.catalog) }
    }

    func systemMatches(_ query: SearchQuery) -> [AgentResolver.Resolved] {
        resolver.catalog.agents.filter { agent in
            (query.name.map { agent.name.localizedCaseInsensitiveContains($0) || agent.id == $0 } ?? true)
                && (query.graph_id.map { agent.id == $0 } ?? true)
                && JSONValue.object(AssistantWire.systemMetadata(agent)).contains(query.metadata ?? [:])
        }.map { AgentResolver.Resolved(agent: $0) }
    }

    func count(_ query: SearchQuery, tenant: String) async throws -> Int {
        try await systemMatches(query).count + resolver.reader.countAssistants(assistantQuery(query, tenant: tenant, limit: 1))
    }

    private func assistantQuery(_ query: SearchQuery, tenant: String, limit: Int) -> AssistantQuery {
        let filters = (query.metadata ?? [:]).sorted { $0.key < $1.key }.map { (key: $0.key, value: ThreadEndpoints.text($0.value)) }
        return AssistantQuery(tenant: tenant, graphID: query.graph_id, name: query.name, metadata: filters,
                              sortBy: query.sort_by ?? .createdAt, descending: query.sort_by == nil || query.sort_order == .desc,
                              limit: max(1, limit), offset: 0)
    }

    enum SortOrder: String, Decodable, CaseIterable {
        case asc, desc
        init(from decoder: any Decoder) throws { self = try decodeEnum(decoder, Self.self) }
    }

    struct SearchQuery: Decodable {
        var name: String?
        var graph_id: String?
        var metadata: [String: JSONValue]?
        var limit: Int?
        var offset: Int?
        var sort_by: AssistantQuery.SortKey?
        var sort_order: SortOrder?
        var select: [String]?

        init(name: String? = nil, graph_id: String? = nil, metadata: [String: JSONValue]? = nil, limit: Int? = nil, offset: Int? = nil) {
            self.name = name
            self.graph_id = graph_id
            self.metadata = metadata
            self.limit = limit
            self.offset = offset
        }
    }
}

extension AssistantQuery.SortKey: Decodable {
    public init(from decoder: any Decoder) throws { self = try decodeEnum(decoder, Self.self) }
}

/// One agent or assistant, readable both as an Agent Protocol `Agent` and as a LangGraph `Assistant`.
enum AssistantWire {
    static let fields = ["assistant_id", "agent_id", "graph_id", "name", "description", "config", "context", "metadata", "version",
                         "created_at", "updated_at", "capabilities", "model", "tools"]

    /// The configured agents are LangGraph's system assistants.
    static func systemMetadata(_ agent: AgentDefinition) -> [String: JSONValue] {
        var metadata = agent.metadata
        if metadata["created_by"] == nil { metadata["created_by"] = "system" }
        return metadata
    }

    /// A stored assistant as a listing shows it, also when it no longer fits the configuration (then without the
    /// model and tools it would run).
    static func listed(_ record: AssistantRecord, catalog: AgentCatalog) -> AgentResolver.Resolved {
        if let resolved = try? AgentResolver.resolved(record, catalog: catalog) { return resolved }
        return AgentResolver.Resolved(agent: AgentDefinition(id: record.graphID), binding: AssistantBinding(id: record.id, version: record.version),
                                      record: record, usable: false)
    }

    static func object(_ resolved: AgentResolver.Resolved) -> [String: JSONValue] {
        let agent = resolved.agent
        var object: [String: JSONValue] = [
            "assistant_id": .string(resolved.id), "agent_id": .string(resolved.id), "graph_id": .string(agent.id),
            "capabilities": ["ap.io.messages": true, "ap.io.streaming": true],
            "model": .string("\(agent.model.provider.rawValue)/\(agent.model.name)"),
            "tools": .array(agent.tools.map { .string($0.spec.name) }),
        ]
        if let record = resolved.record {
            object["name"] = .string(record.name)
            object["description"] = record.description.map(JSONValue.string) ?? .null
            object["config"] = ThreadWire.object(record.config)
            object["context"] = ThreadWire.object(record.context)
            object["metadata"] = ThreadWire.object(record.metadata)
            object["version"] = .number(Double(record.version))
            object["created_at"] = .string(ThreadWire.time(record.createdAt))
            object["updated_at"] = .string(ThreadWire.time(record.updatedAt))
            if !resolved.usable {
                object["model"] = nil
                object["tools"] = nil
            }
        } else {
            object["name"] = .string(agent.name)
            object["description"] = .string(agent.description)
            object["config"] = [:]
            object["context"] = [:]
            object["metadata"] = .object(systemMetadata(agent))
            object["version"] = 1
        }
        return object
    }

    /// What `sort_by` compares; system assistants have no dates and sort before every stored one.
    static func sortValue(_ resolved: AgentResolver.Resolved, _ key: AssistantQuery.SortKey) -> String {
        switch key {
        case .assistantID: resolved.id
        case .graphID: resolved.agent.id
        case .name: resolved.record?.name ?? resolved.agent.name
        case .createdAt: resolved.record.map { ThreadWire.time($0.createdAt) } ?? ""
        case .updatedAt: resolved.record.map { ThreadWire.time($0.updatedAt) } ?? ""
        }
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

    init(agent: AgentDefinition, id: String? = nil) {
        agent_id = id ?? agent.id
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
