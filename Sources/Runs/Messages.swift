import AgentRuntime
import Foundation

/// A message as the store keeps it and the run log records it: LangChain's serialization, which LangGraph's
/// clients and UIs read, so that thread state and history are served as stored.
public struct StoredMessage: Codable, Sendable, Equatable {
    public var type: String
    /// The text. A message with images is stored with LangChain's content blocks (`text`, `image_url`).
    public var content: String
    public var images: [ImageRef] = []
    public var id: String
    public var name: String?
    public var tool_calls: [StoredToolCall]?
    public var tool_call_id: String?
    public var usage_metadata: Usage?
    public var response_metadata: [String: String]?

    public init(_ message: ChatMessage) {
        switch message.role {
        case .user: type = "human"
        case .assistant: type = "ai"
        case .system: type = "system"
        case .tool: type = "tool"
        }
        content = message.content
        images = message.images
        id = message.id
        name = message.name
        tool_call_id = message.toolCallID
        if message.role == .assistant {
            tool_calls = message.toolCalls.map(StoredToolCall.init)
            usage_metadata = message.usage
            var metadata: [String: String] = [:]
            metadata["finish_reason"] = message.finishReason
            metadata["model_name"] = message.modelName
            response_metadata = metadata
        }
    }

    /// The message again, as the runtime knows it.
    public var chatMessage: ChatMessage {
        let role: ChatMessage.Role = switch type {
        case "human": .user
        case "ai": .assistant
        case "system": .system
        default: .tool
        }
        var message = ChatMessage(
            id: id, role: role, content: content, name: name, usage: usage_metadata,
            finishReason: response_metadata?["finish_reason"], modelName: response_metadata?["model_name"],
            toolCalls: (tool_calls ?? []).map(\.toolCall), toolCallID: tool_call_id)
        message.images = images
        return message
    }

    enum CodingKeys: String, CodingKey {
        case type, content, id, name, tool_calls, tool_call_id, usage_metadata, response_metadata
    }

    /// LangChain's content blocks as OpenAI's models take them: text, `image_url`, and documents as `file`
    /// (`{"file": {"file_data", "filename"}}`).
    struct Block: Codable {
        var type: String
        var text: String?
        var image_url: ImageRef?
        var file: FileData?

        struct FileData: Codable {
            var file_data: String
            var filename: String?
        }

        var attachment: ImageRef? { image_url ?? file.map { ImageRef.file($0.file_data, filename: $0.filename) } }

        init(type: String, text: String? = nil, image_url: ImageRef? = nil, file: FileData? = nil) {
            (self.type, self.text, self.image_url, self.file) = (type, text, image_url, file)
        }

        init(_ attachment: ImageRef) {
            if attachment.isFile {
                self.init(type: "file", file: FileData(file_data: attachment.url, filename: attachment.filename))
            } else {
                self.init(type: "image_url", image_url: attachment)
            }
        }
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        type = try container.decode(String.self, forKey: .type)
        if let text = try? container.decode(String.self, forKey: .content) {
            content = text
        } else {
            let blocks = try container.decode([Block].self, forKey: .content)
            content = blocks.compactMap(\.text).joined()
            images = blocks.compactMap(\.attachment)
        }
        id = try container.decode(String.self, forKey: .id)
        name = try container.decodeIfPresent(String.self, forKey: .name)
        tool_calls = try container.decodeIfPresent([StoredToolCall].self, forKey: .tool_calls)
        tool_call_id = try container.decodeIfPresent(String.self, forKey: .tool_call_id)
        usage_metadata = try container.decodeIfPresent(Usage.self, forKey: .usage_metadata)
        response_metadata = try container.decodeIfPresent([String: String].self, forKey: .response_metadata)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(type, forKey: .type)
        if images.isEmpty {
            try container.encode(content, forKey: .content)
        } else {
            let blocks = (content.isEmpty ? [] : [Block(type: "text", text: content)]) + images.map(Block.init)
            try container.encode(blocks, forKey: .content)
        }
        try container.encode(id, forKey: .id)
        try container.encodeIfPresent(name, forKey: .name)
        try container.encodeIfPresent(tool_calls, forKey: .tool_calls)
        try container.encodeIfPresent(tool_call_id, forKey: .tool_call_id)
        try container.encodeIfPresent(usage_metadata, forKey: .usage_metadata)
        try container.encodeIfPresent(response_metadata, forKey: .response_metadata)
    }

    public static func encode(_ message: ChatMessage) -> String {
        String(decoding: encodeJSON(StoredMessage(message)), as: UTF8.self)
    }

    public static func decode(_ body: String) throws -> ChatMessage {
        try JSONDecoder().decode(StoredMessage.self, from: Data(body.utf8)).chatMessage
    }
}

/// A tool call as LangChain writes it: the arguments parsed (`args`), or the raw text when they are not JSON.
public struct StoredToolCall: Codable, Sendable, Equatable {
    public var id: String
    public var name: String
    public var args: JSONValue
    public var type = "tool_call"

    public init(_ call: ToolCall) {
        id = call.id
        name = call.name
        args = (try? JSONDecoder().decode(JSONValue.self, from: Data(call.arguments.utf8))) ?? .string(call.arguments)
    }

    public var toolCall: ToolCall {
        let arguments = if case .string(let raw) = args { raw } else { String(decoding: encodeJSON(args), as: UTF8.self) }
        return ToolCall(id: id, name: name, arguments: arguments)
    }
}

/// Which earlier messages of a thread fit the agent's context budget.
public enum ContextWindow {
    public struct Fit: Equatable, Sendable {
        public var history: [ChatMessage]
        public var droppedMessages: Int
    }

    /// Drops whole turns (a user message and everything up to the next one), oldest first, until the
    /// instructions, the kept history and the new input fit `budget` tokens. A tool call is never separated
    /// from its result because both sit inside one turn; a leading run of non-user messages counts as a turn.
    public static func fit(history: [ChatMessage], input: [ChatMessage], instructions: String, budget: Int) -> Fit {
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

/// Encodes with stable key order; the same bytes for the same value, in the log and the store.
public func encodeJSON<T: Encodable>(_ value: T) -> [UInt8] {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    // With non-finite numbers spelled as strings, encoding plain values has no way left to fail.
    encoder.nonConformingFloatEncodingStrategy = .convertToString(
        positiveInfinity: "Infinity", negativeInfinity: "-Infinity", nan: "NaN")
    return (try? encoder.encode(value)).map { Array($0) } ?? Array("null".utf8)
}
