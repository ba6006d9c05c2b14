import AgentRuntime
import Runs

/// Function tools a client sends and runs itself. They join the agent's tools; a call to one ends the run with
/// the call for the client, as with any OpenAI model. Hosted tool types are refused: the server never connects to a
/// URL a request names, and runs only the agent's own tools.
enum OpenAITools {
    enum Shape { case chat, responses }

    static func parse(_ tools: [JSONValue]?, shape: Shape, agent: AgentDefinition) throws -> [RunJob.ClientTool] {
        var parsed: [RunJob.ClientTool] = []
        guard (tools ?? []).count <= 128 else { throw APIError.invalid(field: "tools", "at most 128 tools") }
        for (index, tool) in (tools ?? []).enumerated() {
            let path = "tools[\(index)]"
            guard case .object(let object) = tool else { throw APIError.invalid(field: path, "must be an object") }
            guard case .string(let type)? = object["type"] else { throw APIError.invalid(field: path + ".type", "is required") }
            // The server's own tools, declared as the MCP server they appear as (the Agents SDK sends this for
            // approvals): nothing to connect to, nothing to add.
            if type == "mcp", shape == .responses, case .string(ResponsesWire.serverLabel)? = object["server_label"] { continue }
            guard type == "function" else {
                throw APIError.invalid(field: path + ".type",
                                       "tools of type '\(type.prefix(40))' are not supported; send function tools (the agent '\(agent.id)' brings its own)")
            }
            let (function, base): ([String: JSONValue], String)
            switch shape {
            case .chat:
                guard case .object(let inner)? = object["function"] else { throw APIError.invalid(field: path + ".function", "is required") }
                (function, base) = (inner, path + ".function")
            case .responses:
                (function, base) = (object, path)
            }
            guard case .string(let name)? = function["name"], (1...64).contains(name.count),
                  name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_" || $0 == "-") }) else {
                throw APIError.invalid(field: base + ".name", "is required: 1 to 64 letters, digits, _ or -")
            }
            guard agent.tool(name) == nil else {
                throw APIError.invalid(field: base + ".name", "the agent '\(agent.id)' has a tool named '\(name)'; name yours differently")
            }
            guard !parsed.contains(where: { $0.name == name }) else { throw APIError.invalid(field: base + ".name", "'\(name)' is given twice") }
            var parameters: JSONValue = ["type": "object", "properties": [:]]
            if let given = function["parameters"], given != .null {
                guard case .object = given else { throw APIError.invalid(field: base + ".parameters", "must be a JSON Schema object") }
                parameters = given
            }
            var description = ""
            if case .string(let text)? = function["description"] { description = text }
            // What the model reads of each tool is bounded: descriptions and schemas go into every prompt.
            guard description.count <= 4096, encodeJSON(parameters).count <= 32_768 else {
                throw APIError.invalid(field: base, "a tool's description may have 4096 characters and its parameters 32 KiB of JSON")
            }
            parsed.append(RunJob.ClientTool(name: name, description: description, parameters: parameters))
        }
        return parsed
    }
}
