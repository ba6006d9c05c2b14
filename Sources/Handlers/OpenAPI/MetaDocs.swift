/// The server's own routes (`MetaEndpoints`), and the configured agents and their tools (`AgentEndpoints`,
/// `ToolEndpoints`).
extension OpenAPIDocument.Operation {
    static let health = OpenAPIDocument.Operation(tag: "meta", body: nil, responses: [(200, "Up", .json("Health"))], problems: [])
    static let metrics = OpenAPIDocument.Operation(
        tag: "meta",
        description: "Every live worker's series of this host, each with its `worker` label (docs/operations.md). nginx answers it only for the addresses in `METRICS_ALLOW`.",
        body: nil, responses: [(200, "Prometheus text", .prometheusText)], problems: [404])
    static let info = OpenAPIDocument.Operation(tag: "meta", body: nil, responses: [(200, "Name, version, features", .json("Info"))], problems: [])
    static let listAgentTools = OpenAPIDocument.Operation(tag: "agents", body: nil, responses: [(200, "The agent's tools", .jsonArray("Tool"))], problems: [404])
    static let invokeAgentTool = OpenAPIDocument.Operation(tag: "agents", description: "Arguments are checked against the tool's JSON Schema; a tool error is a 422 `tool_error`. A tool whose calls a person approves in runs (`approvals:`) is a 409 `approval_required` for keys other than admin ones.",
                                           body: .json("ToolInvoke"), responses: [(200, "The tool's answer", .json("ToolResult"))],
                                           problems: OpenAPIDocument.bodyProblems + [404, 409, 504])
    static func agentSearch(_ kind: String) -> OpenAPIDocument.Operation {
        OpenAPIDocument.Operation(tag: "agents", body: .optionalJSON("AgentSearch"), responses: [(200, "Matching \(kind)", .jsonArray("Agent"))], problems: OpenAPIDocument.bodyProblems)
    }
    static func agentGet(_ one: String) -> OpenAPIDocument.Operation {
        OpenAPIDocument.Operation(tag: "agents", body: nil, responses: [(200, "The \(one)", .json("Agent"))], problems: [404])
    }
    static func agentSchemas(_ one: String) -> OpenAPIDocument.Operation {
        OpenAPIDocument.Operation(tag: "agents", body: nil, responses: [(200, "Input, output, state and config schemas", .json("AgentSchemas"))], problems: [404])
    }
}
