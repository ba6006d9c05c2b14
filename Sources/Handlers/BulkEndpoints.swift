import AgentRuntime
import Foundation
import Runs
import Store

/// langgraph-sdk's calls over many threads or runs: `threads.count`, `threads.prune`, `threads.copy`,
/// `runs.cancel_many` and `runs.create_batch`. Each stays within the caller's tenant, as every route does.
struct BulkEndpoints {
    let dependencies: Dependencies
    let engine: RunEngine
    var store: StoreReader { engine.reader }

    static let maxPrune = 1000
    static let maxBatch = 100
    static let maxCancel = 1000

    func register(in router: inout Router) {
        router.add(Route("POST", "/threads/count", operationID: "thread_count", access: .scope("threads:read"),
                         summary: "Count threads by metadata and status", doc: .threadCount, handler: .async { request, context in
            try await count(request, context)
        }))
        router.add(Route("POST", "/threads/prune", operationID: "thread_prune", access: .scope("threads:write"),
                         summary: "Delete threads, or keep only their latest state", doc: .threadPrune, handler: .async { request, context in
            try await prune(request, context)
        }))
        router.add(Route("POST", "/threads/{thread_id}/copy", operationID: "thread_copy", access: .scope("threads:write"),
                         summary: "Copy a thread: a new thread with its metadata and messages", doc: .threadCopy, handler: .async { _, context in
            try await copy(context)
        }))
        router.add(Route("POST", "/runs/cancel", operationID: "run_cancel_many", access: .scope("runs:write"),
                         summary: "Cancel runs: some of a thread's, or all in a status", doc: .runCancelMany, handler: .async { request, context in
            try await cancelMany(request, context)
        }))
        router.add(Route("POST", "/runs/search", operationID: "run_search", access: .scope("runs:read"),
                         summary: "Search your runs by agent, thread, status and metadata", doc: .runSearch, handler: .async { request, context in
            try await searchRuns(request, context)
        }))
        router.add(Route("POST", "/runs/batch", operationID: "run_create_batch", access: .scope("runs:write"),
                         summary: "Queue up to 100 background runs at once", doc: .runBatch, handler: .async { request, context in
            try await batch(request, context)
        }))
    }

    struct CountBody: Decodable {
        var metadata: [String: JSONValue]?
        var values: JSONValue?
        var status: ThreadStatus?
    }

    func count(_ request: Request, _ context: RequestContext) async throws -> Response {
        let body = try request.decodeJSON(CountBody.self, allowEmpty: true)
        if body.values != nil { throw APIError.invalid(field: "values", "filtering by state values is not supported; filter by metadata") }
        let filters = (body.metadata ?? [:]).sorted { $0.key < $1.key }.map { (key: $0.key, value: ThreadEndpoints.text($0.value)) }
        let count = try await store.countThreads(ThreadQuery(metadata: filters, status: body.status, tenant: context.tenant))
        return .json(encodeJSON(count))
    }

    struct RunSearchBody: Decodable {
        var agent_id: String?
        var assistant_id: String?
        var thread_id: String?
        var status: RunStatus?
        var metadata: [String: JSONValue]?
        var limit: Int?
        var offset: Int?
    }

    /// Agent Protocol's run search: the caller's runs on threads (stateless runs are not stored), newest first.
    func searchRuns(_ request: Request, _ context: RequestContext) async throws -> Response {
        let body = try request.decodeJSON(RunSearchBody.self, allowEmpty: true)
        // Two names of one filter: one of them (Agent Protocol's clients send agent_id).
        if body.agent_id != nil, body.assistant_id != nil {
            throw APIError.invalid(field: "agent_id", "send agent_id or assistant_id, not both")
        }
        let limit = body.limit ?? 10
        let offset = body.offset ?? 0
        guard (1...1000).contains(limit) else { throw APIError.invalid(field: "limit", "must be between 1 and 1000") }
        guard offset >= 0 else { throw APIError.invalid(field: "offset", "must be 0 or more") }
        let threadID = try body.thread_id.map { context.threadKey(try ThreadEndpoints.validID($0, field: "thread_id")) }
        let filters = (body.metadata ?? [:]).sorted { $0.key < $1.key }.map { (key: $0.key, value: ThreadEndpoints.text($0.value)) }
        let runs = try await store.searchRuns(RunQuery(tenant: context.tenant, threadID: threadID, assistantID: body.agent_id ?? body.assistant_id,
                                                       status: body.status, metadata: filters, limit: limit, offset: offset))
        return .json(encodeJSON(runs.map(ThreadWire.Run.init)))
    }

    enum PruneStrategy: String, Decodable, CaseIterable {
        case delete, keepLatest = "keep_latest"
    }

    struct PruneBody: Decodable {
        var thread_ids: [String]
        var strategy: PruneStrategy?
    }

    /// `delete` removes the threads with their runs and events; `keep_latest` keeps each thread and its messages but
    /// only its newest checkpoint. Ids of threads that do not exist (or are another tenant's) are not counted.
    func prune(_ request: Request, _ context: RequestContext) async throws -> Response {
        let body = try request.decodeJSON(PruneBody.self)
        guard body.thread_ids.count <= Self.maxPrune else {
            throw APIError.invalid(field: "thread_ids", "at most \(Self.maxPrune) threads at once")
        }
        let ids = try body.thread_ids.enumerated().map { index, id in
            context.threadKey(try ThreadEndpoints.validID(id, field: "thread_ids[\(index)]"))
        }
        var pruned = 0
        for id in Set(ids) {
            let done = switch body.strategy ?? .delete {
            case .delete: try await engine.deleteThread(id)
            case .keepLatest: try await engine.pruneHistory(thread: id)
            }
            if done { pruned += 1 }
        }
        context.logger.info("threads.pruned", metadata: ["count": "\(pruned)", "strategy": .string((body.strategy ?? .delete).rawValue)])
        return .json(encodeJSON(["pruned_count": pruned]))
    }

    /// A new thread (new id, same tenant) with the source's metadata and messages; its runs and events stay behind.
    func copy(_ context: RequestContext) async throws -> Response {
        let id = try ThreadEndpoints.threadID(context)
        guard let source = try await store.thread(id) else { throw APIError.threadNotFound(id) }
        let copied = try await engine.forkThread(from: id, keeping: Int(Int32.max), into: NewThread(
            id: context.threadKey(dependencies.makeID()), metadata: source.metadata, ttl: source.ttl, tenant: context.tenant),
            values: source.values)
        return .json(encodeJSON(ThreadWire.Thread(copied, messages: try await store.messages(thread: copied.id, limit: nil))))
    }

    enum CancelStatus: String, Decodable, CaseIterable {
        case pending, running, all
    }

    struct CancelBody: Decodable {
        var thread_id: String?
        var run_ids: [String]?
        var status: CancelStatus?
    }

    /// Either `thread_id` with `run_ids` (those runs of that thread), or `status` alone (every run of the caller's
    /// tenant in it), as LangGraph's server takes them. 204 once every one is asked to stop.
    func cancelMany(_ request: Request, _ context: RequestContext) async throws -> Response {
        let body = try request.decodeJSON(CancelBody.self)
        var action = CancelAction.interrupt
        if let text = request.queryItems["action"], !text.isEmpty {
            guard let value = CancelAction(rawValue: text) else { throw APIError.invalid(field: "action", unknownValue(text, CancelAction.self)) }
            action = value
        }
        var runs: [RunRecord] = []
        if let status = body.status {
            guard body.thread_id == nil, body.run_ids == nil else {
                throw APIError.invalid(field: "status", "cancels every run in that status: send it without thread_id and run_ids")
            }
            let statuses: [RunStatus] = switch status {
            case .pending: [.pending]
            case .running: [.running]
            case .all: [.pending, .running]
            }
            for status in statuses { runs += try await store.runs(tenant: context.tenant, status: status, limit: Self.maxCancel) }
        } else {
            guard let threadID = body.thread_id else {
                throw APIError.invalid(field: "thread_id", "is required with run_ids (or send status alone)")
            }
            guard let runIDs = body.run_ids, !runIDs.isEmpty, runIDs.count <= Self.maxCancel else {
                throw APIError.invalid(field: "run_ids", "1 to \(Self.maxCancel) run ids of the thread")
            }
            let thread = context.threadKey(try ThreadEndpoints.validID(threadID, field: "thread_id"))
            guard try await store.thread(thread) != nil else { throw APIError.threadNotFound(thread) }
            for (index, runID) in runIDs.enumerated() {
                let id = try ThreadEndpoints.validID(runID, field: "run_ids[\(index)]")
                guard let run = try await store.run(id), run.threadID == thread else {
                    throw APIError.notFound("Thread '\(threadID.prefix(100))' has no run '\(id.prefix(100))'.", code: "run_not_found")
                }
                runs.append(run)
            }
        }
        var cancelled = 0
        for run in runs where run.status.isActive {
            if try await engine.cancel(run.id, action: action) != nil { cancelled += 1 }
        }
        context.logger.info("runs.cancel_requested", metadata: ["count": "\(cancelled)", "action": .string(action.rawValue)])
        return Response(status: 204)
    }

    /// Every body is checked first, each like a `POST /runs` body (errors name `[i].field`), so a bad one queues
    /// nothing; then all are queued, in order.
    func batch(_ request: Request, _ context: RequestContext) async throws -> Response {
        let bodies = try request.decodeJSON([JSONValue].self)
        guard (1...Self.maxBatch).contains(bodies.count) else {
            throw APIError(status: 422, code: "validation_error", detail: "A batch has 1 to \(Self.maxBatch) runs; this one has \(bodies.count).")
        }
        let runs = ThreadRunEndpoints(dependencies: dependencies, engine: engine)
        var planned: [(RunPlan, Request)] = []
        for (index, body) in bodies.enumerated() {
            var single = request
            single.body = encodeJSON(body)
            do {
                let plan = try await runs.backgroundPlan(single, context)
                // Checked before any run of the batch is made: a run without a thread has no approval to answer.
                if plan.resume != nil { throw ThreadRunEndpoints.resumeWithoutThread }
                planned.append((plan, single))
            } catch var error as APIError {
                error.field = "[\(index)]" + (error.field.map { $0.isEmpty ? "" : "." + $0 } ?? "")
                error.detail = "run \(index): " + error.detail
                throw error
            }
        }
        var created: [ThreadWire.Run] = []
        for (plan, single) in planned {
            created.append(ThreadWire.Run(try await runs.enqueue(plan, single, context, threadID: nil)))
        }
        return .json(encodeJSON(created))
    }
}
