import AgentRuntime
import Foundation
import Logging
import Runs
import Store

extension MCPEndpoints {
    /// `tools/call`: an ordinary stored run of the agent, on the given thread or a new one (so it shows under
    /// `/threads` and `/runs` and counts against the key's limits). While it runs, the store names it by the
    /// request's id, for a cancel that reaches another worker.
    func callTool(_ call: Call, id: JSONValue?, era: MCPWire.Era, _ request: Request, _ context: RequestContext) async throws -> Response {
        guard case .string(let name)? = call.params["name"] else {
            throw MCPWire.Failure.refusal(era, code: MCPWire.invalidParams, #"params.name must be the tool's name (a string)."#)
        }
        if call.params["requestState"] != nil || call.params["inputResponses"] != nil {
            return try await answerInputRequests(call, id: id, era: era, request, context)
        }
        guard let resolved = try await AgentResolver(catalog: dependencies.catalog, reader: engine.reader).resolve(name, tenant: context.tenant) else {
            throw MCPWire.Failure.refusal(era, code: MCPWire.invalidParams, "Unknown tool '\(name.prefix(100))'; tools/list names them.")
        }
        let agent = resolved.agent
        let (message, threadID) = try Self.arguments(call.params["arguments"], era: era)
        let thread: RunThread = if let threadID {
            .existing(context.threadKey(threadID))
        } else {
            .own(context.threadKey(dependencies.makeID()), tenant: context.tenant, metadata: #"{"created_by":"POST /mcp"}"#)
        }
        let input = [ChatMessage(id: dependencies.makeID(), role: .user, content: message)]
        // The agent's input limits, as every dialect's request meets them.
        try RunPlan.checkLimits(input, agent: agent, field: "arguments.message")
        var job = RunJob(agentID: agent.id, input: input, streamModes: [], onDisconnect: .cancel)
        job.origin = "mcp"
        if let binding = resolved.binding { job.bind(binding) }
        var facts: [String: JSONValue] = ["request_id": id ?? .null, "protocol_version": .string(era.label)]
        if case .object(let client)? = call.meta["io.modelcontextprotocol/clientInfo"] { facts["client"] = .object(client) }
        let order = RunOrder(job: job, thread: thread, metadata: String(decoding: encodeJSON(["mcp": JSONValue.object(facts)]), as: UTF8.self),
                             request: String(decoding: request.body, as: UTF8.self), quota: context.principal?.quota, logger: context.logger)
        let (run, local) = try await engine.start(order)
        return try await serve(run, local, call: call, id: id, era: era, request, context)
    }

    /// A call's run, from its start to the call's answer: progress on an event stream when the client asked for it.
    func serve(_ run: RunRecord, _ local: LocalRun, call: Call, id: JSONValue?, era: MCPWire.Era, _ request: Request,
               _ context: RequestContext) async throws -> Response {
        let (scope, handle) = (Self.scope(context), id.flatMap(MCPWire.handle) ?? "")
        do {
            try await engine.bindCall(scope: scope, handle: handle, runID: run.id)
        } catch {
            // The call still runs; only a cancel from another worker would not find it.
            context.logger.warning("mcp.bind_failed", metadata: ["error": "\(error)"])
        }
        let token = call.meta["progressToken"].flatMap { MCPWire.handle($0) == nil ? nil : $0 }
        let asks = await asksInStream(request, era: era, context: context)
        if Self.acceptsEvents(request), token != nil || asks {
            return eventStream(run, local, call: call, id: id, era: era, token: token, asks: asks, scope: scope, handle: handle,
                               request: request, context: context)
        }
        let outcome = await withTaskCancellationHandler {
            await local.outcome()
        } onCancel: {
            local.cancel(.interrupt, reason: "client_disconnected")
        }
        await engine.unbindCall(scope: scope, handle: handle, runID: run.id)
        guard let outcome else { throw CancellationError() }
        return .json(try await answer(outcome, run: run, call: call, id: id, era: era, context: context))
    }

    /// The run's end as the call's answer; a pause for approval asks the client for it where the client can.
    func answer(_ outcome: RunOutcome, run: RunRecord, call: Call, id: JSONValue?, era: MCPWire.Era, context: RequestContext) async throws -> [UInt8] {
        if outcome.status == .interrupted, !(outcome.result?.awaitingApproval.isEmpty ?? true),
           let required = try await inputRequired(run, call: call, era: era, context: context) {
            return MCPWire.message(id: id, result: required)
        }
        return try Self.message(for: outcome, run: run, id: id, era: era)
    }

    /// `message` (required, text) and `thread_id`; anything else is refused rather than ignored.
    static func arguments(_ value: JSONValue?, era: MCPWire.Era) throws -> (String, String?) {
        let arguments: [String: JSONValue]
        switch value {
        case nil, .null?: arguments = [:]
        case .object(let object)?: arguments = object
        default: throw MCPWire.Failure.refusal(era, code: MCPWire.invalidParams, "params.arguments must be an object.")
        }
        if let extra = arguments.keys.sorted().first(where: { $0 != "message" && $0 != "thread_id" }) {
            throw MCPWire.Failure.refusal(era, code: MCPWire.invalidParams,
                                          "Unknown argument '\(extra.prefix(60))': the tools take message and thread_id.")
        }
        guard case .string(let message)? = arguments["message"], !message.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
            throw MCPWire.Failure.refusal(era, code: MCPWire.invalidParams, "arguments.message must be a non-empty string.")
        }
        var threadID: String?
        switch arguments["thread_id"] {
        case nil, .null?: break
        case .string(let text)?:
            do {
                threadID = try ThreadEndpoints.validID(text, field: "arguments.thread_id")
            } catch let error as APIError {
                throw MCPWire.Failure.refusal(era, code: MCPWire.invalidParams, "arguments.thread_id \(error.detail)")
            }
        default:
            throw MCPWire.Failure.refusal(era, code: MCPWire.invalidParams, "arguments.thread_id must be a string.")
        }
        return (message, threadID)
    }

    static func acceptsEvents(_ request: Request) -> Bool {
        request.headers[.accept]?.lowercased().contains(ServerSentEvents.contentType) == true
    }

    /// The run's end as a JSON-RPC answer: the agent's answer as text, or the failure as a tool error (the model
    /// reads those), or a cancelled request's error.
    static func message(for outcome: RunOutcome, run: RunRecord, id: JSONValue?, era: MCPWire.Era) throws -> [UInt8] {
        let threadID = JSONValue.string(Tenancy.publicID(run.threadID ?? ""))
        var result: [String: JSONValue]
        switch outcome.status {
        case .success:
            let messages = outcome.result?.messages ?? []
            let answer = messages.last(where: { $0.role == .assistant && !$0.content.isEmpty })?.content ?? ""
            result = [
                "content": [["type": "text", "text": .string(answer)]],
                "structuredContent": ["run_id": .string(run.id), "thread_id": threadID,
                                      "usage": MCPWire.usage(outcome.result?.usage ?? Usage())],
                "isError": false,
            ]
        case .interrupted where !(outcome.result?.awaitingApproval.isEmpty ?? true):
            // Paused for a person's approval, and the client cannot be asked (`inputRequired`): the result says
            // where to answer it.
            result = waiting(runID: run.id, threadID: Tenancy.publicID(run.threadID ?? ""),
                             calls: (outcome.result?.awaitingApproval ?? []).map { ($0.name, $0.arguments) },
                             usage: outcome.result?.usage ?? Usage())
        case .interrupted:
            return MCPWire.message(id: id, error: .init(status: 200, code: MCPWire.requestCancelled, message: "Request cancelled",
                                                        data: ["run_id": .string(run.id), "thread_id": threadID]))
        default:
            let problem = outcome.error ?? RunProblem(status: 500, code: "internal_error", message: "The run did not finish.")
            result = [
                "content": [["type": "text", "text": .string("The agent's run failed (\(problem.code)): \(problem.message)")]],
                "structuredContent": ["run_id": .string(run.id), "thread_id": threadID,
                                      "error": ["code": .string(problem.code), "message": .string(problem.message)]],
                "isError": true,
            ]
        }
        if era.isModern { result["resultType"] = "complete" }
        return MCPWire.message(id: id, result: .object(result))
    }

    /// The call's answer as an event stream: progress from the run's log when the client gave a progress token; when
    /// the run pauses for approval and the client may be asked (`asks`), the forms, then the run that carries the
    /// answers out; then the answer. No event ids: MCP clients would try to resume by them.
    func eventStream(_ run: RunRecord, _ local: LocalRun, call: Call, id: JSONValue?, era: MCPWire.Era, token: JSONValue?, asks: Bool,
                     scope: String, handle: String, request: Request, context: RequestContext) -> Response {
        let (engine, endpoints) = (self.engine, self)
        return ServerSentEvents.response(heartbeat: dependencies.heartbeat) { events in
            var (run, local) = (run, local)
            do {
                while true {
                    var progress = MCPProgress()
                    _ = try await engine.follow(run.id, after: 0) { record in
                        guard let token, let event = try? RunLogEvent(record), let note = progress.note(for: event, now: .now) else { return }
                        try await events.sendNamed("message", data: MCPWire.notification("notifications/progress", params: [
                            "progressToken": token, "progress": .number(Double(note.count)), "message": .string(note.text),
                        ]))
                    }
                    let outcome = await local.outcome()
                    await engine.unbindCall(scope: scope, handle: handle, runID: run.id)
                    guard let outcome else { throw CancellationError() }
                    guard asks, outcome.status == .interrupted, !(outcome.result?.awaitingApproval.isEmpty ?? true),
                          case .string(let tool)? = call.params["name"], let (approval, thread) = try await endpoints.pendingApproval(run) else {
                        try await events.sendNamed("message", data: try await endpoints.answer(outcome, run: run, call: call, id: id, era: era, context: context))
                        return
                    }
                    let answers: [String: JSONValue]
                    switch try await endpoints.ask(approval, thread: thread, tool: tool, era: era, context: context, send: { bytes in
                        try await events.sendNamed("message", data: bytes)
                    }) {
                    case .answered(let given):
                        answers = given
                    case .dismissed, .unanswered:
                        // The approval stands, and the result says where to answer it.
                        try await events.sendNamed("message", data: try Self.message(for: outcome, run: run, id: id, era: era))
                        return
                    case .closed:
                        let threadID = Tenancy.publicID(thread.id)
                        try await events.sendNamed("message", data: MCPWire.message(id: id, result: Self.closed(approval, threadID: threadID, era: era)))
                        return
                    }
                    do {
                        guard let decided = try MCPApprovals.answers(.object(answers), for: approval, era: era) else {
                            try await events.sendNamed("message", data: try Self.message(for: outcome, run: run, id: id, era: era))
                            return
                        }
                        (run, local) = try await endpoints.resume(thread, approval: approval.id, answers: decided, tool: tool, call: call, id: id,
                                                                  era: era, request, context)
                    } catch let error where !(error is CancellationError) {
                        // Answers that do not fit the approval: the call's error; the approval still waits.
                        let failure = error as? MCPWire.Failure ?? Self.failure(error, era: era, context)
                        try await events.sendNamed("message", data: MCPWire.message(id: id, error: failure))
                        return
                    }
                    try? await engine.bindCall(scope: scope, handle: handle, runID: run.id)
                }
            } catch {
                // The client left (the stateless revision's cancel): the run stops with it.
                local.cancel(.interrupt, reason: "client_disconnected")
                await engine.unbindCall(scope: scope, handle: handle, runID: run.id)
                throw error
            }
        }
    }
}

/// What a progress notification says of a run's log: one per step (a model turn, a tool call), and while the
/// model writes, at most one a quarter second.
struct MCPProgress {
    var count = 0
    var last: ContinuousClock.Instant?
    var written = 0
    static let interval = Duration.milliseconds(250)

    mutating func note(for event: RunLogEvent, now: ContinuousClock.Instant) -> (count: Int, text: String)? {
        let text: String
        switch event {
        case .stepStarted(.agent, let turn):
            text = "model turn \(turn)"
        case .toolStarted(let call):
            text = "calling tool \(call.name)"
        case .toolFailed(let call, _):
            text = "tool \(call.name) failed"
        case .messageDelta(_, let delta):
            written += delta.count
            if let last, now - last < Self.interval { return nil }
            text = "writing (\(written) characters)"
        default:
            return nil
        }
        count += 1
        last = now
        return (count, text)
    }
}
