import AgentRuntime
import Foundation
import Outbound
import Runs

/// A message of a Chat Completions request: every role, content as a string or a list of parts.
struct OpenAIChatMessage: Decodable {
    var role: String
    var content: OpenAIContent?
    var name: String?
    var tool_calls: [ToolCallBody]?
    var tool_call_id: String?

    struct ToolCallBody: Decodable {
        var id: String
        var type: String?
        var function: Function

        struct Function: Decodable {
            var name: String
            var arguments: String
        }
    }

    static let roles = ["system", "developer", "user", "assistant", "tool"]

    /// The message as the runtime knows it; `path` names it in errors (`messages[2]`).
    func chatMessage(path: String, makeID: () -> String) throws -> ChatMessage {
        guard Self.roles.contains(role) else {
            throw APIError.invalid(field: path + ".role", "unknown role '\(role.prefix(40))'; expected one of: \(Self.roles.joined(separator: ", "))")
        }
        switch role {
        case "user":
            guard let content else { throw APIError.invalid(field: path + ".content", "is required") }
            let (text, images) = try content.parts(path: path + ".content")
            var message = ChatMessage(id: makeID(), role: .user, content: text, name: name)
            message.images = images
            return message
        default: break
        }
        let text = try content?.text(path: path + ".content") ?? ""
        switch role {
        case "assistant":
            let calls = (tool_calls ?? []).map { ToolCall(id: $0.id, name: $0.function.name, arguments: $0.function.arguments) }
            if content == nil, calls.isEmpty { throw APIError.invalid(field: path + ".content", "is required unless tool_calls are given") }
            return ChatMessage(id: makeID(), role: .assistant, content: text, name: name, toolCalls: calls)
        case "tool":
            guard let callID = tool_call_id, !callID.isEmpty else { throw APIError.invalid(field: path + ".tool_call_id", "is required for a tool message") }
            return ChatMessage(id: makeID(), role: .tool, content: text, name: name, toolCallID: callID)
        default:
            guard content != nil else { throw APIError.invalid(field: path + ".content", "is required") }
            return ChatMessage(id: makeID(), role: role == "user" ? .user : .system, content: text, name: name)
        }
    }
}

/// Message content: a string, or parts: text, and images by URL (`data:` URLs are kept, http(s) URLs go to the model
/// server as they are; this server fetches neither). Other parts are refused by name.
enum OpenAIContent: Decodable {
    case text(String)
    case parts([Part])

    struct Part: Decodable {
        var type: String
        var text: String?
        var image_url: ImageURL?
        var detail: String?
    }

    /// Chat Completions nests `{"url", "detail"}`; the Responses API sends the URL as a string.
    struct ImageURL: Decodable {
        var url: String
        var detail: String?

        init(from decoder: any Decoder) throws {
            let container = try decoder.singleValueContainer()
            if let url = try? container.decode(String.self) {
                self.url = url
                return
            }
            struct Object: Decodable { var url: String; var detail: String? }
            let object = try container.decode(Object.self)
            (url, detail) = (object.url, object.detail)
        }
    }

    /// The largest image a part may carry as a `data:` URL.
    static let maxImageURLBytes = 8 << 20
    static let imageTypes = ["image/png", "image/jpeg", "image/gif", "image/webp"]

    static func image(_ part: Part, path: String) throws -> ImageRef {
        guard let url = part.image_url?.url else { throw APIError.invalid(field: path + ".image_url", "is required") }
        let field = path + ".image_url"
        if url.hasPrefix("data:") {
            guard let comma = url.firstIndex(of: ","), url[..<comma].hasSuffix(";base64"),
                  imageTypes.contains(String(url[url.index(url.startIndex, offsetBy: 5)..<comma].dropLast(7))) else {
                throw APIError.invalid(field: field, "a data: URL must be data:image/(png|jpeg|gif|webp);base64,...")
            }
            guard url.utf8.count <= maxImageURLBytes else {
                throw APIError(status: 413, code: "image_too_large", detail: "\(field): an image may be at most \(maxImageURLBytes >> 20) MiB as a data: URL.", field: field)
            }
        } else {
            guard url.utf8.count <= 2048, let parsed = URL(string: url), ["http", "https"].contains(parsed.scheme?.lowercased() ?? ""),
                  parsed.host?.isEmpty == false, parsed.user == nil, parsed.password == nil else {
                throw APIError.invalid(field: field, "must be a data: URL or an http(s) URL without credentials (at most 2048 characters)")
            }
            // The model server fetches it, maybe from inside a network: no internal address in any spelling, no localhost.
            let host = (parsed.host ?? "").lowercased()
            do {
                _ = try Outbound.precheck(url, policy: OutboundPolicy())
            } catch {
                throw APIError.invalid(field: field, "must not name an internal address")
            }
            if host == "localhost" || host.hasSuffix(".localhost") {
                throw APIError.invalid(field: field, "must not name an internal address")
            }
        }
        let detail = part.image_url?.detail ?? part.detail
        if let detail, !["auto", "low", "high"].contains(detail) { throw APIError.invalid(field: path + ".detail", "must be auto, low or high") }
        return ImageRef(url: url, detail: detail)
    }

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let text = try? container.decode(String.self) { self = .text(text) } else { self = .parts(try container.decode([Part].self)) }
    }

    func text(path: String) throws -> String {
        let (text, images) = try parts(path: path)
        guard images.isEmpty else { throw APIError.invalid(field: path, "only a user message may carry images") }
        return text
    }

    /// The text and the images.
    func parts(path: String) throws -> (String, [ImageRef]) {
        switch self {
        case .text(let text): return (text, [])
        case .parts(let parts):
            var out = ""
            var images: [ImageRef] = []
            for (index, part) in parts.enumerated() {
                switch part.type {
                case "text", "input_text", "output_text":
                    guard let text = part.text else { throw APIError.invalid(field: "\(path)[\(index)].text", "is required") }
                    out += text
                case "image_url", "input_image":
                    images.append(try Self.image(part, path: "\(path)[\(index)]"))
                default:
                    throw APIError.invalid(field: "\(path)[\(index)].type",
                                           "content parts of type '\(part.type.prefix(40))' are not supported; send text or images")
                }
            }
            return (out, images)
        }
    }
}

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
    var messages: [ChatMessage]
    var stream: Bool
    var includeUsage: Bool
    var overrides: RunJob.ModelOverrides
    var clientTools: [RunJob.ClientTool]
    /// The thread the conversation lives on (`metadata.thread_id`, or Open WebUI's chat id); nil: stateless.
    var threadID: String?
    /// The thread was named by Open WebUI's header, which its own side requests (titles, tags) carry too.
    var threadFromHeader = false

    init(_ request: Request, catalog: AgentCatalog, makeID: () -> String) throws {
        let body = try request.decodeJSON(ChatCompletionBody.self, maxStringBytes: JSONLimits.maxMediaStringBytes)
        if let given = body.metadata?["thread_id"] {
            guard case .string(let id) = given else { throw APIError.invalid(field: "metadata.thread_id", "must be a string") }
            threadID = try ThreadEndpoints.validID(id, field: "metadata.thread_id")
        } else if let chat = request.headers["X-OpenWebUI-Chat-Id"], !chat.isEmpty {
            threadID = try ThreadEndpoints.validID(chat, field: "X-OpenWebUI-Chat-Id")
            threadFromHeader = true
        }
        guard let model = body.model, !model.isEmpty else { throw APIError.invalid(field: "model", "is required: the id of an agent (GET /v1/models)") }
        guard let agent = catalog.agent(model) else {
            throw APIError(status: 404, code: "model_not_found", detail: "The model '\(model.prefix(100))' does not exist; GET /v1/models lists them.",
                           field: "model")
        }
        if let n = body.n, n != 1 { throw APIError(status: 400, code: "invalid_value", detail: "n: only 1 choice is supported.", field: "n") }
        guard let wire = body.messages, !wire.isEmpty else { throw APIError.invalid(field: "messages", "is required and must not be empty") }
        let messages = try wire.enumerated().map { try $1.chatMessage(path: "messages[\($0)]", makeID: makeID) }
        guard messages.contains(where: { $0.role == .user }) else { throw APIError.invalid(field: "messages", "needs at least one user message") }
        try RunPlan.checkLimits(messages, agent: agent, field: "messages")
        if let temperature = body.temperature, !(0...2).contains(temperature) {
            throw APIError.invalid(field: "temperature", "must be between 0 and 2")
        }
        let maxTokens = body.max_completion_tokens ?? body.max_tokens
        if let maxTokens, maxTokens < 1 { throw APIError.invalid(field: body.max_completion_tokens != nil ? "max_completion_tokens" : "max_tokens", "must be at least 1") }
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
        job.model = overrides
        job.clientTools = clientTools.isEmpty ? nil : clientTools
        return job
    }
}

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

    /// A finished run as a `chat.completion`: the text the run added, or the client's tool calls it stopped at.
    static func completion(_ result: RunResult, added: ArraySlice<ChatMessage>, id: String, created: Int, model: String) -> Completion {
        let answer = added.filter { $0.role == .assistant }.map(\.content).joined()
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
    private let state = MutexBox<(started: Bool, failed: Bool, usage: Usage, last: StoredMessage?, calls: Bool)>((false, false, Usage(), nil, false))

    init(id: String, model: String, created: Int, includeUsage: Bool, clientTools: Set<String>) {
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

extension OpenAIEndpoints {
    func chatCompletion(_ request: Request, _ context: RequestContext) async throws -> Response {
        let plan = try ChatCompletionPlan(request, catalog: dependencies.catalog, makeID: dependencies.makeID)
        let id = "chatcmpl-" + dependencies.makeID().replacingOccurrences(of: "-", with: "")
        return try await chatCompletion(plan, request, context, id: id, created: Int(Date().timeIntervalSince1970))
    }

    func chatCompletion(_ plan: ChatCompletionPlan, _ request: Request, _ context: RequestContext, id: String, created: Int) async throws -> Response {
        if let threadID = plan.threadID {
            return try await threadCompletion(plan, threadKey: context.threadKey(threadID), request, context, id: id, created: created)
        }
        let admission = try await engine.admitStateless(context.principal?.quota)
        let runID = dependencies.makeID()
        var logger = context.logger
        logger[metadataKey: "run.id"] = .string(runID)
        logger[metadataKey: "agent.id"] = .string(plan.agent.id)
        let (engine, job) = (self.engine, plan.job)
        guard plan.stream else {
            let outcome = try await engine.runStateless(job, runID: runID, admission: admission, logger: logger, emit: nil)
            guard let result = outcome.result else { throw try runFailure(outcome, context) }
            return .json(encodeJSON(ChatCompletionWire.completion(result, added: result.messages.dropFirst(plan.messages.count),
                                                                  id: id, created: created, model: plan.agent.id)))
        }
        let renderer = ChatCompletionRenderer(id: id, model: plan.agent.id, created: created, includeUsage: plan.includeUsage,
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
            return .json(encodeJSON(ChatCompletionWire.completion(result, added: result.messages.dropFirst(kept + job.input.count),
                                                                  id: id, created: created, model: plan.agent.id)))
        }
        let renderer = ChatCompletionRenderer(id: id, model: plan.agent.id, created: created, includeUsage: plan.includeUsage,
                                              clientTools: Set(plan.clientTools.map(\.name)))
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
        if error.headers["x-should-retry"] == nil { error.headers.add("x-should-retry", "false") }
        return error
    }
}
