import Runs
import AgentRuntime

/// An agent's tools: list them, and call one directly with validated arguments.
struct ToolEndpoints {
    let dependencies: Dependencies
    let resolver: AgentResolver

    func register(in router: inout Router) {
        router.add(Route("GET", "/agents/{agent_id}/tools", operationID: "list_agent_tools", access: .scope("agents:read"),
                         summary: "The tools an agent can call, with JSON Schemas of their arguments", doc: .listAgentTools, handler: .async { _, context in
            let agent = try await agent(context.parameter("agent_id"), context)
            return .json(encodeJSON(agent.tools.map { ToolObject($0) }))
        }))
        router.add(Route("POST", "/agents/{agent_id}/tools/{tool}/invoke", operationID: "invoke_agent_tool", access: .scope("runs:write"),
                         summary: "Call one of an agent's tools directly", doc: .invokeAgentTool, handler: .async { request, context in
            try await invoke(request, context)
        }))
    }

    /// A configured agent or one of the tenant's assistants (with only the tools it keeps), with the tools of its
    /// sources as they are now (an MCP server is started if it is not running; one that fails is left out).
    func agent(_ id: String, _ context: RequestContext) async throws -> AgentDefinition {
        try await resolver.require(id, tenant: context.tenant).agent.resolvingTools { source, error in
            context.logger.warning("tools.source_unavailable", metadata: ["tool_source": .string(source), "error": "\(error)"])
        }
    }

    func invoke(_ request: Request, _ context: RequestContext) async throws -> Response {
        let agent = try await agent(context.parameter("agent_id"), context)
        let name = context.parameter("tool")
        guard let tool = agent.tool(name) else {
            throw APIError.notFound("Agent '\(agent.id)' has no tool '\(name.prefix(100))'.", code: "tool_not_found")
        }
        // A call a person must approve in a run is not made around that here, but by an admin key (or with keys off).
        if agent.approvals[name] != nil, let principal = context.principal, !principal.scopes.contains("admin") {
            throw APIError(status: 409, code: "approval_required",
                           detail: "Agent '\(agent.id)' runs '\(name)' only once a person approves the call (approvals: in its configuration); only an admin key may invoke it directly.")
        }
        let body = try request.decodeJSON(InvokeBody.self)
        let arguments = body.arguments ?? .object([:])
        let violations = JSONSchemaValidator.validate(arguments, against: tool.spec.parameters, path: "arguments")
        if let first = violations.first {
            throw APIError.invalid(field: first.path, first.message)
        }
        let started = ContinuousClock.now
        switch try await tool.invoke(arguments: arguments, clock: dependencies.clock) {
        case .success(let result):
            context.logger.info("tool.invoked", metadata: ["tool": "\(name)", "agent.id": "\(agent.id)"])
            return .json(encodeJSON(InvokeResult(tool: name, result: result, duration_ms: milliseconds(since: started))))
        case .failure(let message):
            throw APIError(status: 422, code: "tool_error", detail: "\(name): \(message)")
        }
    }

    struct InvokeBody: Decodable {
        var arguments: JSONValue?

        enum CodingKeys: String, CodingKey, CaseIterable { case arguments }

        init(from decoder: any Decoder) throws {
            try decoder.container(keyedBy: AnyKey.self).rejectUnknownKeys(CodingKeys.allCases.map(\.rawValue))
            arguments = try decoder.container(keyedBy: CodingKeys.self).decodeIfPresent(JSONValue.self, forKey: .arguments)
        }
    }

    struct InvokeResult: Encodable {
        var tool: String
        var result: String
        var duration_ms: Int64
    }
}

/// A tool as clients see it, in the shape of an OpenAI function definition.
struct ToolObject: Encodable {
    var name: String
    var description: String
    var parameters: JSONValue
    var timeout_ms: Int64

    init(_ tool: ConfiguredTool) {
        name = tool.spec.name
        description = tool.spec.description
        parameters = tool.spec.parameters
        timeout_ms = tool.timeout.wholeMilliseconds
    }
}
