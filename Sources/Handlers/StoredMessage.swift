import AgentRuntime
import Foundation

/// Thread messages are stored as LangGraph serializes them (`OutputMessage`), so that state and history are
/// served as stored; the same type reads them back for the model's context.
enum StoredMessage {
    static func encode(_ message: ChatMessage) -> String {
        String(decoding: encodeJSON(OutputMessage(message)), as: UTF8.self)
    }

    static func decode(_ body: String) throws -> ChatMessage {
        try JSONDecoder().decode(OutputMessage.self, from: Data(body.utf8)).chatMessage
    }
}

extension OutputMessage {
    /// The message again, as the runtime knows it.
    var chatMessage: ChatMessage {
        let role: ChatMessage.Role = switch type {
        case "human": .user
        case "ai": .assistant
        case "system": .system
        default: .tool
        }
        return ChatMessage(
            id: id, role: role, content: content, name: name, usage: usage_metadata,
            finishReason: response_metadata?["finish_reason"], modelName: response_metadata?["model_name"],
            toolCalls: (tool_calls ?? []).map { call in
                let arguments = if case .string(let raw) = call.args { raw } else { String(decoding: encodeJSON(call.args), as: UTF8.self) }
                return ToolCall(id: call.id, name: call.name, arguments: arguments)
            },
            toolCallID: tool_call_id)
    }
}

/// Which earlier messages of a thread fit the agent's context budget.
enum ContextWindow {
    struct Fit: Equatable {
        var history: [ChatMessage]
        var droppedMessages: Int
    }

    /// Drops whole turns (a user message and everything up to the next one), oldest first, until the
    /// instructions, the kept history and the new input fit `budget` tokens. A tool call is never separated
    /// from its result because both sit inside one turn; a leading run of non-user messages counts as a turn.
    static func fit(history: [ChatMessage], input: [ChatMessage], instructions: String, budget: Int) -> Fit {
        let fixed = input.reduce(Tokenizer.count(instructions)) { $0 + Tokenizer.count($1.content) }
        var turns: [[ChatMessage]] = []
        for message in history {
            if message.role == .user || turns.isEmpty { turns.append([]) }
            turns[turns.count - 1].append(message)
        }
        let cost: (ChatMessage) -> Int = { message in
            Tokenizer.count(message.content) + message.toolCalls.reduce(0) { $0 + Tokenizer.count($1.arguments) + 1 }
        }
        var total = fixed + history.reduce(0) { $0 + cost($1) }
        var dropped = 0
        var first = 0
        while total > budget, first < turns.count {
            total -= turns[first].reduce(0) { $0 + cost($1) }
            dropped += turns[first].count
            first += 1
        }
        return Fit(history: Array(turns[first...].joined()), droppedMessages: dropped)
    }
}
