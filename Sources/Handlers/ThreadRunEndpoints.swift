import HTTPTypes
import AgentRuntime
import Foundation
import Logging
import Runs
import Store

/// Runs on threads, LangGraph's paths, and the flat Agent Protocol aliases. A run's events are read from the
/// event log, so any worker can stream, resume or join a run that another worker executes.
struct ThreadRunEndpoints {
    let dependencies: Dependencies
    let engine: RunEngine
    var store: StoreReader { engine.reader }
    var resolver: AgentResolver { AgentResolver(catalog: dependencies.catalog, reader: engine.reader) }

    func register(in router: inout Router) {
        router.add(Route("POST", "/threads/{thread_id}/runs/stream", operationID: "thread_run_stream", access: .scope("runs:write"),
                         summary: "Run an agent on a thread and stream its events (resumable)", doc: .threadRunStream, handler: .async { request, context in
            try await stream(request, context)
        }))
        router.add(Route("POST", "/threads/{thread_id}/runs/wait", operationID: "thread_run_wait", access: .scope("runs:write"),
                         summary: "Run an agent on a thread and answer with the thread's final state", doc: .threadRunWait, handler: .async { request, context in
            try await wait(request, context)
        }))
        router.add(Route("POST", "/threads/{thread_id}/runs", operationID: "thread_run_create", access: .scope("runs:write"),
                         summary: "Queue a background run on a thread; answers at once with the pending run", doc: .threadRunCreate, handler: .async { request, context in
            try await Idempotency(engine: engine).perform(request, context) { try await createBackground(request, context, threadID: try ThreadEndpoints.threadID(context)) }
        }))
        router.add(Route("POST", "/runs", operationID: "run_create", access: .scope("runs:write"),
                         summary: "Queue a background run on a new thread of its own", doc: .runCreate, handler: .async { request, context in
            try await Idempotency(engine: engine).perform(request, context) { try await createBackground(request, context, threadID: nil) }
        }))
        router.add(Route("GET", "/threads/{thread_id}/runs", operationID: "thread_run_list", access: .scope("runs:read"), summary: "List a thread's runs, newest first",
                         doc: .threadRunList, handler: .async { request, context in try await list(request, context) }))
        for (prefix, scope) in [("/threads/{thread_id}/runs/{run_id}", "thread_run"), ("/runs/{run_id}", "run")] {
            router.add(Route("GET", prefix, operationID: "\(scope)_get", access: .scope("runs:read"), summary: "Get a run",
                             doc: .runGet, handler: .async { _, context in .json(encodeJSON(ThreadWire.Run(try await run(context)))) }))
            router.add(Route("DELETE", prefix, operationID: "\(scope)_delete", access: .scope("runs:write"), summary: "Delete a finished run and its events",
                             doc: .runDelete, handler: .async { _, context in try await delete(context) }))
            router.add(Route("POST", prefix + "/cancel", operationID: "\(scope)_cancel", access: .scope("runs:write"),
                             summary: "Cancel a run (action=interrupt keeps partial output, rollback undoes the run)",
                             doc: .runCancel, handler: .async { request, context in try await cancel(request, context) }))
            router.add(Route("GET", prefix + "/join", operationID: "\(scope)_join", access: .scope("runs:read"), summary: "Wait for a run and answer with the thread's state",
                             doc: .runJoin, handler: .async { _, context in try await join(context) }))
            router.add(Route("GET", prefix + "/webhooks", operationID: "\(scope)_webhooks", access: .scope("runs:read"),
                             summary: "The run's webhook deliveries and every attempt", doc: .runWebhooks, handler: .async { _, context in
                let run = try await run(context)
                return .json(encodeJSON(try await store.deliveries(run: run.id).map(DeliveryWire.init)))
            }))
            router.add(Route("GET", prefix + "/stream", operationID: "\(scope)_join_stream", access: .scope("runs:read"),
                             summary: "Stream a run's events from the log (Last-Event-ID resumes)",
                             doc: .runJoinStream, handler: .async { request, context in try await joinStream(request, context) }))
        }
        router.add(Route("GET", "/runs/{run_id}/wait", operationID: "run_join_wait", access: .scope("runs:read"), summary: "Wait for a run (Agent Protocol)",
                         doc: .runJoinWait, handler: .async { _, context in try await join(context) }))
    }

    // MARK: - Creating runs

    /// Validates, and asks the engine for the run: the thread's multitask strategy is applied in the store, and the run
    /// starts here.
    func createRun(_ request: Request, _ context: RequestContext) async throws -> (RunRecord, RunJob, LocalRun) {
        let threadID = try ThreadEndpoints.threadID(context)
        let plan = try await RunPlan(request, resolver: resolver, tenant: context.tenant, defaultModes: RunEndpoints.defaultStreamModes,
                                     makeID: dependencies.makeID, continuing: true)
        try checkWebhook(plan)
        var order = order(plan, request, context,
                          thread: plan.ifNotExists == .create ? .createIfMissing(threadID, tenant: context.tenant) : .existing(threadID),
                          disconnect: .continue)
        order.job.keepHistory = try await keptHistory(plan, threadID: threadID)
        let ((record, local), job) = try await making(plan, &order, threadID: threadID, decider: context.principal?.keyID) { order in
            (try await engine.start(order), order.job)
        }
        return (record, job, local)
    }

    func order(_ plan: RunPlan, _ request: Request, _ context: RequestContext, thread: RunThread, disconnect: OnDisconnect) -> RunOrder {
        var order = RunOrder(job: plan.job(defaultDisconnect: disconnect), thread: thread, metadata: ThreadEndpoints.text(plan.metadata),
                             request: String(decoding: plan.kwargs, as: UTF8.self), quota: context.principal?.quota, logger: context.logger)
        // As LangGraph's server does: Agent Chat UI lists a graph's threads by searching for these.
        order.threadMetadata = String(decoding: encodeJSON(["graph_id": plan.agent.id, "assistant_id": plan.assistantID]), as: UTF8.self)
        return order
    }

    func checkWebhook(_ plan: RunPlan) throws {
        guard let webhook = plan.webhook else { return }
        guard dependencies.webhookSigner != nil else {
            throw APIError.invalid(field: "webhook", "webhooks are not enabled on this server (webhooks.secret_env in its configuration)")
        }
        _ = try WebhookPolicy(settings: dependencies.catalog.webhooks).check(webhook)
    }

    /// A run for the queue: stored as pending and answered at once; the engine of any worker starts it.
    func createBackground(_ request: Request, _ context: RequestContext, threadID given: String?) async throws -> Response {
        let plan = try await backgroundPlan(request, context, continuing: given != nil)
        let run = try await enqueue(plan, request, context, threadID: given)
        var response = Response.json(encodeJSON(ThreadWire.Run(run)))
        response.headers.append(HTTPField(name: .contentLocation, value: Self.location(run)))
        return response
    }

    /// `continuing`: on a thread, which a run without input may go on from a breakpoint of.
    func backgroundPlan(_ request: Request, _ context: RequestContext, continuing: Bool = false) async throws -> RunPlan {
        let plan = try await RunPlan(request, resolver: resolver, tenant: context.tenant, defaultModes: RunEndpoints.defaultStreamModes,
                                     makeID: dependencies.makeID, continuing: continuing)
        try checkWebhook(plan)
        return plan
    }

    func enqueue(_ plan: RunPlan, _ request: Request, _ context: RequestContext, threadID given: String?) async throws -> RunRecord {
        let thread: RunThread = if let given {
            plan.ifNotExists == .create ? .createIfMissing(given, tenant: context.tenant) : .existing(given)
        } else {
            .own(context.threadKey(dependencies.makeID()), tenant: context.tenant, metadata: #"{"created_by":"POST /runs"}"#)
        }
        var order = order(plan, request, context, thread: thread, disconnect: .continue)
        // Nobody waits on a background run: whoever asked may leave.
        order.job.onDisconnect = .continue
        if let given {
            order.job.keepHistory = try await keptHistory(plan, threadID: given)
            return try await making(plan, &order, threadID: given, decider: context.principal?.keyID) { order in
                try await engine.enqueue(order)
            }
        } else if plan.checkpointID != nil {
            throw Self.checkpointWithoutThread
        } else if plan.resume != nil {
            throw Self.resumeWithoutThread
        } else if plan.continues {
            throw RunPlan.inputRequired(nil)
        }
        return try await engine.enqueue(order)
    }

    static let resumeWithoutThread = APIError.invalid(field: "command", "answers an approval a thread waits for: send it to POST /threads/{thread_id}/runs")

    /// Makes the run with `make`, reading the thread first only for a run that answers an approval or goes on from a
    /// breakpoint. Any other run is asked for at once: the store refuses it, in the transaction that would make it, if
    /// the thread waits for an approval, and only then is the thread read (an expired approval's calls count as
    /// rejected by the new input) and the run asked for again. A run on a new thread reads nothing first.
    func making<T>(_ plan: RunPlan, _ order: inout RunOrder, threadID: String, decider: String?,
                   _ make: (RunOrder) async throws -> T) async throws -> T {
        if plan.resume != nil || plan.continues {
            try await answerApproval(plan, &order, threadID: threadID, decider: decider)
            return try await make(order)
        }
        do {
            return try await make(order)
        } catch let error as RunProblemConvertible where error.problem.code == "approval_pending" {
            try await answerApproval(plan, &order, threadID: threadID, decider: decider)
            guard order.answersApproval != nil else { throw error }
            return try await make(order)
        }
    }

    /// A thread waiting for approval takes only a run that answers it (`command.resume`), or, once the approval has
    /// expired, new input (the waiting calls then count as rejected). The store makes the run only while that approval
    /// is still the one pending.
    func answerApproval(_ plan: RunPlan, _ order: inout RunOrder, threadID: String, decider: String?) async throws {
        guard let thread = try await engine.reader.thread(threadID) else {
            if plan.resume != nil { throw APIError.threadNotFound(threadID) }
            if plan.continues { throw RunPlan.inputRequired(nil) }
            return
        }
        if plan.continues {
            // No input: on from the breakpoint the thread stopped at (an approval needs its decisions).
            guard let pending = thread.pendingApproval, let request = ApprovalRequest.decode(pending.body), request.breakpoint != nil else {
                if thread.pendingApproval != nil {
                    throw APIError.invalid(field: "command", "the thread waits for decisions about its tool calls: send command.resume")
                }
                throw RunPlan.inputRequired(nil)
            }
            let (approval, decisions) = try engine.decisions(for: thread, answering: nil, answers: [])
            order.job.answer(decisions)
            order.answersApproval = approval
            order.metadata = Self.stampingDecision(order.metadata, approval: approval, decider: decider)
        } else if let resume = plan.resume {
            let (approval, decisions) = try engine.decisions(for: thread, answering: resume.id, answers: resume.answers)
            order.job.answer(decisions)
            order.answersApproval = approval
            order.metadata = Self.stampingDecision(order.metadata, approval: approval, decider: decider)
        } else if let (approval, rejections) = try engine.expiredAnswers(for: thread) {
            order.job.input = rejections.map(StoredMessage.init) + order.job.input
            order.answersApproval = approval
        }
    }

    /// Who decided an approval, and when, on the run that carries the decision out: its metadata's `approval`
    /// (`answers`: the paused run; `decided_by`: the key's id, null without keys).
    static func stampingDecision(_ metadata: JSONText, approval: String, decider: String?) -> JSONText {
        guard case .object(var fields) = ThreadWire.object(metadata) else { return metadata }
        fields["approval"] = .object(["answers": .string(approval), "decided_by": decider.map(JSONValue.string) ?? .null,
                                      "decided_at": .string(ThreadWire.time(Date()))])
        return String(decoding: encodeJSON(JSONValue.object(fields)), as: UTF8.self)
    }

    static let checkpointWithoutThread = APIError.invalid(field: "checkpoint_id", "needs a thread to go back on: POST /threads/{thread_id}/runs")

    /// A run from one of the thread's checkpoints keeps the messages of that state and drops the later ones before it
    /// starts (a branch replaces what followed, where LangGraph keeps both in the history).
    func keptHistory(_ plan: RunPlan, threadID: String) async throws -> Int? {
        guard let checkpointID = plan.checkpointID else { return nil }
        guard try await engine.reader.thread(threadID) != nil else { throw APIError.threadNotFound(threadID) }
        let checkpoints = try await engine.reader.checkpoints(thread: threadID, limit: 10_000, before: nil)
        guard let found = checkpoints.first(where: { $0.id == checkpointID }) else {
            throw APIError(status: 404, code: "checkpoint_not_found",
                           detail: "Thread '\(Tenancy.publicID(threadID).prefix(100))' has no checkpoint '\(checkpointID.prefix(100))'.",
                           field: "checkpoint_id")
        }
        return found.messageCount
    }

    func stream(_ request: Request, _ context: RequestContext) async throws -> Response {
        let (run, job, local): (RunRecord, RunJob, LocalRun)
        switch try await createOnce(request, context) {
        case .replayed(let stored): return try await replayStream(stored, request)
        case .created(let created): (run, job, local) = created
        }
        let cancelOnLeave = job.onDisconnect == .cancel
        let location = Self.location(run)
        let modes = Set(job.streamModes.compactMap(StreamMode.init(rawValue:)))
        return ServerSentEvents.response(heartbeat: dependencies.heartbeat, headers: [
            .contentLocation: location, .location: location + "/stream",
        ]) { [self] events in
            do {
                try await tail(run, after: 0, modes: modes, events)
            } catch {
                if cancelOnLeave { local.cancel(.interrupt, reason: "client_disconnected") }
                throw error
            }
        }
    }

    func wait(_ request: Request, _ context: RequestContext) async throws -> Response {
        let (run, job, local): (RunRecord, RunJob, LocalRun)
        switch try await createOnce(request, context) {
        case .replayed(let stored): return try await replayWait(stored, context)
        case .created(let created): (run, job, local) = created
        }
        let cancelOnLeave = job.onDisconnect == .cancel
        let outcome = await withTaskCancellationHandler {
            await local.outcome()
        } onCancel: {
            if cancelOnLeave { local.cancel(.interrupt, reason: "client_disconnected") }
        }
        guard let outcome else { throw CancellationError() }
        var response = try await finalState(threadID: run.threadID ?? "", error: outcome.error.map(APIError.init))
        response.headers.append(HTTPField(name: .contentLocation, value: Self.location(run)))
        return response
    }

    enum Started {
        case replayed(IdempotentResponse)
        case created((RunRecord, RunJob, LocalRun))
    }

    /// Creates the run of a stream or wait under the request's Idempotency-Key: a retry gets the first run back.
    func createOnce(_ request: Request, _ context: RequestContext) async throws -> Started {
        let idempotency = Idempotency(engine: engine)
        switch try await idempotency.begin(request, context) {
        case .replay(let stored):
            return .replayed(stored)
        case .proceed(let claimed):
            do {
                let created = try await createRun(request, context)
                await idempotency.complete(claimed, status: 200, headers: [],
                                           body: encodeJSON(RunRef(run_id: created.0.id, thread_id: created.0.threadID)))
                return .created(created)
            } catch {
                await idempotency.release(claimed)
                throw error
            }
        }
    }

    struct RunRef: Codable {
        var run_id: String
        var thread_id: String?
    }

    /// A retried stream request: the same run's stream, from its log (or after `Last-Event-ID`).
    func replayStream(_ stored: IdempotentResponse, _ request: Request) async throws -> Response {
        let ref = try JSONDecoder().decode(RunRef.self, from: Data(stored.body))
        guard let run = try await store.run(ref.run_id) else { throw APIError.notFound("The run of this Idempotency-Key is gone.", code: "run_not_found") }
        let after = Int(request.headers[.lastEventID] ?? "") ?? 0
        let location = Self.location(run)
        return ServerSentEvents.response(heartbeat: dependencies.heartbeat, headers: [
            .contentLocation: location, .location: location + "/stream", .idempotentReplayed: "true",
        ]) { [self] events in
            try await tail(run, after: after, modes: nil, events)
        }
    }

    /// A retried wait: the same run, joined.
    func replayWait(_ stored: IdempotentResponse, _ context: RequestContext) async throws -> Response {
        let ref = try JSONDecoder().decode(RunRef.self, from: Data(stored.body))
        var context = context
        context.parameters = ["run_id": ref.run_id]
        var response = try await join(context)
        response.headers.append(HTTPField(name: .idempotentReplayed, value: "true"))
        return response
    }

    /// The thread's values, as LangGraph answers a wait or a join; a run that failed adds `__error__`.
    func finalState(threadID: String, error: APIError?) async throws -> Response {
        let (thread, messages) = try await store.threadWithMessages(threadID)
        guard case .object(var values) = ThreadWire.values(messages, extra: thread?.values ?? "{}") else { return .json(Array("{}".utf8)) }
        if let error, error.code != "run_interrupted" {
            values["__error__"] = .object(["error": .string(error.code), "message": .string(error.detail)])
        }
        if let thread, let (_, interrupt) = LangGraphInterrupts.pending(thread), let interrupt { values["__interrupt__"] = .array([interrupt]) }
        return .json(encodeJSON(JSONValue.object(values)))
    }

}

extension Request {
    /// Every value of a repeated query parameter, in order.
    func queryValues(_ name: String) -> [String] {
        query.split(separator: "&", omittingEmptySubsequences: true).compactMap { pair in
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard percentDecode(parts[0]) == name else { return nil }
            return parts.count > 1 ? percentDecode(parts[1]) : ""
        }
    }
}
