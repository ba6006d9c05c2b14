import AgentRuntime
import Runs

/// langgraph-sdk's read-only assistant calls beyond search and get: `assistants.count`, `get_graph` and
/// `get_subgraphs`, for the configured agents (system assistants) and the tenant's stored ones.
struct AssistantGraphEndpoints {
    let resolver: AgentResolver

    func register(in router: inout Router) {
        let agents = AgentEndpoints(resolver: resolver)
        router.add(Route("POST", "/assistants/count", operationID: "count_assistants", access: .scope("agents:read"),
                         summary: "Count assistants by name, graph_id and metadata", doc: .assistantCount, handler: .async { request, context in
            struct Body: Decodable {
                var name: String?
                var graph_id: String?
                var metadata: [String: JSONValue]?
            }
            let body = try request.decodeJSON(Body.self, allowEmpty: true)
            let query = AgentEndpoints.SearchQuery(name: body.name, graph_id: body.graph_id, metadata: body.metadata)
            return .json(encodeJSON(try await agents.count(query, tenant: context.tenant)))
        }))
        router.add(Route("GET", "/assistants/{assistant_id}/graph", operationID: "get_assistant_graph", access: .scope("agents:read"),
                         summary: "The assistant's graph: the agent step and its tools step", doc: .assistantGraph, handler: .async { request, context in
            let xray = request.queryItems["xray"] ?? "false"
            guard ["true", "false"].contains(xray) || Int(xray).map({ $0 >= 0 }) == true else {
                throw APIError.invalid(field: "xray", "must be true, false or a depth (an integer 0 or more)")
            }
            return .json(encodeJSON(Self.graph(try await resolver.require(context.parameter("assistant_id"), tenant: context.tenant).agent)))
        }))
        for path in ["/assistants/{assistant_id}/subgraphs", "/assistants/{assistant_id}/subgraphs/{namespace}"] {
            router.add(Route("GET", path, operationID: path.hasSuffix("}/subgraphs") ? "get_assistant_subgraphs" : "get_assistant_subgraphs_at",
                             access: .scope("agents:read"), summary: "The assistant's subgraphs (an agent has none)", doc: .assistantSubgraphs,
                             handler: .async { _, context in
                _ = try await resolver.require(context.parameter("assistant_id"), tenant: context.tenant)
                return .json(encodeJSON([String: JSONValue]()))
            }))
        }
    }

    /// LangGraph's drawable graph of a tool-calling agent: start, the model step, the tools step (when it has tools)
    /// taken when the model calls one and leading back to the model, and the end.
    static func graph(_ agent: AgentDefinition) -> JSONValue {
        func node(_ id: String, _ type: String, _ data: JSONValue) -> JSONValue { ["id": .string(id), "type": .string(type), "data": data] }
        func edge(_ source: String, _ target: String, conditional: Bool = false) -> JSONValue {
            var value: [String: JSONValue] = ["source": .string(source), "target": .string(target)]
            if conditional { value["conditional"] = true }
            return .object(value)
        }
        var nodes = [node("__start__", "schema", "__start__"), node("agent", "runnable", ["id": ["agentfcgi", "agent"], "name": .string(agent.id)])]
        var edges = [edge("__start__", "agent")]
        if agent.tools.isEmpty {
            edges.append(edge("agent", "__end__"))
        } else {
            nodes.append(node("tools", "runnable", ["id": ["agentfcgi", "tools"], "name": "tools",
                                                   "tools": .array(agent.tools.map { .string($0.tool.spec.name) })]))
            edges += [edge("agent", "tools", conditional: true), edge("agent", "__end__", conditional: true), edge("tools", "agent")]
        }
        nodes.append(node("__end__", "schema", "__end__"))
        return ["nodes": .array(nodes), "edges": .array(edges)]
    }
}
