/// What a model is asked: the whole conversation so far, instructions first.
public struct ModelRequest: Sendable {
    public var model: String
    public var messages: [ChatMessage]

    public init(model: String, messages: [ChatMessage]) {
        self.model = model
        self.messages = messages
    }
}

/// A piece of a streamed answer, handed over the moment the model produces it.
public enum ModelDelta: Sendable, Equatable {
    case text(String)
}

public struct ModelResponse: Sendable, Equatable {
    public var content: String
    public var finishReason: String
    public var usage: Usage

    public init(content: String, finishReason: String, usage: Usage) {
        self.content = content
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
