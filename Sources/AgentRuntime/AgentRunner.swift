/// What a run reports while it goes, in order.
public enum RunEvent: Sendable, Equatable {
    /// A piece of the assistant message `messageID`, as the model produced it.
    case messageDelta(messageID: String, text: String)
    /// A finished message, with its usage when it came from a model.
    case messageCompleted(ChatMessage)
}

public struct RunResult: Sendable, Equatable {
    /// The conversation after the run: input messages followed by what the run added.
    public var messages: [ChatMessage]
    public var usage: Usage
}

/// Runs an agent over a conversation. The loop's limits, tools and other providers arrive with the runtime issue;
/// today a run is one model call.
public struct AgentRunner: Sendable {
    public var clock: any Clock<Duration>
    public var makeID: @Sendable () -> String

    public init(clock: any Clock<Duration> = ContinuousClock(), makeID: @escaping @Sendable () -> String) {
        self.clock = clock
        self.makeID = makeID
    }

    func model(for agent: AgentDefinition) -> any ChatModel {
        switch agent.model.provider {
        case .builtin: BuiltinModel(tokenDelay: agent.model.tokenDelay, clock: clock)
        }
    }

    /// Runs to the end, or throws `CancellationError` as soon as the task is cancelled.
    public func run(
        agent: AgentDefinition,
        input: [ChatMessage],
        emit: @escaping @Sendable (RunEvent) async throws -> Void
    ) async throws -> RunResult {
        var context: [ChatMessage] = []
        if !agent.instructions.isEmpty {
            context.append(ChatMessage(id: makeID(), role: .system, content: agent.instructions))
        }
        context += input
        let messageID = makeID()
        let response = try await model(for: agent).complete(ModelRequest(model: agent.model.name, messages: context)) { delta in
            switch delta {
            case .text(let text): try await emit(.messageDelta(messageID: messageID, text: text))
            }
        }
        let reply = ChatMessage(
            id: messageID, role: .assistant, content: response.content, usage: response.usage,
            finishReason: response.finishReason, modelName: agent.model.name)
        try await emit(.messageCompleted(reply))
        return RunResult(messages: input + [reply], usage: response.usage)
    }
}
