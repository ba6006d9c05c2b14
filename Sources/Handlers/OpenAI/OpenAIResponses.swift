import HTTPTypes
import AgentRuntime
import Foundation
import Runs
import Store

extension OpenAIEndpoints {
    /// With an `Idempotency-Key`, the response is remembered as soon as its run exists: a retry (streamed or not,
    /// from any worker, even after the first client left) gets the same response, never a second run.
    func createResponse(_ request: Request, _ context: RequestContext) async throws -> Response {
        let plan = try await ResponsePlan(request, resolver: AgentResolver(catalog: dependencies.catalog, reader: engine.reader),
                                          tenant: context.tenant, makeID: dependencies.makeID)
        guard plan.store else {
            return try await Idempotency(engine: engine).perform(request, context) { try await statelessResponse(plan, context) }
        }
        let idempotency = Idempotency(engine: engine)
        switch try await idempotency.begin(request, context) {
        case .replay(let stored):
            struct Ref: Decodable { var response_id: String }
            guard let ref = try? JSONDecoder().decode(Ref.self, from: Data(stored.body)) else { return Idempotency.replayed(stored) }
            var response = try await answer(plan, run: try await ownedRun(ref.response_id, context), local: nil)
            response.headers.append(HTTPField(name: .idempotentReplayed, value: "true"))
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
            // A run paused for approval ended with its answer; one cancelled did not.
            if outcome.status == .interrupted, outcome.result == nil { throw CancellationError() }
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
        var order = RunOrder(job: plan.job, thread: thread, metadata: metadata, request: String(decoding: request.body, as: UTF8.self),
                             quota: context.principal?.quota, logger: context.logger)
        if case .existing(let threadID) = thread {
            try await answerApprovals(plan, &order, threadID: threadID)
            if let approval = order.answersApproval, !plan.approvals.isEmpty {
                order.metadata = ThreadRunEndpoints.stampingDecision(order.metadata, approval: approval, decider: context.principal?.keyID)
            }
        }
        if plan.background { return (try await engine.enqueue(order), nil) }
        let (run, local) = try await engine.start(order)
        return (run, local)
    }

    /// The client's `mcp_approval_response`s, one per approval request of the response it continues, as the
    /// decisions the run carries out; without them, a conversation whose approval expired takes new input.
    func answerApprovals(_ plan: ResponsePlan, _ order: inout RunOrder, threadID: String) async throws {
        guard let thread = try await engine.reader.thread(threadID) else { return }
        guard !plan.approvals.isEmpty else {
            if let (approval, rejections) = try engine.expiredAnswers(for: thread) {
                order.job.input = rejections.map(StoredMessage.init) + order.job.input
                order.answersApproval = approval
            }
            return
        }
        guard let pending = thread.pendingApproval, let request = ApprovalRequest.decode(pending.body) else {
            throw APIError(status: 409, code: "nothing_to_resume", detail: "The conversation waits for no approval (answered already, or never asked).",
                           field: "input")
        }
        var answers: [String: (approve: Bool, reason: String?)] = [:]
        for answer in plan.approvals {
            guard answers[answer.requestID] == nil else { throw APIError.invalid(field: "input", "approval_request_id '\(answer.requestID.prefix(80))' is answered twice") }
            guard request.reviewed.contains(where: { ResponsesWire.approvalItemID($0.id) == answer.requestID }) else {
                throw APIError.invalid(field: "input", "approval_request_id '\(answer.requestID.prefix(80))' is not one the conversation waits for")
            }
            answers[answer.requestID] = (answer.approve, answer.reason)
        }
        let decided = try request.reviewed.map { call -> ApprovalAnswer in
            let id = ResponsesWire.approvalItemID(call.id)
            guard let answer = answers[id] else { throw APIError.invalid(field: "input", "no mcp_approval_response for '\(id)'; answer every request") }
            return answer.approve ? .approve : .reject(message: answer.reason ?? "")
        }
        let (approval, decisions) = try engine.decisions(for: thread, answering: nil, answers: decided)
        order.job.answer(decisions)
        order.answersApproval = approval
    }

    /// `store: false`: nothing is kept; the run is stateless and its response cannot be read again.
    func statelessResponse(_ plan: ResponsePlan, _ context: RequestContext) async throws -> Response {
        let admission = try await engine.admitStateless(context.principal?.quota, for: plan.job)
        let runID = dependencies.makeID()
        var logger = context.logger
        logger[metadataKey: "run.id"] = .string(runID)
        let template = ResponsesWire.Response(
            id: ResponsesWire.responseID(runID), created_at: Int(Date().timeIntervalSince1970), status: "in_progress", background: false,
            model: plan.modelID, output: [], metadata: .object(plan.metadata.mapValues(JSONValue.string)), store: false,
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

    /// The messages a run added to its thread, for its response's output. A run that carried out approved calls
    /// starts with their results: the calls, from the response that asked, come first, so that they show as mcp_call items.
    func added(by run: RunRecord) async throws -> [ChatMessage] {
        guard let threadID = run.threadID else { return [] }
        let input = Set((run.job.flatMap { try? RunJob.decode($0) }?.input ?? []).map(\.id))
        let all = try await store.messages(thread: threadID, limit: nil)
        let added = all.filter { $0.runID == run.id }.compactMap { try? StoredMessage.decode($0.body) }.filter { !input.contains($0.id) }
        let answered = Set(added.filter { $0.role == .tool }.compactMap(\.toolCallID))
        let asked = Set(added.flatMap(\.toolCalls).map(\.id))
        let earlier = answered.subtracting(asked)
        guard !earlier.isEmpty else { return added }
        let calls = all.compactMap { try? StoredMessage.decode($0.body) }.flatMap(\.toolCalls).filter { earlier.contains($0.id) }
        return [ChatMessage(id: "answered-" + run.id, role: .assistant, content: "", toolCalls: calls)] + added
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
