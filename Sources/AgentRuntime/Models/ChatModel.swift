/// What a model is asked: the whole conversation so far, instructions first, and the tools it may call.
public struct ModelRequest: Sendable {
    public var model: String
    public var messages: [ChatMessage]
    public var tools: [ToolSpec]
    public var toolChoice: ToolChoice

    public init(model: String, messages: [ChatMessage], tools: [ToolSpec] = [], toolChoice: ToolChoice = .auto) {
        self.model = model
        self.messages = messages
        self.tools = tools
        self.toolChoice = toolChoice
    }
}

/// Whether the model may, must, or must not call a tool; or which one it must call. Some servers
/// (llama.cpp's) call tools only when one is named.
public enum ToolChoice: Sendable, Equatable {
    case auto, required, none
    case tool(String)
}

/// A piece of a streamed answer, handed over the moment the model produces it.
public enum ModelDelta: Sendable, Equatable {
    case text(String)
    /// A piece of the `index`th tool call: its id and name arrive first, its arguments in fragments.
    case toolCall(index: Int, id: String?, name: String?, arguments: String)
}

public struct ModelResponse: Sendable, Equatable {
    public var content: String
    public var toolCalls: [ToolCall]
    public var finishReason: String
    public var usage: Usage

    public init(content: String, toolCalls: [ToolCall] = [], finishReason: String, usage: Usage) {
        self.content = content
        self.toolCalls = toolCalls
        self.finishReason = finishReason
        self.usage = usage
    }
}

/// A model provider. Implementations stream through `onDelta` and stop promptly when the task is cancelled.
public protocol ChatModel: Sendable {
    func complete(
        _ request: ModelRequest,
        onDelta: @Sendable (ModelDelta) async throws -> Void
    ) async throws -> ModelResponse
}
