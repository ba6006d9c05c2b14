import AgentRuntime
import Foundation
import Runs

/// The `chat.completion` and `chat.completion.chunk` objects.
enum ChatCompletionWire {
    struct Completion: Encodable {
        var id: String
        var object = "chat.completion"
        var created: Int
        var model: String
        var choices: [Choice]
        var usage: UsageBody
        var system_fingerprint: String? = nil

        struct Choice: Encodable {
            var index = 0
            var message: Message
            var finish_reason: String
            var logprobs: JSONValue = .null
        }

        struct Message: Encodable {
            var role = "assistant"
            var content: String?
            var refusal: JSONValue = .null
            var tool_calls: [ToolCallOut]?

            func encode(to encoder: any Encoder) throws {
                var container = encoder.container(keyedBy: CodingKeys.self)
                try container.encode(role, forKey: .role)
                try container.encode(content, forKey: .content)
                try container.encode(refusal, forKey: .refusal)
                try container.encodeIfPresent(tool_calls, forKey: .tool_calls)
            }

            enum CodingKeys: String, CodingKey { case role, content, refusal, tool_calls }
        }
    }

    /// A call of one of the client's tools, for the client to run.
    struct ToolCallOut: Encodable {
        var index: Int?
        var id: String
        var type = "function"
        var function: Function

        struct Function: Encodable {
            var name: String
            var arguments: String
        }

        init(_ call: ToolCall, index: Int? = nil) {
            self.index = index
            id = call.id
            function = Function(name: call.name, arguments: call.arguments)
        }
    }

    struct Chunk: Encodable {
        var id: String
        var object = "chat.completion.chunk"
        var created: Int
        var model: String
        var choices: [Choice]
        var usage: UsageBody?

        struct Choice: Encodable {
            var index = 0
            var delta: Delta
            var finish_reason: String?
            var logprobs: JSONValue = .null

            func encode(to encoder: any Encoder) throws {
                var container = encoder.container(keyedBy: CodingKeys.self)
                try container.encode(index, forKey: .index)
                try container.encode(delta, forKey: .delta)
                try container.encode(finish_reason, forKey: .finish_reason)
                try container.encode(logprobs, forKey: .logprobs)
            }

            enum CodingKeys: String, CodingKey { case index, delta, finish_reason, logprobs }
        }

        struct Delta: Encodable {
            var role: String?
            var content: String?
            var tool_calls: [ToolCallOut]?
        }
    }

    struct UsageBody: Encodable {
        var prompt_tokens: Int
        var completion_tokens: Int
        var total_tokens: Int

        init(_ usage: Usage) {
            prompt_tokens = usage.inputTokens
            completion_tokens = usage.outputTokens
            total_tokens = usage.totalTokens
        }
    }

    /// A run that paused for a person's approval, told in the answer: what waits, and how to answer it (chat
    /// completions have no way to: the thread's LangGraph API has).
    static func approvalText(_ request: ApprovalRequest, threadID: String?, assistantID: String) -> String {
        let calls = request.reviewed.map { "\($0.name) \($0.arguments)" }.joined(separator: "; ")
        var text = "Waiting for approval before running: \(calls) (approval \(request.id)). "
        if let threadID {
            text += "Approve, edit or reject it with POST /threads/\(threadID)/runs and {\"assistant_id\": \"\(assistantID)\", "
                + "\"command\": {\"resume\": {\"decisions\": [{\"type\": \"approve\"}]}}}, one decision per call."
        } else {
            text += "A chat without a thread cannot be resumed: send metadata.thread_id to keep it on a thread, or use the Responses or LangGraph API."
        }
        return text
    }

    /// A finished run as a `chat.completion`: the text the run added, or the client's tool calls it stopped at, or
    /// the approval it waits for.
    static func completion(_ result: RunResult, added: ArraySlice<ChatMessage>, id: String, created: Int, model: String,
                           approval: String? = nil) -> Completion {
        let answer = approval.map { added.filter { $0.role == .assistant }.map(\.content).joined() + $0 }
            ?? added.filter { $0.role == .assistant }.map(\.content).joined()
        let pending = result.pendingToolCalls
        let message = Completion.Message(content: pending.isEmpty || !answer.isEmpty ? answer : nil,
                                         tool_calls: pending.isEmpty ? nil : pending.map { ToolCallOut($0) })
        let finish = pending.isEmpty ? finishReason(added.last { $0.role == .assistant }) : "tool_calls"
        return Completion(id: id, created: created, model: model, choices: [.init(message: message, finish_reason: finish)], usage: .init(result.usage))
    }

    /// Why the answer ended, as OpenAI names it: a model that ran out of tokens stopped at `length`.
    static func finishReason(_ message: ChatMessage?) -> String {
        message?.finishReason == "length" ? "length" : "stop"
    }
}

/// A run's events as `chat.completion.chunk` frames: the assistant's text as it comes, then the finish, the usage
/// chunk when asked for, and `[DONE]`. Tool steps on the server are not shown: the client sees the answer.
final class ChatCompletionRenderer: Sendable {
    let id: String
    let model: String
    let created: Int
    let includeUsage: Bool
    let clientTools: Set<String>
    /// The thread the chat is kept on, as the client named it: where an approval is answered.
    let threadID: String?
    private let state = MutexBox<(started: Bool, failed: Bool, usage: Usage, last: StoredMessage?, calls: Bool)>((false, false, Usage(), nil, false))

    init(id: String, model: String, created: Int, includeUsage: Bool, clientTools: Set<String>, threadID: String? = nil) {
        self.threadID = threadID
        self.id = id
        self.model = model
        self.created = created
        self.includeUsage = includeUsage
        self.clientTools = clientTools
    }

    private func chunk(_ delta: ChatCompletionWire.Chunk.Delta, finish: String? = nil) -> [UInt8] {
        encodeJSON(ChatCompletionWire.Chunk(id: id, created: created, model: model,
                                            choices: [.init(delta: delta, finish_reason: finish)]))
    }

    /// The `data:` payloads an event becomes.
    func frames(_ event: RunLogEvent) -> [[UInt8]] {
        switch event {
        case .started:
            state.withLock { $0.started = true }
            return [chunk(.init(role: "assistant", content: ""))]
        case .messageDelta(_, let text):
            return [chunk(.init(content: text))]
        case .messageCompleted(let message) where message.type == "ai":
            let calls = (message.tool_calls ?? []).map(\.toolCall).filter { clientTools.contains($0.name) }
            state.withLock {
                $0.last = message
                if !calls.isEmpty { $0.calls = true }
            }
            guard !calls.isEmpty else { return [] }
            return [chunk(.init(tool_calls: calls.enumerated().map { ChatCompletionWire.ToolCallOut($1, index: $0) }))]
        case .checkpoint(_, let usage, _):
            state.withLock { $0.usage = usage }
            return []
        case .interrupt(let value):
            guard let request = ApprovalRequest.decode(value) else { return [] }
            return [chunk(.init(content: ChatCompletionWire.approvalText(request, threadID: threadID, assistantID: model)))]
        case .error(let code, let message):
            state.withLock { $0.failed = true }
            let status = code == "upstream_rate_limited" ? 429 : 500
            return [encodeJSON(OpenAIError.Body(error: .init(message: message, type: OpenAIError.type(for: status), param: nil, code: code)))]
        case .end:
            let (failed, usage, last, calls) = state.withLock { ($0.failed, $0.usage, $0.last, $0.calls) }
            guard !failed else { return [] }
            var frames = [chunk(.init(), finish: calls ? "tool_calls" : ChatCompletionWire.finishReason(last?.chatMessage))]
            if includeUsage {
                frames.append(encodeJSON(ChatCompletionWire.Chunk(id: id, created: created, model: model, choices: [], usage: .init(usage))))
            }
            frames.append(Array("[DONE]".utf8))
            return frames
        default:
            return []
        }
    }
}
