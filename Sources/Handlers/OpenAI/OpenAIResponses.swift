import AgentRuntime
import Foundation
import Runs
import Store

/// `POST /v1/responses`: the fields the server acts on; the others OpenAI defines are accepted and ignored.
struct ResponseCreateBody: Decodable {
    var model: String?
    var input: ResponseInput?
    var instructions: String?
    var previous_response_id: String?
    var conversation: ConversationRef?
    var store: Bool?
    var background: Bool?
    var stream: Bool?
    var metadata: [String: String]?
    var tools: [JSONValue]?
    var temperature: Double?
    var top_p: Double?
    var max_output_tokens: Int?
    var include: [String]?

    /// A conversation by id, or `{"id": ...}`.
    struct ConversationRef: Decodable {
        var id: String

        init(from decoder: any Decoder) throws {
            let container = try decoder.singleValueContainer()
            if let id = try? container.decode(String.self) { self.id = id; return }
            struct Object: Decodable { var id: String }
            id = try container.decode(Object.self).id
        }
    }
}

/// `input`: a string (one user message) or a list of items.
enum ResponseInput: Decodable {
    case text(String)
    case items([Item])

    struct Item: Decodable {
        var type: String?
        var role: String?
        var content: OpenAIContent?
        var call_id: String?
        var name: String?
        var arguments: String?
        var output: String?
        var id: String?
        var error: String?
    }

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let text = try? container.decode(String.self) { self = .text(text) } else { self = .items(try container.decode([Item].self)) }
    }

    func messages(makeID: () -> String) throws -> [ChatMessage] {
        switch self {
        case .text(let text):
            return [ChatMessage(id: makeID(), role: .user, content: text)]
        case .items(let items):
            var messages: [ChatMessage] = []
            for (index, item) in items.enumerated() {
                let path = "input[\(index)]"
                switch item.type ?? "message" {
                case "message":
                    let role = item.role ?? ""
                    guard ["user", "system", "developer", "assistant"].contains(role) else {
                        throw APIError.invalid(field: path + ".role", "unknown role '\(role.prefix(40))'; expected one of: user, system, developer, assistant")
                    }
                    guard let content = item.content else { throw APIError.invalid(field: path + ".content", "is required") }
                    if role == "user" {
                        let (text, images) = try content.parts(path: path + ".content")
                        var message = ChatMessage(id: makeID(), role: .user, content: text)
                        message.images = images
                        messages.append(message)
                    } else {
                        let text = try content.text(path: path + ".content")
                        messages.append(ChatMessage(id: makeID(), role: role == "assistant" ? .assistant : .system, content: text))
                    }
                case "function_call":
                    guard let callID = item.call_id, let name = item.name else { throw APIError.invalid(field: path, "a function_call needs call_id and name") }
                    messages.append(ChatMessage(id: makeID(), role: .assistant, content: "",
                                                toolCalls: [ToolCall(id: callID, name: name, arguments: item.arguments ?? "{}")]))
                case "function_call_output":
                    guard let callID = item.call_id else { throw APIError.invalid(field: path + ".call_id", "is required") }
                    messages.append(ChatMessage(id: makeID(), role: .tool, content: item.output ?? "", toolCallID: callID))
                case "mcp_call":
                    // A server tool call of an earlier response, sent back by clients that keep the whole history
                    // (the Agents SDK): the call and its result, as the thread keeps them.
                    guard let name = item.name, let itemID = item.id else { throw APIError.invalid(field: path, "an mcp_call needs id and name") }
                    let callID = itemID.hasPrefix("mcp_") ? String(itemID.dropFirst(4)) : itemID
                    messages.append(ChatMessage(id: makeID(), role: .assistant, content: "",
                                                toolCalls: [ToolCall(id: callID, name: name, arguments: item.arguments ?? "{}")]))
                    messages.append(ChatMessage(id: makeID(), role: .tool, content: item.output ?? item.error.map { "error: " + $0 } ?? "",
                                                name: name, toolCallID: callID))
                case let other:
                    throw APIError.invalid(field: path + ".type", "input items of type '\(other.prefix(40))' are not supported; send message, function_call, function_call_output or mcp_call")
                }
            }
            return messages
        }
    }
}

/// A validated `POST /v1/responses`.
struct ResponsePlan {
    var agent: AgentDefinition
    var input: [ChatMessage]
    var store: Bool
    var background: Bool
    var stream: Bool
    var previousResponseID: String?
    var conversation: String?
    var metadata: [String: String]
    var instructions: String?
    var overrides: RunJob.ModelOverrides
    var clientTools: [RunJob.ClientTool]
    /// Server tool calls as function_call / function_call_output pairs, for front-ends that render only those.
    var asFunctions: Bool

    init(_ request: Request, catalog: AgentCatalog, makeID: () -> String) throws {
        let body = try request.decodeJSON(ResponseCreateBody.self, maxStringBytes: JSONLimits.maxMediaStringBytes)
        guard let model = body.model, !model.isEmpty else { throw APIError.invalid(field: "model", "is required: the id of an agent (GET /v1/models)") }
        guard let agent = catalog.agent(model) else {
            throw APIError(status: 404, code: "model_not_found", detail: "The model '\(model.prefix(100))' does not exist; GET /v1/models lists them.",
                           field: "model")
        }
        let clientTools = try OpenAITools.parse(body.tools, shape: .responses, agent: agent)
        guard let input = body.input else { throw APIError.invalid(field: "input", "is required") }
        let messages = try input.messages(makeID: makeID)
        guard !messages.isEmpty else { throw APIError.invalid(field: "input", "must not be empty") }
        // Instructions are this response's only, as OpenAI has them: beside the agent's, never on the conversation.
        try RunPlan.checkLimits(messages + [ChatMessage(id: "", role: .system, content: body.instructions ?? "")], agent: agent, field: "input")
        try OpenAIEndpoints.checkMetadata(body.metadata ?? [:])
        if body.previous_response_id != nil, body.conversation != nil {
            throw APIError.invalid(field: "previous_response_id", "send previous_response_id or conversation, not both")
        }
        let store = body.store ?? true
        let background = body.background ?? false
        if background, !store { throw APIError.invalid(field: "background", "a background response is stored: it needs store true") }
        if !store, body.previous_response_id != nil || body.conversation != nil {
            throw APIError.invalid(field: "store", "a response that continues another is stored: it needs store true")
        }
        if let temperature = body.temperature, !(0...2).contains(temperature) { throw APIError.invalid(field: "temperature", "must be between 0 and 2") }
        if let cap = body.max_output_tokens, cap < 1 { throw APIError.invalid(field: "max_output_tokens", "must be at least 1") }
        self.agent = agent
        self.input = messages
        self.store = store
        self.background = background
        self.stream = body.stream ?? false
        self.previousResponseID = body.previous_response_id
        self.conversation = body.conversation?.id
        self.metadata = body.metadata ?? [:]
        self.instructions = body.instructions
        if let topP = body.top_p, !(0...1).contains(topP) { throw APIError.invalid(field: "top_p", "must be between 0 and 1") }
        self.overrides = RunJob.ModelOverrides(temperature: body.temperature, maxTokens: body.max_output_tokens, topP: body.top_p)
        self.clientTools = clientTools
        self.asFunctions = body.include?.contains(ResponsesWire.serverToolsAsFunctions) == true
    }

    var job: RunJob {
        var job = RunJob(agentID: agent.id, input: input, streamModes: [], onDisconnect: store ? .continue : .cancel,
                         multitaskStrategy: .enqueue)
        job.model = overrides
        job.clientTools = clientTools.isEmpty ? nil : clientTools
        job.instructions = instructions
        return job
    }
}

extension OpenAIEndpoints {
    /// With an `Idempotency-Key`, the response is remembered as soon as its run exists: a retry (streamed or not,
    /// from any worker, even after the first client left) gets the same response, never a second run.
    func createResponse(_ request: Request, _ context: RequestContext) async throws -> Response {
        let plan = try ResponsePlan(request, catalog: dependencies.catalog, makeID: dependencies.makeID)
        guard plan.store else {
            return try await Idempotency(engine: engine).perform(request, context) { try await statelessResponse(plan, context) }
        }
        let idempotency = Idempotency(engine: engine)
        switch try await idempotency.begin(request, context) {
        case .replay(let stored):
            struct Ref: Decodable { var response_id: String }
            guard let ref = try? JSONDecoder().decode(Ref.self, from: Data(stored.body)) else { return Idempotency.replayed(stored) }
            var response = try await answer(plan, run: try await ownedRun(ref.response_id, context), local: nil)
            response.headers.add("Idempotent-Replayed", "true")
            return response
        case .proceed(let claimed):
            let (run, local): (RunRecord, LocalRun?)
            do {
                (run, local) = try await createStored(plan, request, context)
            } catch {
                await idempotency.release(claimed)
                throw error
            }
            await idempotency.complete(claimed, status: 200, headers: [],
                                       body: encodeJSON(["response_id": ResponsesWire.responseID(run.id)]))
            return try await answer(plan, run: run, local: local)
        }
    }

    /// The answer to a create, first or replayed: the events, the queued response, or the finished one.
    func answer(_ plan: ResponsePlan, run: RunRecord, local: LocalRun?) async throws -> Response {
        if plan.stream { return responseStream(run, startingAfter: nil) }
        if plan.background { return try await retrieved(run) }
        if let local {
            guard let outcome = await local.outcome() else { throw CancellationError() }
            if outcome.status == .interrupted { throw CancellationError() }
        } else {
            _ = try await engine.waitForEnd(run)
        }
        return try await retrieved(try await store.run(run.id) ?? run)
    }

    /// The run of a stored response: started here, or queued for any worker (`background`).
    func createStored(_ plan: ResponsePlan, _ request: Request, _ context: RequestContext) async throws -> (RunRecord, LocalRun?) {
        var facts = ResponsesWire.Facts(previous_response_id: plan.previousResponseID, conversation: plan.conversation,
                                        user_metadata: plan.metadata.isEmpty ? nil : plan.metadata, instructions: plan.instructions,
                                        server_tools_as_functions: plan.asFunctions ? true : nil)
        let thread: RunThread
        if let conversation = plan.conversation {
            thread = .existing(try ownedThread(conversation, context, field: "conversation"))
        } else if let previous = plan.previousResponseID {
            let run = try await ownedRun(previous, context, field: "previous_response_id")
            guard let threadID = run.threadID else { throw APIError.invalid(field: "previous_response_id", "that response has no conversation to continue") }
            let latest = try await store.runs(thread: threadID, limit: 1, offset: 0, status: nil).first
            if latest?.id == run.id {
                thread = .existing(threadID)
                facts.conversation = ResponsesWire.facts(run).conversation
            } else {
                // Not its conversation's latest: a new conversation that starts as the state that response left, so
                // that neither conversation loses anything.
                let checkpoints = try await store.checkpoints(thread: threadID, limit: 10_000, before: nil)
                guard let cut = checkpoints.first(where: { $0.runID == run.id })?.messageCount else {
                    throw APIError.invalid(field: "previous_response_id", "that response left no state to continue from (it did not finish)")
                }
                let conversation = "conv_" + dependencies.makeID().replacingOccurrences(of: "-", with: "")
                let metadata = String(decoding: encodeJSON(["created_by": "POST /v1/responses", "forked_from": previous]), as: UTF8.self)
                let forked = try await engine.forkThread(from: threadID, keeping: cut, into: NewThread(
                    id: context.threadKey(conversation), metadata: metadata, ttl: engine.eventRetention, tenant: context.tenant))
                thread = .existing(forked.id)
                facts.conversation = conversation
            }
        } else {
            // A conversation of its own, which the response names: later responses, the Conversations API and
            // /threads all reach it.
            let conversation = "conv_" + dependencies.makeID().replacingOccurrences(of: "-", with: "")
            facts.conversation = conversation
            thread = .own(context.threadKey(conversation), tenant: context.tenant, metadata: #"{"created_by":"POST /v1/responses"}"#)
        }
        let metadata = String(decoding: encodeJSON(["openai": facts]), as: UTF8.self)
        let order = RunOrder(job: plan.job, thread: thread, metadata: metadata, request: String(decoding: request.body, as: UTF8.self),
                             quota: context.principal?.quota, logger: context.logger)
        if plan.background { return (try await engine.enqueue(order), nil) }
        let (run, local) = try await engine.start(order)
        return (run, local)
    }

    /// `store: false`: nothing is kept; the run is stateless and its response cannot be read again.
    func statelessResponse(_ plan: ResponsePlan, _ context: RequestContext) async throws -> Response {
        let admission = try await engine.admitStateless(context.principal?.quota)
        let runID = dependencies.makeID()
        var logger = context.logger
        logger[metadataKey: "run.id"] = .string(runID)
        let template = ResponsesWire.Response(
            id: ResponsesWire.responseID(runID), created_at: Int(Date().timeIntervalSince1970), status: "in_progress", background: false,
            model: plan.agent.id, output: [], metadata: .object(plan.metadata.mapValues(JSONValue.string)), store: false,
            instructions: plan.instructions)
        let (engine, job) = (self.engine, plan.job)
        guard plan.stream else {
            let outcome = try await engine.runStateless(job, runID: runID, admission: admission, logger: logger, emit: nil)
            guard let result = outcome.result else { throw try runFailure(outcome, context) }
            var response = template
            response.status = "completed"
            response.output = ResponsesWire.items(Array(result.messages.dropFirst(plan.input.count)), clientTools: Set(plan.clientTools.map(\.name)),
                                                  asFunctions: plan.asFunctions)
            response.usage = ResponsesWire.UsageBody(result.usage)
            return .json(encodeJSON(response))
        }
        let renderer = ResponsesRenderer(template: template, clientTools: Set(plan.clientTools.map(\.name)), asFunctions: plan.asFunctions)
        let runLogger = logger
        return ServerSentEvents.response(heartbeat: dependencies.heartbeat) { events in
            let sequence = MutexBox(0)
            try await streamStateless(engine, job, runID: runID, admission: admission, logger: runLogger) { event in
                for rendered in renderer.events(event) {
                    let number = sequence.withLock { value in
                        defer { value += 1 }
                        return value
                    }
                    let (name, data) = ResponsesRenderer.frame(rendered, sequence: number)
                    try await events.sendNamed(name, data: data)
                }
            }
        }
    }

    /// A stored response's events from its run's log, numbered from 0 in rendering order; `startingAfter` skips
    /// through that number, so a client resumes on any worker with no gap and no repeat.
    func responseStream(_ run: RunRecord, startingAfter: Int?) -> Response {
        let facts = ResponsesWire.facts(run)
        var template = ResponsesWire.response(run, added: [])
        template.status = "in_progress"
        template.usage = nil
        template.error = nil
        template.incomplete_details = nil
        template.metadata = .object((facts.user_metadata ?? [:]).mapValues(JSONValue.string))
        let renderer = ResponsesRenderer(template: template, clientTools: ResponsesWire.clientTools(run),
                                         asFunctions: facts.server_tools_as_functions == true)
        let engine = self.engine
        return ServerSentEvents.response(heartbeat: dependencies.heartbeat) { events in
            var number = -1
            func send(_ rendered: [ResponsesRenderer.Event]) async throws {
                for event in rendered {
                    number += 1
                    if number > (startingAfter ?? -1) {
                        let (name, data) = ResponsesRenderer.frame(event, sequence: number)
                        try await events.sendNamed(name, data: data)
                    }
                }
            }
            if run.background { try await send(renderer.queued()) }
            _ = try await engine.follow(run.id, after: 0) { record in
                guard let event = try? RunLogEvent(record) else { return }
                try await send(renderer.events(event))
            }
        }
    }

    /// The messages a run added to its thread, for its response's output.
    func added(by run: RunRecord) async throws -> [ChatMessage] {
        guard let threadID = run.threadID else { return [] }
        let input = Set((run.job.flatMap { try? RunJob.decode($0) }?.input ?? []).map(\.id))
        return try await store.messages(thread: threadID, limit: nil)
            .filter { $0.runID == run.id }
            .compactMap { try? StoredMessage.decode($0.body) }
            .filter { !input.contains($0.id) }
    }

    func retrieved(_ run: RunRecord) async throws -> Response {
        .json(encodeJSON(ResponsesWire.response(run, added: try await added(by: run))))
    }

    /// The run of a response id the caller may see; another tenant's is not found.
    func ownedRun(_ responseID: String, _ context: RequestContext, field: String? = nil) async throws -> RunRecord {
        guard let runID = ResponsesWire.runID(responseID), let run = try await store.run(runID),
              Tenancy.owns(run.threadID ?? "", tenant: context.tenant) else {
            throw APIError(status: 404, code: "response_not_found", detail: "No response with id '\(responseID.prefix(100))'.", field: field)
        }
        return run
    }

    func ownedThread(_ conversation: String, _ context: RequestContext, field: String) throws -> String {
        guard !conversation.isEmpty, conversation.utf8.count <= 128, conversation.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7f }) else {
            throw APIError.invalid(field: field, "must be a conversation id")
        }
        return context.threadKey(conversation)
    }

    func getResponse(_ request: Request, _ context: RequestContext) async throws -> Response {
        let run = try await ownedRun(context.parameters["response_id"] ?? "", context)
        let query = request.queryItems
        let stream = query["stream"] ?? "false"
        guard ["true", "false"].contains(stream) else { throw APIError.invalid(field: "stream", "must be true or false") }
        if stream == "true" {
            var after: Int?
            if let text = query["starting_after"], !text.isEmpty {
                guard let value = Int(text), value >= -1 else { throw APIError.invalid(field: "starting_after", "must be a sequence number") }
                after = value
            }
            return responseStream(run, startingAfter: after)
        }
        return try await retrieved(run)
    }

    func cancelResponse(_ context: RequestContext) async throws -> Response {
        let run = try await ownedRun(context.parameters["response_id"] ?? "", context)
        guard run.background else {
            throw APIError(status: 400, code: "not_background", detail: "Only background responses can be cancelled.", field: "response_id")
        }
        guard let asked = try await engine.cancel(run.id, action: .interrupt) else {
            throw APIError(status: 404, code: "response_not_found", detail: "No response with id '\(ResponsesWire.responseID(run.id))'.")
        }
        return try await retrieved(try await engine.waitForEnd(asked) ?? asked)
    }

    func deleteResponse(_ context: RequestContext) async throws -> Response {
        let run = try await ownedRun(context.parameters["response_id"] ?? "", context)
        _ = try await engine.deleteRun(run.id)
        struct Deleted: Encodable { var id: String; var object = "response"; var deleted = true }
        return .json(encodeJSON(Deleted(id: ResponsesWire.responseID(run.id))))
    }

    func inputItems(_ request: Request, _ context: RequestContext) async throws -> Response {
        let run = try await ownedRun(context.parameters["response_id"] ?? "", context)
        let job = run.job.flatMap { try? RunJob.decode($0) }
        let items: [ResponsesWire.Item] = (job?.messages ?? []).map { message in
            let role = switch message.role { case .user: "user"; case .assistant: "assistant"; case .system: "system"; case .tool: "tool" }
            return .input(id: ResponsesWire.messageItemID(message.id), role: role, text: message.content)
        }
        return try listPage(items, request, id: \.id)
    }
}
