import HTTPTypes
import AgentRuntime
import Foundation
import Outbound
import Runs

/// `POST /v1/chat/completions`: the fields the server acts on; the others OpenAI defines are accepted and ignored.
struct ChatCompletionBody: Decodable {
    var model: String?
    var messages: [OpenAIChatMessage]?
    var stream: Bool?
    var stream_options: StreamOptions?
    var n: Int?
    var temperature: Double?
    var max_tokens: Int?
    var max_completion_tokens: Int?
    var tools: [JSONValue]?
    var metadata: [String: JSONValue]?
    var top_p: Double?
    var stop: Stop?
    var seed: Int?
    var response_format: JSONValue?

    /// One stop sequence or a list of them.
    struct Stop: Decodable {
        var values: [String]

        init(from decoder: any Decoder) throws {
            let container = try decoder.singleValueContainer()
            if let one = try? container.decode(String.self) { values = [one] } else { values = try container.decode([String].self) }
        }
    }

    struct StreamOptions: Decodable {
        var include_usage: Bool?
    }
}

/// What a Chat Completions request runs: an agent (its `model`), the conversation, and how to answer.
struct ChatCompletionPlan {
    var agent: AgentDefinition
    /// A stored assistant's settings, when `model` names one.
    var binding: AssistantBinding?
    /// The model as the client named it: the agent's id or the assistant's.
    var modelID: String { binding?.id ?? agent.id }
    var messages: [ChatMessage]
    var stream: Bool
    var includeUsage: Bool
    var overrides: RunJob.ModelOverrides
    var clientTools: [RunJob.ClientTool]
    /// The thread the conversation lives on (`metadata.thread_id`, or Open WebUI's chat id); nil: stateless.
    var threadID: String?
    /// The thread was named by Open WebUI's header, which its own side requests (titles, tags) carry too.
    var threadFromHeader = false

    init(_ request: Request, resolver: AgentResolver, tenant: String, makeID: () -> String) async throws {
        let body = try request.decodeJSON(ChatCompletionBody.self, maxStringBytes: JSONLimits.maxMediaStringBytes)
        if let given = body.metadata?["thread_id"] {
            guard case .string(let id) = given else { throw APIError.invalid(field: "metadata.thread_id", "must be a string") }
            threadID = try ThreadEndpoints.validID(id, field: "metadata.thread_id")
        } else if let chat = request.headers[.xOpenWebUIChatID], !chat.isEmpty {
            threadID = try ThreadEndpoints.validID(chat, field: "X-OpenWebUI-Chat-Id")
            threadFromHeader = true
        }
        guard let model = body.model, !model.isEmpty else { throw APIError.invalid(field: "model", "is required: the id of an agent (GET /v1/models)") }
        guard let resolved = try await resolver.resolve(model, tenant: tenant) else {
            throw APIError(status: 404, code: "model_not_found", detail: "The model '\(model.prefix(100))' does not exist; GET /v1/models lists them.",
                           field: "model")
        }
        let agent = resolved.agent
        binding = resolved.binding
        if let n = body.n, n != 1 { throw APIError(status: 400, code: "invalid_value", detail: "n: only 1 choice is supported.", field: "n") }
        guard let wire = body.messages, !wire.isEmpty else { throw APIError.invalid(field: "messages", "is required and must not be empty") }
        let messages = try wire.enumerated().map { try $1.chatMessage(path: "messages[\($0)]", makeID: makeID) }
        guard messages.contains(where: { $0.role == .user }) else { throw APIError.invalid(field: "messages", "needs at least one user message") }
        try RunPlan.checkLimits(messages, agent: agent, field: "messages")
        if let temperature = body.temperature, !(0...2).contains(temperature) {
            throw APIError.invalid(field: "temperature", "must be between 0 and 2")
        }
        // Each one sent is checked, the one that is not used too.
        for (field, value) in [("max_completion_tokens", body.max_completion_tokens), ("max_tokens", body.max_tokens)] {
            if let value, value < 1 { throw APIError.invalid(field: field, "must be at least 1") }
        }
        let maxTokens = body.max_completion_tokens ?? body.max_tokens
        self.agent = agent
        self.messages = messages
        self.stream = body.stream ?? false
        self.includeUsage = body.stream_options?.include_usage ?? false
        if let topP = body.top_p, !(0...1).contains(topP) { throw APIError.invalid(field: "top_p", "must be between 0 and 1") }
        if let stop = body.stop?.values, stop.count > 4 || stop.contains(where: { $0.isEmpty || $0.count > 256 }) {
            throw APIError.invalid(field: "stop", "at most 4 sequences of 1 to 256 characters")
        }
        if let format = body.response_format {
            guard case .object(let object) = format, case .string(let type)? = object["type"], ["text", "json_object", "json_schema"].contains(type) else {
                throw APIError.invalid(field: "response_format.type", "must be text, json_object or json_schema")
            }
        }
        self.overrides = RunJob.ModelOverrides(temperature: body.temperature, maxTokens: maxTokens, topP: body.top_p, stop: body.stop?.values,
                                               seed: body.seed, responseFormat: body.response_format)
        self.clientTools = try OpenAITools.parse(body.tools, shape: .chat, agent: agent)
    }

    var job: RunJob {
        var job = RunJob(agentID: agent.id, input: messages, streamModes: [], onDisconnect: .cancel)
        job.origin = "openai"
        if let binding { job.bind(binding) }
        job.model = overrides
        job.clientTools = clientTools.isEmpty ? nil : clientTools
        return job
    }
}

extension OpenAIEndpoints {
    func chatCompletion(_ request: Request, _ context: RequestContext) async throws -> Response {
        let plan = try await ChatCompletionPlan(request, resolver: AgentResolver(catalog: dependencies.catalog, reader: engine.reader),
                                                tenant: context.tenant, makeID: dependencies.makeID)
        let id = "chatcmpl-" + dependencies.makeID().replacingOccurrences(of: "-", with: "")
        return try await chatCompletion(plan, request, context, id: id, created: Int(Date().timeIntervalSince1970))
    }

    func chatCompletion(_ plan: ChatCompletionPlan, _ request: Request, _ context: RequestContext, id: String, created: Int) async throws -> Response {
        if let threadID = plan.threadID {
            return try await threadCompletion(plan, threadKey: context.threadKey(threadID), request, context, id: id, created: created)
        }
        let admission = try await engine.admitStateless(context.principal?.quota, for: plan.job)
        let runID = dependencies.makeID()
        var logger = context.logger
        logger[metadataKey: "run.id"] = .string(runID)
        logger[metadataKey: "agent.id"] = .string(plan.agent.id)
        let (engine, job) = (self.engine, plan.job)
        guard plan.stream else {
            let outcome = try await engine.runStateless(job, runID: runID, admission: admission, logger: logger, emit: nil)
            guard let result = outcome.result else { throw try runFailure(outcome, context) }
            let approval = result.awaitingApproval.isEmpty ? nil : ApprovalRequest(runID: runID, agent: plan.agent, calls: result.awaitingApproval, now: Date())
            return .json(encodeJSON(ChatCompletionWire.completion(result, added: result.messages.dropFirst(plan.messages.count),
                                                                  id: id, created: created, model: plan.modelID,
                                                                  approval: approval.map { ChatCompletionWire.approvalText($0, threadID: nil, assistantID: plan.modelID) })))
        }
        let renderer = ChatCompletionRenderer(id: id, model: plan.modelID, created: created, includeUsage: plan.includeUsage,
                                              clientTools: Set(plan.clientTools.map(\.name)))
        let runLogger = logger
        return ServerSentEvents.response(heartbeat: dependencies.heartbeat) { events in
            try await streamStateless(engine, job, runID: runID, admission: admission, logger: runLogger) { event in
                for data in renderer.frames(event) { try await events.sendData(data) }
            }
        }
    }

    /// A conversation kept on a thread. The request carries the whole conversation, as OpenAI clients send it: what
    /// the thread already holds is not added again; where the request differs from the thread (an earlier turn
    /// edited or regenerated), the thread's later messages give way to the request's.
    func threadCompletion(_ plan: ChatCompletionPlan, threadKey: String, _ request: Request, _ context: RequestContext,
                          id: String, created: Int) async throws -> Response {
        // Keeping a conversation on a thread writes the thread: the key needs that scope too.
        if let principal = context.principal, !principal.allows("threads:write") {
            throw APIError(status: 403, code: "forbidden", detail: "This API key lacks the scope 'threads:write', which keeping a chat on a thread needs.",
                           field: "metadata.thread_id")
        }
        let stored = try await store.thread(threadKey) == nil ? []
            : try await store.messages(thread: threadKey, limit: nil).compactMap { try? StoredMessage.decode($0.body) }
        // Open WebUI asks for a chat's title and tags with the chat's id but a conversation of one templated message:
        // one whose first user message is not the chat's does not belong to the thread, and runs on its own.
        if plan.threadFromHeader, let first = stored.first(where: { $0.role == .user }),
           plan.messages.first(where: { $0.role == .user })?.content != first.content {
            var stateless = plan
            stateless.threadID = nil
            return try await chatCompletion(stateless, request, context, id: id, created: created)
        }
        var kept = 0
        while kept < stored.count, kept < plan.messages.count - 1,
              stored[kept].role == plan.messages[kept].role, stored[kept].content == plan.messages[kept].content {
            kept += 1
        }
        var job = plan.job
        // Cut back when the run starts, holding the thread: a run that is refused (limits, a busy thread) leaves it whole.
        if kept < stored.count { job.keepHistory = kept }
        job.input = plan.messages[kept...].map(StoredMessage.init)
        job.onDisconnect = .continue
        let order = RunOrder(job: job, thread: .createIfMissing(threadKey, tenant: context.tenant), metadata: #"{"created_by":"POST /v1/chat/completions"}"#,
                             request: String(decoding: request.body, as: UTF8.self), quota: context.principal?.quota, logger: context.logger)
        let (run, local) = try await engine.start(order)
        guard plan.stream else {
            guard let outcome = await local.outcome() else { throw CancellationError() }
            guard let result = outcome.result else { throw try runFailure(outcome, context) }
            let approval = result.awaitingApproval.isEmpty ? nil : ApprovalRequest(runID: run.id, agent: plan.agent, calls: result.awaitingApproval, now: Date())
            return .json(encodeJSON(ChatCompletionWire.completion(result, added: result.messages.dropFirst(kept + job.input.count),
                                                                  id: id, created: created, model: plan.modelID,
                                                                  approval: approval.map { ChatCompletionWire.approvalText($0, threadID: plan.threadID, assistantID: plan.modelID) })))
        }
        let renderer = ChatCompletionRenderer(id: id, model: plan.modelID, created: created, includeUsage: plan.includeUsage,
                                              clientTools: Set(plan.clientTools.map(\.name)), threadID: plan.threadID)
        let engine = self.engine
        return ServerSentEvents.response(heartbeat: dependencies.heartbeat) { events in
            _ = try await engine.follow(run.id, after: 0) { record in
                guard let event = try? RunLogEvent(record) else { return }
                for data in renderer.frames(event) { try await events.sendData(data) }
            }
        }
    }

    /// A run that did not answer, as the error its client gets. The run was admitted, so a retry would start another:
    /// the answer says not to.
    func runFailure(_ outcome: RunOutcome, _ context: RequestContext) throws -> APIError {
        if outcome.status == .interrupted { throw CancellationError() }
        var error = if let problem = outcome.error, problem.code != "internal_error" { APIError(problem) }
            else { APIError.internalError(requestID: context.requestID) }
        if error.headers[.xShouldRetry] == nil { error.headers.append(HTTPField(name: .xShouldRetry, value: "false")) }
        return error
    }
}
