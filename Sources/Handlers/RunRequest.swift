import HTTPTypes
import AgentRuntime
import Foundation
import Runs
import Store

/// The body of `POST /runs/...`, as LangGraph's and Agent Protocol's clients send it.
/// Fields the server does not use yet are ignored, as LangGraph does, so newer clients keep working;
/// every field it does use is checked and a wrong one is named in the error.
struct RunCreateBody: Decodable {
    var assistant_id: String?
    var agent_id: String?
    var input: RunInput?
    var messages: [InputMessage]?
    var metadata: [String: JSONValue]?
    var config: [String: JSONValue]?
    var stream_mode: StreamModes?
    var on_disconnect: OnDisconnect?
    var multitask_strategy: MultitaskStrategy?
    var if_not_exists: IfNotExists?
    var after_seconds: Double?
    var webhook: String?
    /// LangGraph's `Command` (resume an interrupt, goto a node, update the state): refused, never ignored.
    var command: JSONValue?
    /// Run from an earlier state of the thread: its checkpoint, by id or as LangGraph's checkpoint object.
    var checkpoint_id: String?
    var checkpoint: ThreadEndpoints.CheckpointRef?
    /// LangGraph's static breakpoints: "*" or a list of the agent's steps (agent, tools).
    var interrupt_before: JSONValue?
    var interrupt_after: JSONValue?
}

enum IfNotExists: String, Decodable, CaseIterable {
    case create, reject

    init(from decoder: any Decoder) throws {
        self = try decodeEnum(decoder, Self.self)
    }
}

/// A run's `input`: LangGraph's state update. `messages` run the agent; other keys are state the client keeps on the
/// thread (CopilotKit sends its whole state), shown back with the state and bounded by `maxValuesBytes`.
struct RunInput: Decodable {
    var messages: [InputMessage]
    var values: [String: JSONValue]

    static let maxValuesBytes = 64 * 1024

    enum CodingKeys: String, CodingKey, CaseIterable { case messages }

    init(from decoder: any Decoder) throws {
        messages = try decoder.container(keyedBy: CodingKeys.self).decode([InputMessage].self, forKey: .messages)
        // Only the other keys are decoded as JSON values (decoding the messages twice costs every run).
        let all = try decoder.container(keyedBy: AnyKey.self)
        var values: [String: JSONValue] = [:]
        for key in all.allKeys where key.stringValue != "messages" {
            values[key.stringValue] = try all.decode(JSONValue.self, forKey: key)
        }
        for key in values.keys where key.hasPrefix("__") || key == "usage" {
            throw DecodingError.dataCorruptedError(in: try decoder.singleValueContainer(),
                                                   debugDescription: "state key '\(key.prefix(60))' is reserved (keys starting with __, and usage)")
        }
        if !values.isEmpty, encodeJSON(values).count > Self.maxValuesBytes {
            throw APIError(status: 413, code: "thread_state_too_large",
                           detail: "The input's state beside its messages is more than \(Self.maxValuesBytes / 1024) KiB.", field: "input")
        }
        self.values = values
    }
}

enum OnDisconnect: String, Decodable, CaseIterable {
    case cancel, `continue`

    init(from decoder: any Decoder) throws {
        self = try decodeEnum(decoder, Self.self)
    }

    var policy: RunJob.Disconnect { self == .cancel ? .cancel : .continue }
}

func decodeEnum<E: RawRepresentable & CaseIterable>(_ decoder: any Decoder, _ type: E.Type) throws -> E where E.RawValue == String {
    let container = try decoder.singleValueContainer()
    let text = try container.decode(String.self)
    guard let value = E(rawValue: text) else {
        throw DecodingError.dataCorruptedError(in: container, debugDescription: unknownValue(text, E.self))
    }
    return value
}

func unknownValue<E: RawRepresentable & CaseIterable>(_ text: String, _ type: E.Type) -> String where E.RawValue == String {
    "unknown value '\(text.prefix(60))'; expected one of: \(E.allCases.map(\.rawValue).joined(separator: ", "))"
}

/// A validated run request: the agent exists, there are messages, the options are known.
struct RunPlan {
    static let maxMessages = 1000

    var agent: AgentDefinition
    var input: [ChatMessage]
    var streamModes: [StreamMode]
    /// nil when the client left it to the server: each kind of run has its own default.
    var onDisconnect: OnDisconnect?
    var metadata: [String: JSONValue]
    var multitaskStrategy: MultitaskStrategy
    var ifNotExists: IfNotExists
    var afterSeconds: Double
    /// The request as sent, kept with a stored run.
    var kwargs: [UInt8]
    var webhook: String?
    var config: [String: JSONValue]?
    /// The input's state keys beside its messages.
    var values: [String: JSONValue] = [:]
    /// The thread's checkpoint to run from (its later messages are dropped first); thread runs only.
    var checkpointID: String?
    /// A stored assistant's settings, which the job carries.
    var binding: AssistantBinding?
    /// `command.resume`: the answers to the approval the thread waits for (and its id, when the client named it).
    var resume: (id: String?, answers: [ApprovalAnswer])?
    /// No input and no command, on a thread: the run goes on from the breakpoint the thread stopped at.
    var continues = false
    var breakpoints = Breakpoints()

    /// The id the client named the agent by (an assistant's own id for a stored assistant).
    var assistantID: String { binding?.id ?? agent.id }

    /// The engine's job; `onDisconnect` when the client left it to the server (each kind of run has its own default).
    func job(defaultDisconnect: OnDisconnect) -> RunJob {
        var job = RunJob(agentID: agent.id, input: input, config: config.map(JSONValue.object), streamModes: streamModes.map(\.rawValue),
                         onDisconnect: (onDisconnect ?? defaultDisconnect).policy, multitaskStrategy: multitaskStrategy, webhook: webhook,
                         afterSeconds: afterSeconds)
        job.values = values.isEmpty ? nil : values
        job.origin = "langgraph"
        job.stop(at: breakpoints)
        if let binding { job.bind(binding) }
        return job
    }

    /// A run queued before jobs were stored: its job, from the request kept with it. Fails when the request no longer
    /// reads (the agent was removed, a limit lowered), which the run's record then says.
    static func legacyJob(_ run: RunRecord, catalog: AgentCatalog) throws -> RunJob {
        let stored = Request(method: .post, path: "/threads/\(run.threadID ?? "")/runs",
                             headers: [.contentType: "application/json"], body: Array(run.kwargs.utf8))
        let body = try RunPlan.decodeBody(stored)
        let plan = try RunPlan(body: body, kwargs: stored.body, resolved: try RunPlan.agentID(body).flatMap(catalog.agent).map { .init(agent: $0) },
                               defaultModes: RunEndpoints.defaultStreamModes, makeID: { RandomID.uuid() })
        var job = plan.job(defaultDisconnect: .continue)
        // What the store decided at creation stands.
        job.multitaskStrategy = run.multitaskStrategy.rawValue
        job.onDisconnect = run.onDisconnect == OnDisconnect.cancel.rawValue ? .cancel : .continue
        return job
    }

    /// The agent's input limits, which every dialect's request meets before a run is made of it: the messages' text
    /// with their tool calls' arguments.
    static func checkLimits(_ messages: [ChatMessage], agent: AgentDefinition, field: String) throws {
        try checkLimits(count: messages.count, contents: messages.map { $0.content + $0.toolCalls.map(\.arguments).joined() }, agent: agent,
                        field: field)
    }

    static func checkLimits(count: Int, contents: [String], agent: AgentDefinition, field: String) throws {
        guard count <= Self.maxMessages else {
            throw APIError.invalid(field: field, "has \(count) messages; at most \(Self.maxMessages) are allowed")
        }
        let characters = contents.reduce(0) { $0 + $1.count }
        guard characters <= agent.limits.maxInputCharacters else {
            throw APIError(status: 422, code: "input_too_large",
                           detail: "\(field): \(characters) characters of content; agent '\(agent.id)' accepts at most \(agent.limits.maxInputCharacters) (limits.max_input_chars).",
                           field: field)
        }
        let tokens = contents.reduce(Tokenizer.count(agent.instructions)) { $0 + Tokenizer.count($1) }
        guard tokens <= agent.limits.maxContextTokens else {
            throw APIError(status: 422, code: "context_too_large",
                           detail: "\(field): about \(tokens) tokens with the instructions; agent '\(agent.id)' has a context budget of \(agent.limits.maxContextTokens) (limits.max_context_tokens).",
                           field: field)
        }
    }

    /// Reads a run request, and resolves its agent: one of the configuration's, or one of the tenant's assistants.
    /// `continuing`: a run on a thread, which may come without input to go on from a breakpoint.
    init(_ request: Request, resolver: AgentResolver, tenant: String, defaultModes: [StreamMode], makeID: () -> String,
         continuing: Bool = false) async throws {
        let body = try Self.decodeBody(request)
        let resolved = try await Self.agentID(body).asyncFlatMap { try await resolver.resolve($0, tenant: tenant) }
        try self.init(body: body, kwargs: request.body, resolved: resolved, defaultModes: defaultModes, makeID: makeID, continuing: continuing)
    }

    static func decodeBody(_ request: Request) throws -> RunCreateBody {
        // Messages may carry images as data: URLs (the body limit for these routes is raised to match).
        try request.decodeJSON(RunCreateBody.self, maxStringBytes: JSONLimits.maxMediaStringBytes)
    }

    static func agentID(_ body: RunCreateBody) throws -> String? {
        if body.assistant_id != nil, body.agent_id != nil {
            throw APIError.invalid(field: "agent_id", "is Agent Protocol's name for assistant_id: send one of them, not both")
        }
        return body.assistant_id ?? body.agent_id
    }

    init(body: RunCreateBody, kwargs: [UInt8], resolved: AgentResolver.Resolved?, defaultModes: [StreamMode], makeID: () -> String,
         continuing: Bool = false) throws {
        let agentField = body.assistant_id != nil ? "assistant_id" : "agent_id"
        guard let agentID = try Self.agentID(body) else {
            throw APIError.invalid(field: "assistant_id", "is required (or agent_id)")
        }
        guard let resolved else {
            throw APIError(status: 404, code: "agent_not_found", detail: "No agent or assistant with id '\(agentID.prefix(100))'.", field: agentField)
        }
        let agent = resolved.agent
        self.binding = resolved.binding
        if let command = body.command, command != .null {
            if body.input != nil || body.messages != nil {
                throw APIError.invalid(field: "command", "send command.resume or input, not both")
            }
            resume = try Self.resume(command)
        }
        if body.input != nil, body.messages != nil {
            throw APIError.invalid(field: "messages", "send input.messages or messages, not both")
        }
        let (messages, field) = if let input = body.input { (input.messages, "input.messages") }
            else { (body.messages ?? [], "messages") }
        continues = continuing && resume == nil && body.input == nil && body.messages == nil
        guard !messages.isEmpty || resume != nil || continues else {
            throw Self.inputRequired(body.input == nil && body.messages == nil ? nil : field)
        }
        breakpoints = try Self.breakpoints(before: body.interrupt_before, after: body.interrupt_after)
        try Self.checkLimits(count: messages.count, contents: messages.map(\.content), agent: agent, field: field)
        self.agent = agent
        self.input = messages.map { sent in
            var message = ChatMessage(id: sent.id ?? makeID(), role: sent.role, content: sent.content, name: sent.name)
            message.images = sent.images
            return message
        }
        self.streamModes = body.stream_mode?.modes ?? defaultModes
        self.onDisconnect = body.on_disconnect
        self.metadata = body.metadata ?? [:]
        self.multitaskStrategy = body.multitask_strategy ?? .reject
        self.ifNotExists = body.if_not_exists ?? .reject
        let delay = body.after_seconds ?? 0
        guard delay >= 0, delay <= 86_400 else {
            throw APIError.invalid(field: "after_seconds", "must be between 0 and 86400")
        }
        self.afterSeconds = delay
        self.kwargs = kwargs
        self.webhook = body.webhook
        self.config = body.config
        self.values = body.input?.values ?? [:]
        if let id = body.checkpoint_id, let object = body.checkpoint?.checkpointID, id != object {
            throw APIError.invalid(field: "checkpoint_id", "differs from checkpoint.checkpoint_id; send one of them")
        }
        self.checkpointID = body.checkpoint_id ?? body.checkpoint?.checkpointID
    }
}

extension Optional {
    func asyncFlatMap<U>(_ transform: (Wrapped) async throws -> U?) async rethrows -> U? {
        guard let value = self else { return nil }
        return try await transform(value)
    }
}
