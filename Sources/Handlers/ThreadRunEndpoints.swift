import AgentRuntime
import Foundation
import Logging
import Store

/// Runs on threads, LangGraph's paths, and the flat Agent Protocol aliases. A run's events are read from the
/// event log, so any worker can stream, resume or join a run that another worker executes.
struct ThreadRunEndpoints {
    let dependencies: Dependencies
    let supervisor: RunSupervisor
    var store: any AgentStore { supervisor.store }
    var executor: ThreadRunExecutor { ThreadRunExecutor(dependencies: dependencies, supervisor: supervisor) }

    /// How often a reader looks for events that another process appended.
    static let remotePoll: Duration = .milliseconds(50)

    func register(in router: inout Router) {
        router.add(Route("POST", "/threads/{thread_id}/runs/stream", operationID: "thread_run_stream", access: .scope("runs:write"),
                         summary: "Run an agent on a thread and stream its events (resumable)", handler: .async { request, context in
            try await stream(request, context)
        }))
        router.add(Route("POST", "/threads/{thread_id}/runs/wait", operationID: "thread_run_wait", access: .scope("runs:write"),
                         summary: "Run an agent on a thread and answer with the thread's final state", handler: .async { request, context in
            try await wait(request, context)
        }))
        router.add(Route("POST", "/threads/{thread_id}/runs", operationID: "thread_run_create", access: .scope("runs:write"),
                         summary: "Queue a background run on a thread; answers at once with the pending run", handler: .async { request, context in
            try await Idempotency(store: store).perform(request, context) { try await createBackground(request, context, threadID: try ThreadEndpoints.threadID(context)) }
        }))
        router.add(Route("POST", "/runs", operationID: "run_create", access: .scope("runs:write"),
                         summary: "Queue a background run on a new thread of its own", handler: .async { request, context in
            try await Idempotency(store: store).perform(request, context) { try await createBackground(request, context, threadID: nil) }
        }))
        router.add(Route("GET", "/threads/{thread_id}/runs", operationID: "thread_run_list", access: .scope("runs:read"), summary: "List a thread's runs, newest first",
                         handler: .async { request, context in try await list(request, context) }))
        for (prefix, scope) in [("/threads/{thread_id}/runs/{run_id}", "thread_run"), ("/runs/{run_id}", "run")] {
            router.add(Route("GET", prefix, operationID: "\(scope)_get", access: .scope("runs:read"), summary: "Get a run",
                             handler: .async { _, context in .json(encodeJSON(ThreadWire.Run(try await run(context)))) }))
            router.add(Route("DELETE", prefix, operationID: "\(scope)_delete", access: .scope("runs:write"), summary: "Delete a finished run and its events",
                             handler: .async { _, context in try await delete(context) }))
            router.add(Route("POST", prefix + "/cancel", operationID: "\(scope)_cancel", access: .scope("runs:write"),
                             summary: "Cancel a run (action=interrupt keeps partial output, rollback undoes the run)",
                             handler: .async { request, context in try await cancel(request, context) }))
            router.add(Route("GET", prefix + "/join", operationID: "\(scope)_join", access: .scope("runs:read"), summary: "Wait for a run and answer with the thread's state",
                             handler: .async { _, context in try await join(context) }))
            router.add(Route("GET", prefix + "/webhooks", operationID: "\(scope)_webhooks", access: .scope("runs:read"),
                             summary: "The run's webhook deliveries and every attempt", handler: .async { _, context in
                let run = try await run(context)
                return .json(encodeJSON(try await store.deliveries(run: run.id).map(DeliveryWire.init)))
            }))
            router.add(Route("GET", prefix + "/stream", operationID: "\(scope)_join_stream", access: .scope("runs:read"),
                             summary: "Stream a run's events from the log (Last-Event-ID resumes)",
                             handler: .async { request, context in try await joinStream(request, context) }))
        }
        router.add(Route("GET", "/runs/{run_id}/wait", operationID: "run_join_wait", access: .scope("runs:read"), summary: "Wait for a run (Agent Protocol)",
                         handler: .async { _, context in try await join(context) }))
    }

    // MARK: - Creating runs

    /// Validates, applies the thread's multitask strategy in the store, and starts the run here.
    func createRun(_ request: Request, _ context: RequestContext, defaultModes: [StreamMode]) async throws -> (RunRecord, RunPlan, LocalRun) {
        let threadID = try ThreadEndpoints.threadID(context)
        let plan = try RunPlan(request, catalog: dependencies.catalog, defaultModes: defaultModes, makeID: dependencies.makeID)
        try checkWebhook(plan)
        if plan.ifNotExists == .create {
            _ = try await store.createThread(NewThread(id: threadID, tenant: context.tenant), ifExists: .doNothing)
        }
        try await checkBudget(context)
        let runID = dependencies.makeID()
        var new = NewRun(
            id: runID, threadID: threadID, assistantID: plan.agent.id,
            metadata: ThreadEndpoints.text(plan.metadata), kwargs: String(decoding: plan.kwargs, as: UTF8.self),
            multitaskStrategy: plan.multitaskStrategy, onDisconnect: (plan.onDisconnect ?? .continue).rawValue,
            worker: supervisor.workerID, leaseUntil: supervisor.leaseDeadline)
        new.webhook = plan.webhook
        new.keyID = context.principal?.keyID
        new.maxConcurrentRuns = context.principal?.maxConcurrentRuns
        let record = try await store.createRun(new)
        var logger = context.logger
        logger[metadataKey: "run.id"] = .string(runID)
        logger[metadataKey: "thread.id"] = .string(Tenancy.publicID(threadID))
        logger[metadataKey: "agent.id"] = .string(plan.agent.id)
        return (record, plan, executor.start(record, plan: plan, logger: logger))
    }

    /// A key's daily token budget, counted from the usage of its finished runs (UTC days).
    func checkBudget(_ context: RequestContext) async throws {
        try await Budget.check(context.principal, store: store)
    }

    func checkWebhook(_ plan: RunPlan) throws {
        guard let webhook = plan.webhook else { return }
        guard dependencies.webhookSigner != nil else {
            throw APIError.invalid(field: "webhook", "webhooks are not enabled on this server (webhooks.secret_env in its configuration)")
        }
        _ = try WebhookPolicy(settings: dependencies.catalog.webhooks).check(webhook)
    }

    /// A run for the queue: stored as pending and answered at once; an executor on any worker starts it.
    func createBackground(_ request: Request, _ context: RequestContext, threadID given: String?) async throws -> Response {
        let plan = try RunPlan(request, catalog: dependencies.catalog, defaultModes: RunEndpoints.defaultStreamModes,
                               makeID: dependencies.makeID)
        try checkWebhook(plan)
        let threadID: String
        if let given {
            threadID = given
            if plan.ifNotExists == .create {
                _ = try await store.createThread(NewThread(id: threadID, tenant: context.tenant), ifExists: .doNothing)
            }
        } else {
            // A run without a thread still needs somewhere to keep its messages: a thread of its own, kept as
            // long as the run's events.
            threadID = context.threadKey(dependencies.makeID())
            _ = try await store.createThread(NewThread(id: threadID, metadata: #"{"created_by":"POST /runs"}"#,
                                                       ttl: supervisor.eventRetention, tenant: context.tenant), ifExists: .raise)
        }
        try await checkBudget(context)
        var new = NewRun(id: dependencies.makeID(), threadID: threadID, assistantID: plan.agent.id,
                         metadata: ThreadEndpoints.text(plan.metadata), kwargs: String(decoding: plan.kwargs, as: UTF8.self),
                         multitaskStrategy: given == nil ? .enqueue : plan.multitaskStrategy,
                         onDisconnect: OnDisconnect.continue.rawValue)
        new.webhook = plan.webhook
        new.keyID = context.principal?.keyID
        new.maxConcurrentRuns = context.principal?.maxConcurrentRuns
        new.background = true
        new.notBefore = plan.afterSeconds > 0 ? Date() + plan.afterSeconds : nil
        let run = try await store.createRun(new)
        context.logger.info("run.queued", metadata: ["run.id": .string(run.id), "thread.id": .string(Tenancy.publicID(threadID)),
                                                     "agent.id": .string(plan.agent.id)])
        supervisor.pokeBackground()
        var response = Response.json(encodeJSON(ThreadWire.Run(run)))
        response.headers.add("Content-Location", Self.location(run))
        return response
    }

    /// Starts a run an executor took from the queue, from the request stored with it.
    func startClaimed(_ run: RunRecord) {
        var logger = dependencies.logger
        logger[metadataKey: "run.id"] = .string(run.id)
        logger[metadataKey: "thread.id"] = .string(Tenancy.publicID(run.threadID ?? ""))
        logger[metadataKey: "agent.id"] = .string(run.assistantID)
        let stored = Request(method: "POST", path: "/threads/\(run.threadID ?? "")/runs",
                             headers: HTTPHeaders([("Content-Type", "application/json")]), body: Array(run.kwargs.utf8))
        do {
            let plan = try RunPlan(stored, catalog: dependencies.catalog, defaultModes: RunEndpoints.defaultStreamModes,
                                   makeID: dependencies.makeID)
            _ = executor.start(run, plan: plan, logger: logger, claimed: true)
        } catch {
            // The agent was removed or the configuration changed since the run was queued.
            let problem = (error as? APIError) ?? APIError(status: 422, code: "invalid_run", detail: "\(error)")
            logger.warning("run.failed", metadata: ["error": .string(problem.detail)])
            let store = self.store, worker = supervisor.workerID, supervisor = self.supervisor
            Task {
                let log = LoggedEvents(store: store, runID: run.id, supervisor: supervisor)
                await log.close(error: RunStreamError(error: problem.code, message: problem.detail))
                let note = String(decoding: encodeJSON(["error": RunStreamError(error: problem.code, message: problem.detail)]), as: UTF8.self)
                _ = try? await store.finishRun(run.id, worker: worker, RunCompletion(status: .error, messages: [], result: note))
            }
        }
    }

    func stream(_ request: Request, _ context: RequestContext) async throws -> Response {
        let (run, plan, local): (RunRecord, RunPlan, LocalRun)
        switch try await createOnce(request, context) {
        case .replayed(let stored): return try await replayStream(stored, request)
        case .created(let created): (run, plan, local) = created
        }
        let cancelOnLeave = (plan.onDisconnect ?? .continue) == .cancel
        let location = Self.location(run)
        return ServerSentEvents.response(heartbeat: dependencies.heartbeat, headers: HTTPHeaders([
            ("Content-Location", location), ("Location", location + "/stream"),
        ])) { [self] events in
            do {
                try await tail(run.id, after: 0, modes: nil, events)
            } catch {
                if cancelOnLeave { local.cancel(.interrupt, reason: "client_disconnected") }
                throw error
            }
        }
    }

    func wait(_ request: Request, _ context: RequestContext) async throws -> Response {
        let (run, plan, local): (RunRecord, RunPlan, LocalRun)
        switch try await createOnce(request, context) {
        case .replayed(let stored): return try await replayWait(stored, context)
        case .created(let created): (run, plan, local) = created
        }
        let cancelOnLeave = (plan.onDisconnect ?? .continue) == .cancel
        let outcome = await withTaskCancellationHandler {
            await local.outcome()
        } onCancel: {
            if cancelOnLeave { local.cancel(.interrupt, reason: "client_disconnected") }
        }
        guard let outcome else { throw CancellationError() }
        var response = try await finalState(threadID: run.threadID ?? "", error: outcome.error)
        response.headers.add("Content-Location", Self.location(run))
        return response
    }

    enum Started {
        case replayed(IdempotentResponse)
        case created((RunRecord, RunPlan, LocalRun))
    }

    /// Creates the run of a stream or wait under the request's Idempotency-Key: a retry gets the first run back.
    func createOnce(_ request: Request, _ context: RequestContext) async throws -> Started {
        let idempotency = Idempotency(store: store)
        switch try await idempotency.begin(request, context) {
        case .replay(let stored):
            return .replayed(stored)
        case .proceed(let claimed):
            do {
                let created = try await createRun(request, context, defaultModes: RunEndpoints.defaultStreamModes)
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
        let after = Int(request.headers["Last-Event-ID"] ?? "") ?? 0
        let location = Self.location(run)
        return ServerSentEvents.response(heartbeat: dependencies.heartbeat, headers: HTTPHeaders([
            ("Content-Location", location), ("Location", location + "/stream"), ("Idempotent-Replayed", "true"),
        ])) { [self] events in
            try await tail(run.id, after: after, modes: nil, events)
        }
    }

    /// A retried wait: the same run, joined.
    func replayWait(_ stored: IdempotentResponse, _ context: RequestContext) async throws -> Response {
        let ref = try JSONDecoder().decode(RunRef.self, from: Data(stored.body))
        var context = context
        context.parameters = ["run_id": ref.run_id]
        var response = try await join(context)
        response.headers.add("Idempotent-Replayed", "true")
        return response
    }

    /// The thread's values, as LangGraph answers a wait or a join; a run that failed adds `__error__`.
    func finalState(threadID: String, error: APIError?) async throws -> Response {
        let messages = try await store.messages(thread: threadID, limit: nil)
        guard case .object(var values) = ThreadWire.values(messages) else { return .json(Array("{}".utf8)) }
        if let error, error.code != "run_interrupted" {
            values["__error__"] = .object(["error": .string(error.code), "message": .string(error.detail)])
        }
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
