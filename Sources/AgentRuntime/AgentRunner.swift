import AsyncHTTPClient
import Foundation
import Telemetry
import Tracing

/// What a run reports while it goes, in order.
public enum RunEvent: Sendable, Equatable {
    /// A piece of the assistant message `messageID`, as the model produced it.
    case messageDelta(messageID: String, text: String)
    /// A finished message: an assistant answer or tool request (with its usage), or a tool result.
    case messageCompleted(ChatMessage)
    /// A model call finished; `turn` counts model calls from 1.
    case usage(Usage, turn: Int)
    case toolStarted(ToolCall)
    case toolFinished(ToolCall, result: String)
    case toolFailed(ToolCall, error: String)
}

public struct RunResult: Sendable, Equatable {
    /// The conversation after the run: input messages followed by what the run added.
    public var messages: [ChatMessage]
    /// All model calls of the run together.
    public var usage: Usage
    public var turns: Int
    /// Calls of the caller's own tools that the last answer asked for: the run stops there, and the caller runs them.
    public var pendingToolCalls: [ToolCall]
    /// The last turn's calls, none of them run, when one of them waits for a person's approval (`approvals:`), or
    /// when the run stopped before them at a breakpoint.
    public var awaitingApproval: [ToolCall]
    /// The run stopped at a breakpoint (`Breakpoints`): before the model's turn (`agent`) or before the last turn's
    /// calls (`tools`).
    public var breakpoint: Step?

    public enum Step: String, Sendable, Codable { case agent, tools }

    public init(messages: [ChatMessage], usage: Usage, turns: Int, pendingToolCalls: [ToolCall] = [], awaitingApproval: [ToolCall] = []) {
        self.messages = messages
        self.usage = usage
        self.turns = turns
        self.pendingToolCalls = pendingToolCalls
        self.awaitingApproval = awaitingApproval
    }
}

/// Why a run ended without an answer.
public enum RunFailure: Error, Sendable, Equatable {
    case maxTurnsExceeded(Int)
    case timedOut(Duration)
}

/// Runs an agent: model -> tool calls (in parallel) -> model ... until an answer, the turn limit, the run
/// timeout or cancellation (which stops the model call and the tools at once).
public struct AgentRunner: Sendable {
    public var clock: any Clock<Duration>
    public var makeID: @Sendable () -> String
    public var modelFactory: @Sendable (AgentDefinition) -> any ChatModel
    public var watchdog: Watchdog

    public init(
        clock: any Clock<Duration> = ContinuousClock(), makeID: @escaping @Sendable () -> String,
        httpClient: HTTPClient = .shared,
        environment: @escaping @Sendable (String) -> String? = { name in getenv(name).map { String(cString: $0) } },
        watchdog: Watchdog = Watchdog(), modelFactory: (@Sendable (AgentDefinition) -> any ChatModel)? = nil
    ) {
        self.clock = clock
        self.makeID = makeID
        self.watchdog = watchdog
        self.modelFactory = modelFactory ?? { [clock] agent in
            let model = agent.model
            switch model.provider {
            case .builtin:
                return BuiltinModel(tokenDelay: model.tokenDelay, clock: clock)
            case .openai:
                var settings = OpenAIChatModel.Settings(
                    baseURL: model.baseURL ?? "", model: model.name,
                    apiKey: model.apiKeyEnvironment.flatMap(environment), temperature: model.temperature,
                    maxTokens: model.maxTokens, maxRetries: model.maxRetries)
                (settings.topP, settings.stop, settings.seed, settings.responseFormat) = (model.topP, model.stop, model.seed, model.responseFormat)
                return OpenAIChatModel(settings: settings, client: httpClient, clock: clock)
            }
        }
    }

    /// Runs to the end; throws `RunFailure` at a limit and `CancellationError` as soon as the task is cancelled.
    /// `clientTools`: tools the caller runs itself (OpenAI function tools); a turn that calls one ends the run, after
    /// the agent's own calls of that turn ran, with the caller's calls pending. `memory`: what the agent's memory tools
    /// work on in this run (the caller binds it; a reference, so the run's frames stay small).
    public func run(
        agent: AgentDefinition,
        input: [ChatMessage],
        clientTools: [ToolSpec] = [],
        memory: (any MemoryBackend)? = nil,
        resume: ToolDecisions? = nil,
        breakpoints: Breakpoints = Breakpoints(),
        emit: @escaping @Sendable (RunEvent) async throws -> Void
    ) async throws -> RunResult {
        // The shared watchdog cancels this very task at the deadline: no extra task per run, which matters when
        // thousands of streams each hold a run.
        let deadline = DeadlineGuard()
        withUnsafeCurrentTask { deadline.arm($0) }
        let token = watchdog.schedule(after: agent.limits.timeout) { deadline.expire() }
        defer {
            watchdog.cancel(token)
            deadline.disarm()
        }
        do {
            return try await loop(agent: agent, input: input, clientTools: clientTools, memory: memory, resume: resume,
                                  breakpoints: breakpoints, emit: emit)
        } catch is CancellationError where deadline.expired {
            throw RunFailure.timedOut(agent.limits.timeout)
        }
    }

    private func loop(
        agent: AgentDefinition, input: [ChatMessage], clientTools: [ToolSpec], memory: (any MemoryBackend)?,
        resume: ToolDecisions?, breakpoints: Breakpoints, emit: @escaping @Sendable (RunEvent) async throws -> Void
    ) async throws -> RunResult {
        let model = modelFactory(agent)
        var context: [ChatMessage] = []
        if !agent.instructions.isEmpty {
            context.append(ChatMessage(id: makeID(), role: .system, content: agent.instructions))
        }
        context += input
        var added: [ChatMessage] = []
        var total = Usage()
        let ownNames = Set(agent.tools.map(\.spec.name))
        let callers = clientTools.filter { !ownNames.contains($0.name) }
        let callerNames = Set(callers.map(\.name))
        let specs = agent.tools.map(\.spec) + callers
        // Tools just ran (a `tools` breakpoint after them applies before the next model call).
        var toolsRan = false
        if let resume {
            let paused = Self.unanswered(input)
            if !paused.isEmpty {
                added += try await runDecided(paused, resume, agent: agent, memory: memory, emit: emit)
                toolsRan = true
            }
        }
        for turn in 1...agent.limits.maxTurns {
            // A run that goes on from a breakpoint does not stop at it again before its first model call.
            if (breakpoints.beforeAgent && !(turn == 1 && resume != nil)) || (breakpoints.afterTools && toolsRan) {
                var paused = RunResult(messages: input + added, usage: total, turns: turn - 1)
                paused.breakpoint = .agent
                return paused
            }
            toolsRan = false
            let reply = try await modelTurn(model, agent: agent, messages: context + added, tools: specs, turn: turn, emit: emit)
            total = total + (reply.usage ?? Usage())
            added.append(reply)
            if reply.toolCalls.isEmpty {
                return RunResult(messages: input + added, usage: total, turns: turn)
            }
            if reply.toolCalls.contains(where: { agent.approvals[$0.name] != nil }) {
                return RunResult(messages: input + added, usage: total, turns: turn, awaitingApproval: reply.toolCalls)
            }
            if breakpoints.beforeTools, reply.toolCalls.contains(where: { !callerNames.contains($0.name) }) {
                var paused = RunResult(messages: input + added, usage: total, turns: turn, awaitingApproval: reply.toolCalls)
                paused.breakpoint = .tools
                return paused
            }
            let pending = reply.toolCalls.filter { callerNames.contains($0.name) }
            let own = reply.toolCalls.filter { !callerNames.contains($0.name) }
            if !own.isEmpty {
                added += try await runTools(own, agent: agent, memory: memory, emit: emit)
                toolsRan = true
            }
            if !pending.isEmpty {
                return RunResult(messages: input + added, usage: total, turns: turn, pendingToolCalls: pending)
            }
        }
        throw RunFailure.maxTurnsExceeded(agent.limits.maxTurns)
    }

    /// One call of the model, its tokens emitted as they come: the assistant's message. Apart from `loop`, and not
    /// inlined, so that what a call holds while it waits on the model (an open stream can wait minutes) is only this:
    /// an async function keeps everything it needs across any of its awaits for as long as it runs.
    @inline(never)
    private func modelTurn(_ model: any ChatModel, agent: AgentDefinition, messages: [ChatMessage], tools: [ToolSpec], turn: Int,
                           emit: @escaping @Sendable (RunEvent) async throws -> Void) async throws -> ChatMessage {
        let messageID = makeID()
        let request = ModelRequest(model: agent.model.name, messages: messages, tools: tools,
                                   toolChoice: turn == 1 ? agent.model.toolChoice : (agent.model.toolChoice == .none ? .none : .auto))
        let started = ContinuousClock.now
        let response: ModelResponse
        do {
            if let parent = Traces.parent(continuing: nil, root: false) {
                response = try await tracedCall(model, request, agent: agent, messageID: messageID, under: parent, emit: emit)
            } else {
                response = try await model.complete(request) { delta in
                    if case .text(let text) = delta {
                        try await emit(.messageDelta(messageID: messageID, text: text))
                    }
                }
            }
        } catch {
            Metrics.modelCall(provider: agent.model.provider.rawValue, model: agent.model.name,
                              outcome: error is CancellationError || Task.isCancelled ? "cancelled" : "error", duration: ContinuousClock.now - started)
            throw error
        }
        Metrics.modelCall(provider: agent.model.provider.rawValue, model: agent.model.name, outcome: "ok", duration: ContinuousClock.now - started)
        return try await finishTurn(response, messageID: messageID, modelName: agent.model.name, turn: turn, emit: emit)
    }

    /// The model call in its `chat` span: apart from `modelTurn`, whose frame an open stream holds for the whole call.
    @inline(never)
    private func tracedCall(_ model: any ChatModel, _ request: ModelRequest, agent: AgentDefinition, messageID: String,
                            under parent: ServiceContext, emit: @escaping @Sendable (RunEvent) async throws -> Void) async throws -> ModelResponse {
        try await Traces.span("chat \(agent.model.name)", kind: .client, under: parent) { span in
            span.updateAttributes { attributes in
                attributes["gen_ai.operation.name"] = "chat"
                attributes["gen_ai.provider.name"] = agent.model.provider.semanticName
                attributes["gen_ai.request.model"] = agent.model.name
            }
            let response = try await model.complete(request) { delta in
                if case .text(let text) = delta {
                    try await emit(.messageDelta(messageID: messageID, text: text))
                }
            }
            span.updateAttributes { attributes in
                attributes["gen_ai.usage.input_tokens"] = response.usage.inputTokens
                attributes["gen_ai.usage.output_tokens"] = response.usage.outputTokens
                attributes["gen_ai.response.finish_reasons"] = [response.finishReason]
                if Traces.recordsContent { attributes["gen_ai.output.text"] = String(response.content.prefix(4096)) }
            }
            return response
        }
    }

    /// The model's answer as the assistant's message, told to `emit`: apart from `modelTurn`, whose frame is held
    /// while the model is called, so that what is made afterwards takes no room there.
    @inline(never)
    private func finishTurn(_ response: ModelResponse, messageID: String, modelName: String, turn: Int,
                            emit: @Sendable (RunEvent) async throws -> Void) async throws -> ChatMessage {
        try await emit(.usage(response.usage, turn: turn))
        let reply = ChatMessage(
            id: messageID, role: .assistant, content: response.content, usage: response.usage,
            finishReason: response.finishReason, modelName: modelName, toolCalls: response.toolCalls)
        try await emit(.messageCompleted(reply))
        return reply
    }

    /// Runs the calls of one turn at once; results come back in the order the model asked for them.
    func runTools(
        _ calls: [ToolCall], agent: AgentDefinition, memory: (any MemoryBackend)?,
        emit: @escaping @Sendable (RunEvent) async throws -> Void
    ) async throws -> [ChatMessage] {
        for call in calls { try await emit(.toolStarted(call)) }
        let clock = self.clock
        let outcomes = try await withThrowingTaskGroup(of: (Int, ConfiguredTool.Outcome).self) { group in
            for (index, call) in calls.enumerated() {
                group.addTask {
                    guard let tool = agent.tool(call.name) else {
                        return (index, .failure("unknown tool '\(call.name.prefix(64))'; available: \(agent.tools.map(\.spec.name).joined(separator: ", "))"))
                    }
                    let bound = memory.map { tool.bindingMemory($0) } ?? tool
                    let started = ContinuousClock.now
                    do {
                        let outcome = try await Traces.span("execute_tool \(call.name)", under: Traces.parent(continuing: nil, root: false)) { span in
                            span.attributes["gen_ai.operation.name"] = "execute_tool"
                            span.attributes["gen_ai.tool.name"] = call.name
                            span.attributes["gen_ai.tool.call.id"] = call.id
                            span.attributes["gen_ai.tool.type"] = "function"
                            if Traces.recordsContent { span.attributes["gen_ai.tool.call.arguments"] = String(call.arguments.prefix(4096)) }
                            let outcome = try await bound.invoke(arguments: call.arguments, clock: clock)
                            switch outcome {
                            case .success(let result):
                                if Traces.recordsContent { span.attributes["gen_ai.tool.call.result"] = String(result.prefix(4096)) }
                            case .failure(let error):
                                span.setStatus(SpanStatus(code: .error, message: String(error.prefix(256))))
                            }
                            return outcome
                        }
                        let ok = if case .success = outcome { true } else { false }
                        Metrics.toolCall(tool: call.name, outcome: ok ? "ok" : "error", duration: ContinuousClock.now - started)
                        return (index, outcome)
                    } catch {
                        Metrics.toolCall(tool: call.name, outcome: error is CancellationError ? "cancelled" : "error",
                                         duration: ContinuousClock.now - started)
                        throw error
                    }
                }
            }
            var outcomes = [ConfiguredTool.Outcome?](repeating: nil, count: calls.count)
            for try await (index, outcome) in group { outcomes[index] = outcome }
            return outcomes.map { $0! }
        }
        var messages: [ChatMessage] = []
        for (call, outcome) in zip(calls, outcomes) {
            let content: String
            switch outcome {
            case .success(let result):
                content = result
                try await emit(.toolFinished(call, result: result))
            case .failure(let error):
                content = "error: " + error
                try await emit(.toolFailed(call, error: error))
            }
            let message = ChatMessage(id: makeID(), role: .tool, content: content, name: call.name, toolCallID: call.id)
            messages.append(message)
            try await emit(.messageCompleted(message))
        }
        return messages
    }
}
