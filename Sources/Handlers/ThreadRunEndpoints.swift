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
        router.add(Route("POST", "/threads/{thread_id}/runs/stream", operationID: "thread_run_stream",
                         summary: "Run an agent on a thread and stream its events (resumable)", handler: .async { request, context in
            try await stream(request, context)
        }))
        router.add(Route("POST", "/threads/{thread_id}/runs/wait", operationID: "thread_run_wait",
                         summary: "Run an agent on a thread and answer with the thread's final state", handler: .async { request, context in
            try await wait(request, context)
        }))
        router.add(Route("POST", "/threads/{thread_id}/runs", operationID: "thread_run_create",
                         summary: "Queue a background run on a thread; answers at once with the pending run", handler: .async { request, context in
            try await Idempotency(store: store).perform(request, context) { try await createBackground(request, context, threadID: try ThreadEndpoints.threadID(context)) }
        }))
        router.add(Route("POST", "/runs", operationID: "run_create",
                         summary: "Queue a background run on a new thread of its own", handler: .async { request, context in
            try await Idempotency(store: store).perform(request, context) { try await createBackground(request, context, threadID: nil) }
        }))
        router.add(Route("GET", "/threads/{thread_id}/runs", operationID: "thread_run_list", summary: "List a thread's runs, newest first",
                         handler: .async { request, context in try await list(request, context) }))
        for (prefix, scope) in [("/threads/{thread_id}/runs/{run_id}", "thread_run"), ("/runs/{run_id}", "run")] {
            router.add(Route("GET", prefix, operationID: "\(scope)_get", summary: "Get a run",
                             handler: .async { _, context in .json(encodeJSON(ThreadWire.Run(try await run(context)))) }))
            router.add(Route("DELETE", prefix, operationID: "\(scope)_delete", summary: "Delete a finished run and its events",
                             handler: .async { _, context in try await delete(context) }))
            router.add(Route("POST", prefix + "/cancel", operationID: "\(scope)_cancel",
                             summary: "Cancel a run (action=interrupt keeps partial output, rollback undoes the run)",
                             handler: .async { request, context in try await cancel(request, context) }))
            router.add(Route("GET", prefix + "/join", operationID: "\(scope)_join", summary: "Wait for a run and answer with the thread's state",
                             handler: .async { _, context in try await join(context) }))
            router.add(Route("GET", prefix + "/webhooks", operationID: "\(scope)_webhooks",
                             summary: "The run's webhook deliveries and every attempt", handler: .async { _, context in
                let run = try await run(context)
                return .json(encodeJSON(try await store.deliveries(run: run.id).map(DeliveryWire.init)))
            }))
            router.add(Route("GET", prefix + "/stream", operationID: "\(scope)_join_stream",
                             summary: "Stream a run's events from the log (Last-Event-ID resumes)",
                             handler: .async { request, context in try await joinStream(request, context) }))
        }
        router.add(Route("GET", "/runs/{run_id}/wait", operationID: "run_join_wait", summary: "Wait for a run (Agent Protocol)",
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
        let record = try await ThreadEndpoints.mapped { [new] in try await store.createRun(new) }
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
        let run = try await ThreadEndpoints.mapped { [new] in try await store.createRun(new) }
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
        let idempotency = Idempotency(store: store)
        let claimed: Idempotency.Claimed?
        switch try await idempotency.begin(request, context) {
        case .replay(let stored): return try await replayStream(stored, request)
        case .proceed(let claim): claimed = claim
        }
        let (run, plan, local): (RunRecord, RunPlan, LocalRun)
        do {
            (run, plan, local) = try await createRun(request, context, defaultModes: RunEndpoints.defaultStreamModes)
        } catch {
            await idempotency.release(claimed)
            throw error
        }
        await idempotency.complete(claimed, status: 200, headers: [], body: encodeJSON(RunRef(run_id: run.id, thread_id: run.threadID)))
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
        let idempotency = Idempotency(store: store)
        let claimed: Idempotency.Claimed?
        switch try await idempotency.begin(request, context) {
        case .replay(let stored): return try await replayWait(stored, context)
        case .proceed(let claim): claimed = claim
        }
        let (run, plan, local): (RunRecord, RunPlan, LocalRun)
        do {
            (run, plan, local) = try await createRun(request, context, defaultModes: RunEndpoints.defaultStreamModes)
        } catch {
            await idempotency.release(claimed)
            throw error
        }
        await idempotency.complete(claimed, status: 200, headers: [], body: encodeJSON(RunRef(run_id: run.id, thread_id: run.threadID)))
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

    // MARK: - Reading runs

    /// The run named by the path; one on another thread is not found, so ids cannot be probed across threads.
    func run(_ context: RequestContext) async throws -> RunRecord {
        let runID = try ThreadEndpoints.validID(context.parameters["run_id"] ?? "", field: "run_id")
        let threadID = try context.parameters["thread_id"].map { context.threadKey(try ThreadEndpoints.validID($0, field: "thread_id")) }
        // Another tenant's run is not found, whichever path asks.
        guard let run = try await store.run(runID), threadID == nil || run.threadID == threadID,
              Tenancy.owns(run.threadID ?? "", tenant: context.tenant) else {
            throw APIError.notFound("No run with id '\(runID.prefix(100))'\(threadID.map { " on thread '\(Tenancy.publicID($0).prefix(100))'" } ?? "").",
                                    code: "run_not_found")
        }
        return run
    }

    func list(_ request: Request, _ context: RequestContext) async throws -> Response {
        let threadID = try ThreadEndpoints.threadID(context)
        let query = request.queryItems
        let limit = try ThreadEndpoints.limit(query["limit"], field: "limit") ?? 10
        guard (1...1000).contains(limit) else { throw APIError.invalid(field: "limit", "must be between 1 and 1000") }
        let offset = try ThreadEndpoints.limit(query["offset"], field: "offset") ?? 0
        guard offset >= 0 else { throw APIError.invalid(field: "offset", "must not be negative") }
        var status: RunStatus?
        if let text = query["status"], !text.isEmpty {
            guard let value = RunStatus(rawValue: text) else { throw APIError.invalid(field: "status", unknownValue(text, RunStatus.self)) }
            status = value
        }
        guard try await store.thread(threadID) != nil else { throw ThreadEndpoints.threadNotFound(threadID) }
        let runs = try await store.runs(thread: threadID, limit: limit, offset: offset, status: status)
        return .json(encodeJSON(runs.map(ThreadWire.Run.init)))
    }

    func delete(_ context: RequestContext) async throws -> Response {
        let run = try await run(context)
        _ = try await ThreadEndpoints.mapped { try await store.deleteRun(run.id) }
        return Response(status: 204)
    }

    func cancel(_ request: Request, _ context: RequestContext) async throws -> Response {
        let query = request.queryItems
        var action = CancelAction.interrupt
        if let text = query["action"], !text.isEmpty {
            guard let value = CancelAction(rawValue: text) else { throw APIError.invalid(field: "action", unknownValue(text, CancelAction.self)) }
            action = value
        }
        let waitFlag = query["wait"] ?? "0"
        guard ["0", "1", "true", "false", ""].contains(waitFlag) else { throw APIError.invalid(field: "wait", "must be 0, 1, true or false") }
        let run = try await run(context)
        context.logger.info("run.cancel_requested", metadata: ["run.id": .string(run.id), "action": .string(action.rawValue)])
        guard var updated = try await store.requestCancel(run.id, action: action) else {
            throw APIError.notFound("No run with id '\(run.id)'.", code: "run_not_found")
        }
        supervisor.cancelLocal(run.id, action: action)
        guard waitFlag == "1" || waitFlag == "true" else {
            return Response.json(encodeJSON(ThreadWire.Run(updated)), status: 202)
        }
        // Until the worker running it (this one or another) has stopped it.
        let bell = supervisor.acquireBell(run.id)
        defer { supervisor.releaseBell(run.id) }
        while updated.status.isActive {
            let generation = bell.generation
            guard let current = try await store.run(run.id) else { return Response(status: 204) }
            updated = current
            if updated.status.isActive {
                await bell.wait(since: generation, timeout: Self.remotePoll, watchdog: dependencies.watchdog)
                try Task.checkCancellation()
            }
        }
        return .json(encodeJSON(ThreadWire.Run(updated)))
    }

    func join(_ context: RequestContext) async throws -> Response {
        var run = try await run(context)
        let bell = supervisor.acquireBell(run.id)
        defer { supervisor.releaseBell(run.id) }
        while run.status.isActive {
            let generation = bell.generation
            guard let current = try await store.run(run.id) else { break }
            run = current
            if run.status.isActive {
                await bell.wait(since: generation, timeout: Self.remotePoll, watchdog: dependencies.watchdog)
                try Task.checkCancellation()
            }
        }
        let error = Self.runError(run)
        guard let threadID = run.threadID else {
            return .json(encodeJSON(ThreadWire.Run(run)))
        }
        return try await finalState(threadID: threadID, error: error)
    }

    static func runError(_ run: RunRecord) -> APIError? {
        guard run.status == .error || run.status == .timeout else { return nil }
        struct Note: Decodable { var error: RunStreamError? }
        let note = run.result.flatMap { try? JSONDecoder().decode(Note.self, from: Data($0.utf8)) }?.error
        return APIError(status: 500, code: note?.error ?? "run_failed", detail: note?.message ?? "The run failed.")
    }

    func joinStream(_ request: Request, _ context: RequestContext) async throws -> Response {
        let run = try await run(context)
        // The header, or the query parameter for clients that cannot set one; blank means from the start.
        let header = (request.headers["Last-Event-ID"] ?? "").trimmingCharacters(in: .whitespaces)
        let query = request.queryValues("last_event_id").map { $0.trimmingCharacters(in: .whitespaces) }
        let (field, lastID) = header.isEmpty ? ("last_event_id", query.count > 1 ? "repeated" : query.first ?? "") : ("Last-Event-ID", header)
        var after = 0
        if !lastID.isEmpty {
            guard let value = Int(lastID), value >= 0 else {
                throw APIError.invalid(field: field, "must be the id of an event of this run (a non-negative integer), given once")
            }
            after = value
        }
        var modes: Set<String>?
        let requested = request.queryValues("stream_mode").filter { !$0.isEmpty }
        if !requested.isEmpty {
            for mode in requested where StreamMode(rawValue: mode) == nil {
                throw APIError.invalid(field: "stream_mode", unknownValue(mode, StreamMode.self))
            }
            modes = Set(requested)
        }
        let cancelValues = request.queryValues("cancel_on_disconnect")
        guard cancelValues.count <= 1, cancelValues.allSatisfy({ ["true", "false"].contains($0) }) else {
            throw APIError.invalid(field: "cancel_on_disconnect", "must be true or false, given once")
        }
        let cancelOnLeave = cancelValues.first == "true"
        let location = Self.location(run)
        let (start, filter) = (after, modes)
        return ServerSentEvents.response(heartbeat: dependencies.heartbeat, headers: HTTPHeaders([
            ("Content-Location", location), ("Location", location + "/stream"),
        ])) { [self] events in
            do {
                try await tail(run.id, after: start, modes: filter, events)
            } catch {
                if cancelOnLeave {
                    _ = try? await store.requestCancel(run.id, action: .interrupt)
                    supervisor.cancelLocal(run.id, action: .interrupt)
                }
                throw error
            }
        }
    }

    /// Sends the run's logged events after `after`, then the live tail, until its `end`. The log is the only
    /// source, so a reader here and the run on another worker see the same numbered events: no gap, no repeat.
    func tail(_ runID: String, after: Int, modes: Set<String>?, _ events: EventStreamWriter) async throws {
        let bell = supervisor.acquireBell(runID)
        defer { supervisor.releaseBell(runID) }
        var last = after
        var idlePolls = 0
        while true {
            let generation = bell.generation
            let batch = try await store.events(run: runID, after: last, limit: 256)
            for event in batch {
                last = event.seq
                if let modes, let mode = Self.mode(of: event.event), !modes.contains(mode) { continue }
                try await events.send(logged: event)
                if event.event == "end" { return }
            }
            if batch.count == 256 { continue }
            if batch.isEmpty {
                idlePolls += 1
                // Now and then, and before giving up: a run that ended without an `end` in its log (rolled back,
                // deleted, or its events pruned) would otherwise be waited on for ever.
                if idlePolls % 20 == 0 {
                    let run = try await store.run(runID)
                    if run == nil || run?.status.isActive == false,
                       try await store.events(run: runID, after: last, limit: 1).isEmpty {
                        try await events.sendUnnumbered("end", data: Array("null".utf8))
                        return
                    }
                }
            } else {
                idlePolls = 0
            }
            let local = supervisor.localRun(runID) != nil
            await bell.wait(since: generation, timeout: local ? .seconds(1) : supervisor.remotePoll, watchdog: dependencies.watchdog)
            try Task.checkCancellation()
        }
    }

    /// The stream mode an event belongs to; nil for the frames every reader gets (metadata, error, end).
    static func mode(of event: String) -> String? {
        switch event {
        case "values", "updates", "custom": event
        case "messages": StreamMode.messagesTuple.rawValue
        case _ where event.hasPrefix("messages/"): StreamMode.messages.rawValue
        default: nil
        }
    }

    static func location(_ run: RunRecord) -> String {
        let runPart = "/runs/" + escape(run.id)
        return run.threadID.map { "/threads/" + escape(Tenancy.publicID($0)) + runPart } ?? runPart
    }

    static func escape(_ id: String) -> String {
        var allowed = CharacterSet.urlPathAllowed
        allowed.remove(charactersIn: "/;?#%")
        return id.addingPercentEncoding(withAllowedCharacters: allowed) ?? id
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
