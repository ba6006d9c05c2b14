import AgentRuntime
import Foundation
import Runs
import Store

/// The Responses API's objects, built from runs: a response is a run (`resp_<run id>`), its output the messages
/// the run added, server-side tool calls as `mcp_call` items that are already executed.
enum ResponsesWire {
    static func responseID(_ runID: String) -> String { "resp_" + runID }

    static func runID(_ responseID: String) -> String? {
        responseID.hasPrefix("resp_") ? String(responseID.dropFirst(5)) : nil
    }

    static func status(_ run: RunStatus) -> String {
        switch run {
        case .pending: "queued"
        case .running: "in_progress"
        case .success: "completed"
        case .error: "failed"
        case .timeout: "incomplete"
        case .interrupted: "cancelled"
        }
    }

    /// How a failed run's code reads as a response's end.
    static func ending(code: String) -> (status: String, event: String) {
        switch code {
        case "run_interrupted", "server_shutting_down": ("cancelled", "response.failed")
        case "run_timeout", "max_turns_exceeded": ("incomplete", "response.incomplete")
        default: ("failed", "response.failed")
        }
    }

    struct OutputText: Encodable, Sendable {
        var type = "output_text"
        var text: String
        var annotations: [JSONValue] = []
        var logprobs: [JSONValue] = []
    }

    struct InputText: Encodable, Sendable {
        var type = "input_text"
        var text: String
    }

    /// An output item: an assistant message, or a tool call the server made (`mcp_call`).
    enum Item: Encodable, Sendable {
        case message(id: String, status: String, text: String)
        case mcpCall(id: String, status: String, name: String, arguments: String, output: String?, error: String?)
        /// A call of one of the client's own tools: the client runs it and sends a `function_call_output`.
        case functionCall(id: String, callID: String, status: String, name: String, arguments: String)
        /// A server tool's result, shown as a function call's output to clients that asked for server tool calls as
        /// function calls.
        case functionOutput(id: String, callID: String, output: String)
        case input(id: String, role: String, text: String)
        /// A call that waits for the client's approval (`approvals:`); answered with an `mcp_approval_response`.
        case approvalRequest(id: String, name: String, arguments: String)

        var id: String {
            switch self {
            case .message(let id, _, _), .mcpCall(let id, _, _, _, _, _), .functionCall(let id, _, _, _, _), .functionOutput(let id, _, _),
                 .input(let id, _, _), .approvalRequest(let id, _, _): id
            }
        }

        enum Keys: String, CodingKey {
            case type, id, status, role, content, server_label, name, arguments, output, error, call_id
        }

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: Keys.self)
            switch self {
            case .message(let id, let status, let text):
                try container.encode("message", forKey: .type)
                try container.encode(id, forKey: .id)
                try container.encode(status, forKey: .status)
                try container.encode("assistant", forKey: .role)
                try container.encode(text.isEmpty && status != "completed" ? [] : [OutputText(text: text)], forKey: .content)
            case .mcpCall(let id, let status, let name, let arguments, let output, let error):
                try container.encode("mcp_call", forKey: .type)
                try container.encode(id, forKey: .id)
                try container.encode(status, forKey: .status)
                try container.encode("agentfcgi", forKey: .server_label)
                try container.encode(name, forKey: .name)
                try container.encode(arguments, forKey: .arguments)
                try container.encode(output, forKey: .output)
                try container.encode(error, forKey: .error)
            case .functionCall(let id, let callID, let status, let name, let arguments):
                try container.encode("function_call", forKey: .type)
                try container.encode(id, forKey: .id)
                try container.encode(callID, forKey: .call_id)
                try container.encode(status, forKey: .status)
                try container.encode(name, forKey: .name)
                try container.encode(arguments, forKey: .arguments)
            case .functionOutput(let id, let callID, let output):
                try container.encode("function_call_output", forKey: .type)
                try container.encode(id, forKey: .id)
                try container.encode(callID, forKey: .call_id)
                try container.encode("completed", forKey: .status)
                try container.encode(output, forKey: .output)
            case .approvalRequest(let id, let name, let arguments):
                try container.encode("mcp_approval_request", forKey: .type)
                try container.encode(id, forKey: .id)
                try container.encode(ResponsesWire.serverLabel, forKey: .server_label)
                try container.encode(name, forKey: .name)
                try container.encode(arguments, forKey: .arguments)
            case .input(let id, let role, let text):
                try container.encode("message", forKey: .type)
                try container.encode(id, forKey: .id)
                try container.encode("completed", forKey: .status)
                try container.encode(role, forKey: .role)
                try container.encode([InputText(text: text)], forKey: .content)
            }
        }
    }

    /// The label of the server's own tools, as an MCP server's (`mcp_call`, `mcp_approval_request`).
    static let serverLabel = "agentfcgi"

    static func messageItemID(_ messageID: String) -> String { "msg_" + messageID }
    static func approvalItemID(_ callID: String) -> String { "mcpr_" + callID }
    static func callItemID(_ callID: String) -> String { "mcp_" + callID }
    static func functionItemID(_ callID: String) -> String { "fc_" + callID }
    static func functionOutputItemID(_ callID: String) -> String { "fco_" + callID }

    /// `include` asking for the server's tool calls as function_call and function_call_output items instead of mcp_call.
    static let serverToolsAsFunctions = "agentfcgi.server_tool_calls_as_functions"

    /// The output items of the messages a run added, in order: each assistant text, then the tool calls it asked for
    /// with their results.
    static func items(_ added: [ChatMessage], clientTools: Set<String> = [], asFunctions: Bool = false, awaiting: Set<String> = []) -> [Item] {
        var results: [String: ChatMessage] = [:]
        for message in added where message.role == .tool { if let id = message.toolCallID { results[id] = message } }
        var items: [Item] = []
        for message in added where message.role == .assistant {
            if !message.content.isEmpty || message.toolCalls.isEmpty {
                items.append(.message(id: messageItemID(message.id), status: "completed", text: message.content))
            }
            for call in message.toolCalls {
                if clientTools.contains(call.name) {
                    items.append(.functionCall(id: functionItemID(call.id), callID: call.id, status: "completed", name: call.name,
                                               arguments: call.arguments))
                    continue
                }
                let result = results[call.id]
                if result == nil, !awaiting.isEmpty {
                    // The turn waits for approval: its calls that need it are asked for, the others run once it is given.
                    if awaiting.contains(call.id) { items.append(.approvalRequest(id: approvalItemID(call.id), name: call.name, arguments: call.arguments)) }
                    continue
                }
                if asFunctions {
                    items.append(.functionCall(id: functionItemID(call.id), callID: call.id, status: "completed", name: call.name,
                                               arguments: call.arguments))
                    if let result { items.append(.functionOutput(id: functionOutputItemID(call.id), callID: call.id, output: result.content)) }
                    continue
                }
                let failed = result?.content.hasPrefix("error: ") == true
                items.append(.mcpCall(id: callItemID(call.id), status: result == nil ? "in_progress" : failed ? "failed" : "completed",
                                      name: call.name, arguments: call.arguments,
                                      output: failed ? nil : result?.content, error: failed ? result.map { String($0.content.dropFirst(7)) } : nil))
            }
        }
        return items
    }

    struct UsageBody: Encodable, Sendable {
        var input_tokens: Int
        var input_tokens_details = ["cached_tokens": 0]
        var output_tokens: Int
        var output_tokens_details = ["reasoning_tokens": 0]
        var total_tokens: Int

        init(_ usage: Usage) {
            input_tokens = usage.inputTokens
            output_tokens = usage.outputTokens
            total_tokens = usage.totalTokens
        }
    }

    struct ErrorBody: Encodable, Sendable {
        var code: String
        var message: String
    }

    /// The `response` object. Fields OpenAI always sends are sent, null when they do not apply.
    struct Response: Encodable, Sendable {
        var id: String
        var object = "response"
        var created_at: Int
        var status: String
        var background: Bool
        var model: String
        var output: [Item]
        var usage: UsageBody?
        var error: ErrorBody?
        var incomplete_details: [String: String]?
        var metadata: JSONValue
        var previous_response_id: String?
        var conversation: [String: String]?
        var store: Bool
        var instructions: String?
        var parallel_tool_calls = true
        var tool_choice = "auto"
        var tools: [JSONValue] = []
        var temperature: Double?
        var top_p: Double?
        var max_output_tokens: Int?
        var truncation = "disabled"
        var text: JSONValue = .object(["format": .object(["type": .string("text")])])

        enum CodingKeys: String, CodingKey {
            case id, object, created_at, status, background, model, output, usage, error, incomplete_details, metadata
            case previous_response_id, conversation, store, instructions, parallel_tool_calls, tool_choice, tools, temperature, top_p
            case max_output_tokens, truncation, text
        }

        func encode(to encoder: any Encoder) throws {
            // OpenAI sends its nullable fields as null rather than leaving them out.
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(id, forKey: .id)
            try container.encode(object, forKey: .object)
            try container.encode(created_at, forKey: .created_at)
            try container.encode(status, forKey: .status)
            try container.encode(background, forKey: .background)
            try container.encode(model, forKey: .model)
            try container.encode(output, forKey: .output)
            try container.encode(usage, forKey: .usage)
            try container.encode(error, forKey: .error)
            try container.encode(incomplete_details, forKey: .incomplete_details)
            try container.encode(metadata, forKey: .metadata)
            try container.encode(previous_response_id, forKey: .previous_response_id)
            try container.encode(conversation, forKey: .conversation)
            try container.encode(store, forKey: .store)
            try container.encode(instructions, forKey: .instructions)
            try container.encode(parallel_tool_calls, forKey: .parallel_tool_calls)
            try container.encode(tool_choice, forKey: .tool_choice)
            try container.encode(tools, forKey: .tools)
            try container.encode(temperature, forKey: .temperature)
            try container.encode(top_p, forKey: .top_p)
            try container.encode(max_output_tokens, forKey: .max_output_tokens)
            try container.encode(truncation, forKey: .truncation)
            try container.encode(text, forKey: .text)
        }
    }

    /// What a response says about itself beyond its run: kept in the run's metadata under `openai`.
    struct Facts: Codable, Sendable {
        var previous_response_id: String?
        var conversation: String?
        var user_metadata: [String: String]?
        var instructions: String?
        var server_tools_as_functions: Bool?
    }

    /// A run made through the Responses API (its metadata holds the response's facts).
    static func isResponse(_ run: RunRecord) -> Bool {
        struct Holder: Decodable { var openai: Facts? }
        return (try? JSONDecoder().decode(Holder.self, from: Data(run.metadata.utf8)))?.openai != nil
    }

    /// How a response ended, as its webhook names it: by the same rule as its `status`.
    static func webhookType(_ run: RunRecord) -> String {
        if run.status == .success || RunResultNote.approval(of: run) != nil { return "response.completed" }
        if run.status == .interrupted { return "response.cancelled" }
        let status = RunResultNote.failure(of: run).map { ending(code: $0.error).status } ?? status(run.status)
        return status == "incomplete" ? "response.incomplete" : status == "cancelled" ? "response.cancelled" : "response.failed"
    }

    /// OpenAI's webhook body: the event and the response's id (the receiver fetches the response).
    struct WebhookBody: Encodable {
        var id: String
        var object = "event"
        var type: String
        var created_at: Int
        var data: [String: String]
    }

    static func facts(_ run: RunRecord) -> Facts {
        struct Holder: Decodable { var openai: Facts? }
        return (try? JSONDecoder().decode(Holder.self, from: Data(run.metadata.utf8)))?.openai ?? Facts()
    }

    static func clientTools(_ run: RunRecord) -> Set<String> {
        Set((run.job.flatMap { try? RunJob.decode($0) }?.clientTools ?? []).map(\.name))
    }

    /// A stored run as a response, with the output its thread holds.
    static func response(_ run: RunRecord, added: [ChatMessage]) -> Response {
        let facts = facts(run)
        let note = run.result.flatMap { try? JSONDecoder().decode(RunResultNote.self, from: Data($0.utf8)) }
        // A run paused for approval is a completed response whose output asks for it, as OpenAI's are.
        let approval = note?.approval
        var response = Response(
            id: responseID(run.id), created_at: Int(run.createdAt.timeIntervalSince1970), status: approval == nil ? status(run.status) : "completed",
            background: run.background, model: run.assistantID,
            output: items(added, clientTools: clientTools(run), asFunctions: facts.server_tools_as_functions == true,
                          awaiting: Set(approval?.reviewed.map(\.id) ?? [])),
            usage: run.status.isActive ? nil : UsageBody(note?.usage ?? Usage()), metadata: .object((facts.user_metadata ?? [:]).mapValues(JSONValue.string)),
            previous_response_id: facts.previous_response_id,
            conversation: facts.conversation.map { ["id": $0] }, store: true, instructions: facts.instructions)
        if let failure = note?.error, !run.status.isActive, run.status != .success {
            let ending = ending(code: failure.error)
            if ending.status == "incomplete" { response.incomplete_details = ["reason": failure.error] }
            else if ending.status == "failed" { response.error = ErrorBody(code: failure.error, message: failure.message) }
        }
        return response
    }
}
