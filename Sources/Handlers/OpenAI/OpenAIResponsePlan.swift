import AgentRuntime
import Foundation
import Runs
import Store

/// `POST /v1/responses`: the fields the server acts on; the others OpenAI defines are accepted and ignored.
struct ResponseCreateBody: Decodable {
    var model: String?
    var input: ResponseInput?
    var instructions: String?
    var previous_response_id: String?
    var conversation: ConversationRef?
    var store: Bool?
    var background: Bool?
    var stream: Bool?
    var metadata: [String: String]?
    var tools: [JSONValue]?
    var temperature: Double?
    var top_p: Double?
    var max_output_tokens: Int?
    var include: [String]?

    /// A conversation by id, or `{"id": ...}`.
    struct ConversationRef: Decodable {
        var id: String

        init(from decoder: any Decoder) throws {
            let container = try decoder.singleValueContainer()
            if let id = try? container.decode(String.self) { self.id = id; return }
            struct Object: Decodable { var id: String }
            id = try container.decode(Object.self).id
        }
    }
}

/// `input`: a string (one user message) or a list of items.
enum ResponseInput: Decodable {
    case text(String)
    case items([Item])

    struct Item: Decodable {
        var type: String?
        var role: String?
        var content: OpenAIContent?
        var call_id: String?
        var name: String?
        var arguments: String?
        var output: String?
        var id: String?
        var error: String?
        var approval_request_id: String?
        var approve: Bool?
        var reason: String?
    }

    /// `mcp_approval_response` items: the client's answers to the approval requests of the response it continues.
    func approvals() throws -> [(requestID: String, approve: Bool, reason: String?)] {
        guard case .items(let items) = self else { return [] }
        return try items.enumerated().compactMap { index, item in
            guard item.type == "mcp_approval_response" else { return nil }
            guard let id = item.approval_request_id, let approve = item.approve else {
                throw APIError.invalid(field: "input[\(index)]", "an mcp_approval_response needs approval_request_id and approve")
            }
            return (id, approve, item.reason)
        }
    }

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let text = try? container.decode(String.self) { self = .text(text) } else { self = .items(try container.decode([Item].self)) }
    }

    func messages(makeID: () -> String) throws -> [ChatMessage] {
        switch self {
        case .text(let text):
            return [ChatMessage(id: makeID(), role: .user, content: text)]
        case .items(let items):
            var messages: [ChatMessage] = []
            for (index, item) in items.enumerated() {
                let path = "input[\(index)]"
                switch item.type ?? "message" {
                case "message":
                    let role = item.role ?? ""
                    guard ["user", "system", "developer", "assistant"].contains(role) else {
                        throw APIError.invalid(field: path + ".role", "unknown role '\(role.prefix(40))'; expected one of: user, system, developer, assistant")
                    }
                    guard let content = item.content else { throw APIError.invalid(field: path + ".content", "is required") }
                    if role == "user" {
                        let (text, images) = try content.parts(path: path + ".content")
                        var message = ChatMessage(id: makeID(), role: .user, content: text)
                        message.images = images
                        messages.append(message)
                    } else {
                        let text = try content.text(path: path + ".content")
                        messages.append(ChatMessage(id: makeID(), role: role == "assistant" ? .assistant : .system, content: text))
                    }
                case "function_call":
                    guard let callID = item.call_id, let name = item.name else { throw APIError.invalid(field: path, "a function_call needs call_id and name") }
                    messages.append(ChatMessage(id: makeID(), role: .assistant, content: "",
                                                toolCalls: [ToolCall(id: callID, name: name, arguments: item.arguments ?? "{}")]))
                case "function_call_output":
                    guard let callID = item.call_id else { throw APIError.invalid(field: path + ".call_id", "is required") }
                    messages.append(ChatMessage(id: makeID(), role: .tool, content: item.output ?? "", toolCallID: callID))
                case "mcp_call":
                    // A server tool call of an earlier response, sent back by clients that keep the whole history
                    // (the Agents SDK): the call and its result, as the thread keeps them.
                    guard let name = item.name, let itemID = item.id else { throw APIError.invalid(field: path, "an mcp_call needs id and name") }
                    let callID = itemID.hasPrefix("mcp_") ? String(itemID.dropFirst(4)) : itemID
                    messages.append(ChatMessage(id: makeID(), role: .assistant, content: "",
                                                toolCalls: [ToolCall(id: callID, name: name, arguments: item.arguments ?? "{}")]))
                    messages.append(ChatMessage(id: makeID(), role: .tool, content: item.output ?? item.error.map { "error: " + $0 } ?? "",
                                                name: name, toolCallID: callID))
                case "mcp_approval_request", "mcp_approval_response":
                    // The request is on the conversation already; the response is an answer (`approvals()`), not a message.
                    continue
                case let other:
                    throw APIError.invalid(field: path + ".type", "input items of type '\(other.prefix(40))' are not supported; send message, function_call, function_call_output, mcp_call or mcp_approval_response")
                }
            }
            return messages
        }
    }
}

/// A validated `POST /v1/responses`.
struct ResponsePlan {
    var agent: AgentDefinition
    /// A stored assistant's settings, when `model` names one.
    var binding: AssistantBinding?
    /// The model as the client named it: the agent's id or the assistant's.
    var modelID: String { binding?.id ?? agent.id }
    var input: [ChatMessage]
    var store: Bool
    var background: Bool
    var stream: Bool
    var previousResponseID: String?
    var conversation: String?
    var metadata: [String: String]
    var instructions: String?
    var overrides: RunJob.ModelOverrides
    var clientTools: [RunJob.ClientTool]
    /// Server tool calls as function_call / function_call_output pairs, for front-ends that render only those.
    var asFunctions: Bool
    /// Answers to the approval requests of the response this one continues.
    var approvals: [(requestID: String, approve: Bool, reason: String?)]

    init(_ request: Request, resolver: AgentResolver, tenant: String, makeID: () -> String) async throws {
        let body = try request.decodeJSON(ResponseCreateBody.self, maxStringBytes: JSONLimits.maxMediaStringBytes)
        guard let model = body.model, !model.isEmpty else { throw APIError.invalid(field: "model", "is required: the id of an agent (GET /v1/models)") }
        guard let resolved = try await resolver.resolve(model, tenant: tenant) else {
            throw APIError(status: 404, code: "model_not_found", detail: "The model '\(model.prefix(100))' does not exist; GET /v1/models lists them.",
                           field: "model")
        }
        let agent = resolved.agent
        binding = resolved.binding
        let clientTools = try OpenAITools.parse(body.tools, shape: .responses, agent: agent)
        guard let input = body.input else { throw APIError.invalid(field: "input", "is required") }
        let messages = try input.messages(makeID: makeID)
        let approvals = try input.approvals()
        guard !messages.isEmpty || !approvals.isEmpty else { throw APIError.invalid(field: "input", "must not be empty") }
        if !approvals.isEmpty {
            guard messages.isEmpty else {
                throw APIError.invalid(field: "input", "send the mcp_approval_response items alone: the calls they answer run before anything new")
            }
            guard body.previous_response_id != nil || body.conversation != nil else {
                throw APIError.invalid(field: "previous_response_id", "an mcp_approval_response answers a response: send its id as previous_response_id")
            }
        }
        self.approvals = approvals
        // Instructions are this response's only, as OpenAI has them: beside the agent's, never on the conversation.
        try RunPlan.checkLimits(messages + [ChatMessage(id: "", role: .system, content: body.instructions ?? "")], agent: agent, field: "input")
        try OpenAIEndpoints.checkMetadata(body.metadata ?? [:])
        if body.previous_response_id != nil, body.conversation != nil {
            throw APIError.invalid(field: "previous_response_id", "send previous_response_id or conversation, not both")
        }
        let store = body.store ?? true
        let background = body.background ?? false
        if background, !store { throw APIError.invalid(field: "background", "a background response is stored: it needs store true") }
        if !store, body.previous_response_id != nil || body.conversation != nil {
            throw APIError.invalid(field: "store", "a response that continues another is stored: it needs store true")
        }
        if let temperature = body.temperature, !(0...2).contains(temperature) { throw APIError.invalid(field: "temperature", "must be between 0 and 2") }
        if let cap = body.max_output_tokens, cap < 1 { throw APIError.invalid(field: "max_output_tokens", "must be at least 1") }
        self.agent = agent
        self.input = messages
        self.store = store
        self.background = background
        self.stream = body.stream ?? false
        self.previousResponseID = body.previous_response_id
        self.conversation = body.conversation?.id
        self.metadata = body.metadata ?? [:]
        self.instructions = body.instructions
        if let topP = body.top_p, !(0...1).contains(topP) { throw APIError.invalid(field: "top_p", "must be between 0 and 1") }
        self.overrides = RunJob.ModelOverrides(temperature: body.temperature, maxTokens: body.max_output_tokens, topP: body.top_p)
        self.clientTools = clientTools
        self.asFunctions = body.include?.contains(ResponsesWire.serverToolsAsFunctions) == true
    }

    var job: RunJob {
        var job = RunJob(agentID: agent.id, input: input, streamModes: [], onDisconnect: store ? .continue : .cancel,
                         multitaskStrategy: .enqueue)
        job.origin = "openai"
        if let binding { job.bind(binding) }
        job.model = overrides
        job.clientTools = clientTools.isEmpty ? nil : clientTools
        job.instructions = instructions
        return job
    }
}
