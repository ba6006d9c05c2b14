import AgentRuntime
import Runs

/// The run request's fields for paused runs: LangGraph's `command` and its static breakpoints.
extension RunPlan {
    /// `field`: the empty list that was sent; nil when no input came at all.
    static func inputRequired(_ field: String?) -> APIError {
        field.map { APIError.invalid(field: $0, "must not be empty") } ?? APIError.invalid(field: "input", "is required: {\"messages\": [...]}")
    }

    /// `interrupt_before` and `interrupt_after` as breakpoints: after `agent` is before `tools`.
    static func breakpoints(before: JSONValue?, after: JSONValue?) throws -> Breakpoints {
        func steps(_ value: JSONValue?, _ field: String) throws -> Set<String> {
            switch value {
            case nil, .null?: return []
            case .string("*")?: return ["agent", "tools"]
            case .array(let items)?:
                return Set(try items.enumerated().map { index, item in
                    guard case .string(let step) = item, step == "agent" || step == "tools" else {
                        throw APIError.invalid(field: "\(field)[\(index)]", "must be agent or tools, the agent's steps (or \"*\" for both)")
                    }
                    return step
                })
            default:
                throw APIError.invalid(field: field, "must be \"*\" or a list of the agent's steps: agent, tools")
            }
        }
        let (before, after) = (try steps(before, "interrupt_before"), try steps(after, "interrupt_after"))
        return Breakpoints(beforeAgent: before.contains("agent"), beforeTools: before.contains("tools") || after.contains("agent"),
                           afterTools: after.contains("tools"))
    }

    /// LangGraph's `Command`: `resume` only, as LangChain's human-in-the-loop middleware answers its interrupts:
    /// `{"decisions": [...]}`, or `{"<interrupt id>": {"decisions": [...]}}`. This server's agents have no graph nodes
    /// to go to (`goto`) or state to update that way (`update`).
    static func resume(_ command: JSONValue) throws -> (id: String?, answers: [ApprovalAnswer]) {
        guard case .object(let given) = command else { throw APIError.invalid(field: "command", "must be an object: {\"resume\": ...}") }
        // RemoteGraph sends every field of its Command: `goto: []`, `update: null`, `graph: null` say nothing.
        let fields = given.filter { _, value in ![.null, .array([]), .object([:])].contains(value) }
        if let other = fields.keys.sorted().first(where: { $0 != "resume" }) {
            throw APIError.invalid(field: "command.\(other.prefix(40))", "is not supported: this server's agents have no graph nodes to go to or "
                                   + "state to update through a command; send command.resume to answer an approval, or input.messages")
        }
        guard case .object(let resume)? = fields["resume"] else {
            throw APIError.invalid(field: "command.resume", "must be {\"decisions\": [...]} or {\"<interrupt id>\": {\"decisions\": [...]}}")
        }
        var id: String?
        var field = "command.resume"
        var answer = resume
        if resume["decisions"] == nil {
            guard resume.count == 1, let (key, value) = resume.first, case .object(let inner) = value else {
                throw APIError.invalid(field: "command.resume", "must be {\"decisions\": [...]} or {\"<interrupt id>\": {\"decisions\": [...]}}")
            }
            (id, field, answer) = (key, "command.resume.\(key.prefix(60))", inner)
        }
        guard case .array(let list)? = answer["decisions"], !list.isEmpty, list.count <= 100 else {
            throw APIError.invalid(field: "\(field).decisions", "must be a list of 1 to 100 decisions: {\"type\": \"approve\" | \"edit\" | \"reject\"}")
        }
        let answers = try list.enumerated().map { index, item -> ApprovalAnswer in
            let at = "\(field).decisions[\(index)]"
            guard case .object(let decision) = item, case .string(let type)? = decision["type"] else {
                throw APIError.invalid(field: at, "must be {\"type\": \"approve\" | \"edit\" | \"reject\", ...}")
            }
            switch type {
            case "approve":
                return .approve
            case "reject":
                if let message = decision["message"], message != .null {
                    guard case .string(let text) = message else { throw APIError.invalid(field: "\(at).message", "must be a string") }
                    return .reject(message: text)
                }
                return .reject(message: "")
            case "edit":
                guard case .object(let action)? = decision["edited_action"], case .string(let name)? = action["name"],
                      let args = action["args"] else {
                    throw APIError.invalid(field: "\(at).edited_action", "must be {\"name\": tool, \"args\": {...}}")
                }
                return .edit(name: name, arguments: args)
            default:
                throw APIError.invalid(field: "\(at).type", "unknown value '\(type.prefix(40))'; expected one of: approve, edit, reject")
            }
        }
        return (id, answers)
    }
}
