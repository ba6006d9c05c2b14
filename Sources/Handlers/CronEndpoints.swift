import HTTPTypes
import AgentRuntime
import Foundation
import Runs
import Store

/// LangGraph's crons: a run body fired on a schedule, on a thread or on a new thread each time. The body is checked
/// as a run request when the cron is made or changed, so a firing only fails for what changed since (a revoked key,
/// a removed agent, a limit reached). Every route takes the scope `crons:write`: a cron's payload is a run request.
struct CronEndpoints {
    let runs: ThreadRunEndpoints
    var engine: RunEngine { runs.engine }
    var reader: StoreReader { runs.store }

    func register(in router: inout Router) {
        router.add(Route("POST", "/runs/crons", operationID: "create_cron", access: .scope("crons:write"),
                         summary: "Schedule runs on a new thread each time", doc: .cronCreate, handler: .async { request, context in
            try await create(request, context, thread: nil)
        }))
        router.add(Route("POST", "/threads/{thread_id}/runs/crons", operationID: "create_thread_cron", access: .scope("crons:write"),
                         summary: "Schedule runs on a thread", doc: .cronCreateForThread, handler: .async { request, context in
            try await create(request, context, thread: try ThreadEndpoints.threadID(context))
        }))
        router.add(Route("POST", "/runs/crons/search", operationID: "search_crons", access: .scope("crons:write"),
                         summary: "Search crons", doc: .cronSearch, handler: .async { request, context in try await search(request, context) }))
        router.add(Route("POST", "/runs/crons/count", operationID: "count_crons", access: .scope("crons:write"),
                         summary: "Count crons", doc: .cronCount, handler: .async { request, context in
            let query = try Self.query(try request.decodeJSON(SearchBody.self, allowEmpty: true), context)
            return .json(encodeJSON(try await reader.countCrons(query)))
        }))
        router.add(Route("PATCH", "/runs/crons/{cron_id}", operationID: "update_cron", access: .scope("crons:write"),
                         summary: "Change a cron", doc: .cronUpdate, handler: .async { request, context in try await update(request, context) }))
        router.add(Route("DELETE", "/runs/crons/{cron_id}", operationID: "delete_cron", access: .scope("crons:write"),
                         summary: "Delete a cron", doc: .cronDelete, handler: .async { _, context in
            let id = try ThreadEndpoints.validID(context.parameter("cron_id"), field: "cron_id")
            guard try await engine.deleteCron(tenant: context.tenant, id: id) else { throw Self.notFound(id) }
            return Response(status: 204)
        }))
    }

    /// The cron's own fields; the rest of the body is the run request, read by `RunPlan`.
    struct CronFields: Decodable {
        var schedule: String?
        var timezone: String?
        var end_time: String?
        var enabled: Bool?
        var on_run_completed: OnRunCompleted?
    }

    enum OnRunCompleted: String, Decodable, CaseIterable {
        case delete, keep
        init(from decoder: any Decoder) throws { self = try decodeEnum(decoder, Self.self) }
    }

    /// Keys of a body that belong to the cron, not to the run it fires.
    static let cronKeys: Set<String> = ["schedule", "timezone", "end_time", "enabled", "on_run_completed"]

    func create(_ request: Request, _ context: RequestContext, thread: String?) async throws -> Response {
        // Another tenant's thread (or none) is a 404 whatever the body holds.
        if let thread {
            guard try await reader.thread(thread) != nil else {
                throw APIError(status: 404, code: "thread_not_found", detail: "No thread '\(Tenancy.publicID(thread).prefix(100))'.")
            }
        }
        let fields = try request.decodeJSON(CronFields.self)
        guard let expression = fields.schedule else { throw APIError.invalid(field: "schedule", "is required: a cron expression such as '0 9 * * 1-5'") }
        let schedule = try Self.schedule(expression, timezone: fields.timezone)
        if thread != nil, fields.on_run_completed != nil {
            throw APIError.invalid(field: "on_run_completed", "applies to crons without a thread (POST /runs/crons)")
        }
        let endTime = try fields.end_time.map { try Self.date($0, field: "end_time") }
        let payload = try Self.payload(request.body)
        let (job, plan) = try await runJob(payload, context, onThread: thread != nil)
        let now = Date()
        let enabled = fields.enabled ?? true
        let next = RunEngine.nextFiring(schedule: schedule.expression, timezone: fields.timezone, after: engine.scheduleNow, end: endTime)
        let cron = CronRecord(
            id: RandomID.uuid(), tenant: context.tenant, keyID: context.principal?.keyID, threadID: thread, assistantID: plan.assistantID,
            schedule: schedule.expression, timezone: fields.timezone, endTime: endTime, enabled: enabled,
            onRunCompleted: fields.on_run_completed?.rawValue ?? "delete", payload: ThreadEndpoints.text(payload),
            metadata: ThreadEndpoints.text(plan.metadata), job: job.encoded, runMetadata: ThreadEndpoints.text(plan.metadata),
            threadMetadata: Self.threadMetadata(plan), nextRunDate: next, createdAt: now, updatedAt: now)
        return .json(CronWire.json(try await engine.createCron(cron)))
    }

    func update(_ request: Request, _ context: RequestContext) async throws -> Response {
        let id = try ThreadEndpoints.validID(context.parameter("cron_id"), field: "cron_id")
        let fields = try request.decodeJSON(CronFields.self, allowEmpty: true)
        let body = try Self.payload(request.body.isEmpty ? Array("{}".utf8) : request.body)
        guard let current = try await reader.cron(tenant: context.tenant, id: id) else { throw Self.notFound(id) }
        var change = CronChange()
        // The cron runs as whoever changed it last: another key's PATCH does not borrow the maker's limits or memories.
        change.keyID = .some(context.principal?.keyID)
        if current.threadID != nil, fields.on_run_completed != nil {
            throw APIError.invalid(field: "on_run_completed", "applies to crons without a thread")
        }
        change.onRunCompleted = fields.on_run_completed?.rawValue
        change.enabled = fields.enabled
        if let expression = fields.schedule { change.schedule = expression }
        if body.keys.contains("timezone") { change.timezone = .some(fields.timezone) }
        if body.keys.contains("end_time") { change.endTime = .some(try fields.end_time.map { try Self.date($0, field: "end_time") }) }
        let schedule = try Self.schedule(change.schedule ?? current.schedule, timezone: change.timezone ?? current.timezone)
        change.schedule = schedule.expression
        // The run request: the stored one with the keys sent replaced, checked again as a whole.
        let runKeys = body.filter { !Self.cronKeys.contains($0.key) }
        if !runKeys.isEmpty {
            var payload = (try? JSONDecoder().decode([String: JSONValue].self, from: Data(current.payload.utf8))) ?? [:]
            // The agent and the messages each have two names: the one sent replaces the cron's, whichever name that used.
            for aliases in [["assistant_id", "agent_id"], ["input", "messages"]] where aliases.contains(where: { runKeys[$0] != nil }) {
                for key in aliases { payload[key] = nil }
            }
            payload.merge(runKeys) { _, new in new }
            let (job, plan) = try await runJob(payload, context, onThread: current.threadID != nil)
            change.payload = ThreadEndpoints.text(payload)
            change.job = job.encoded
            change.assistantID = plan.assistantID
            change.runMetadata = ThreadEndpoints.text(plan.metadata)
            change.threadMetadata = Self.threadMetadata(plan)
            if runKeys["metadata"] != nil { change.metadata = ThreadEndpoints.text(plan.metadata) }
        }
        // A changed schedule, zone, end or a cron turned back on goes on from now, not from a time it missed.
        if change.schedule != current.schedule || change.timezone != nil || change.endTime != nil || change.enabled == true {
            change.nextRunDate = .some(RunEngine.nextFiring(schedule: schedule.expression, timezone: change.timezone ?? current.timezone,
                                                            after: engine.scheduleNow, end: change.endTime ?? current.endTime))
        }
        guard let record = try await engine.updateCron(tenant: context.tenant, id: id, change) else { throw Self.notFound(id) }
        return .json(CronWire.json(record))
    }

    /// Checks the run request as a background run would be checked, and makes the engine's job of it.
    private func runJob(_ payload: [String: JSONValue], _ context: RequestContext, onThread: Bool) async throws -> (RunJob, RunPlan) {
        let request = Request(method: .post, path: "/runs", headers: [.contentType: "application/json"],
                              body: encodeJSON(payload.filter { !Self.cronKeys.contains($0.key) }))
        let plan = try await runs.backgroundPlan(request, context)
        if plan.checkpointID != nil { throw APIError.invalid(field: "checkpoint_id", "is not supported on a cron") }
        if plan.resume != nil { throw APIError.invalid(field: "command", "is not supported on a cron: each firing brings its input") }
        var job = plan.job(defaultDisconnect: .continue)
        job.onDisconnect = .continue
        // On a thread, a firing that finds the thread busy waits its turn unless the cron asked otherwise.
        if onThread, payload["multitask_strategy"] == nil { job.multitaskStrategy = MultitaskStrategy.enqueue.rawValue }
        return (job, plan)
    }

    static func threadMetadata(_ plan: RunPlan) -> JSONText {
        ThreadEndpoints.text(["graph_id": plan.agent.id, "assistant_id": plan.assistantID])
    }

    /// A cron's run request is stored with it and copied into each firing's run.
    static let maxPayloadBytes = 64 * 1024

    static func payload(_ body: [UInt8]) throws -> [String: JSONValue] {
        guard body.count <= maxPayloadBytes else {
            throw APIError(status: 413, code: "cron_too_large", detail: "A cron's body is at most \(maxPayloadBytes / 1024) KiB.")
        }
        do {
            return try JSONDecoder().decode([String: JSONValue].self, from: Data(body))
        } catch {
            throw APIError(status: 400, code: "malformed_json", detail: "The body must be a JSON object.")
        }
    }

    static func schedule(_ expression: String, timezone: String?) throws -> CronSchedule {
        if let timezone, timezone.utf8.count > 64 { throw APIError.invalid(field: "timezone", "is not an IANA time zone (at most 64 characters)") }
        do {
            return try CronSchedule(expression, timeZone: timezone)
        } catch {
            throw APIError.invalid(field: error.field == "timeZone" ? "timezone" : "schedule", error.message)
        }
    }

    /// ISO 8601 with a zone (Python's `isoformat()` of an aware datetime, with or without fractions).
    static func date(_ text: String, field: String) throws -> Date {
        guard text.utf8.count <= 64, let date = iso8601(text) ?? withFarOffset(text) else {
            throw APIError.invalid(field: field, "must be an ISO 8601 date and time with a zone, such as 2026-12-31T23:00:00+00:00")
        }
        return date
    }

    private static func iso8601(_ text: String) -> Date? {
        (try? Date.ISO8601FormatStyle().parse(text)) ?? (try? Date.ISO8601FormatStyle(includingFractionalSeconds: true).parse(text))
    }

    /// RFC 3339 (the spec's `date-time`) and Python allow any offset under 24 hours; Foundation parses up to 18. The
    /// time is read as UTC and the offset taken off it.
    private static func withFarOffset(_ text: String) -> Date? {
        let bytes = Array(text.utf8)
        guard bytes.count > 6 else { return nil }
        let offset = Array(bytes.suffix(6))
        func digits(_ a: UInt8, _ b: UInt8) -> Int? {
            guard (48...57).contains(a), (48...57).contains(b) else { return nil }
            return Int(a - 48) * 10 + Int(b - 48)
        }
        let sign: Int? = offset[0] == UInt8(ascii: "+") ? 1 : offset[0] == UInt8(ascii: "-") ? -1 : nil
        guard let sign, offset[3] == UInt8(ascii: ":"), let hours = digits(offset[1], offset[2]), hours <= 23,
              let minutes = digits(offset[4], offset[5]), minutes <= 59,
              let utc = iso8601(String(decoding: bytes.dropLast(6), as: UTF8.self) + "Z") else { return nil }
        return utc - TimeInterval(sign * (hours * 3600 + minutes * 60))
    }

    static func notFound(_ id: String) -> APIError {
        APIError(status: 404, code: "cron_not_found", detail: "No cron with id '\(id.prefix(100))'.")
    }

    // MARK: - Search

    struct SearchBody: Decodable {
        var assistant_id: String?
        var thread_id: String?
        var enabled: Bool?
        var metadata: [String: JSONValue]?
        var limit: Int?
        var offset: Int?
        var sort_by: String?
        var sort_order: String?
        var select: [String]?
    }

    static func query(_ body: SearchBody, _ context: RequestContext) throws -> CronQuery {
        let limit = body.limit ?? 10
        let offset = body.offset ?? 0
        guard (1...1000).contains(limit) else { throw APIError.invalid(field: "limit", "must be between 1 and 1000") }
        guard (0...1_000_000).contains(offset) else { throw APIError.invalid(field: "offset", "must be between 0 and 1000000") }
        let sortBy = try body.sort_by.map { name in
            guard let key = CronQuery.SortKey(rawValue: name) else {
                throw APIError.invalid(field: "sort_by", "must be one of: \(CronQuery.SortKey.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            return key
        } ?? .createdAt
        guard [nil, "asc", "desc"].contains(body.sort_order) else { throw APIError.invalid(field: "sort_order", "must be asc or desc") }
        let thread = try body.thread_id.map { context.threadKey(try ThreadEndpoints.validID($0, field: "thread_id")) }
        let metadata = (body.metadata ?? [:]).sorted { $0.key < $1.key }.map { (key: $0.key, value: ThreadEndpoints.text($0.value)) }
        return CronQuery(tenant: context.tenant, assistantID: body.assistant_id, threadID: thread, enabled: body.enabled, metadata: metadata,
                         sortBy: sortBy, descending: body.sort_order != "asc", limit: limit, offset: offset)
    }

    func search(_ request: Request, _ context: RequestContext) async throws -> Response {
        let body = try request.decodeJSON(SearchBody.self, allowEmpty: true)
        let query = try Self.query(body, context)
        if let select = body.select {
            let unknown = select.filter { !CronWire.fields.contains($0) }
            guard unknown.isEmpty else {
                throw APIError.invalid(field: "select", "unknown field '\(unknown[0].prefix(60))'; expected some of: \(CronWire.fields.joined(separator: ", "))")
            }
        }
        let crons = try await reader.searchCrons(query)
        let now = ThreadWire.time(engine.scheduleNow)
        return .json(encodeJSON(crons.map { CronWire.object($0, select: body.select, now: now) }))
    }
}

/// A cron as langgraph-sdk's `Cron` reads it (every key present, null when unset), with why the server turned it off
/// when it did.
enum CronWire {
    static let fields = ["cron_id", "assistant_id", "thread_id", "end_time", "schedule", "timezone", "created_at", "updated_at", "user_id",
                         "payload", "next_run_date", "metadata", "now", "on_run_completed", "enabled"]

    static func object(_ record: CronRecord) -> [String: JSONValue] {
        func text(_ value: String?) -> JSONValue { value.map(JSONValue.string) ?? .null }
        return [
            "cron_id": .string(record.id),
            "assistant_id": .string(record.assistantID),
            "thread_id": text(record.threadID.map(Tenancy.publicID)),
            "on_run_completed": text(record.threadID == nil ? record.onRunCompleted : nil),
            "end_time": text(record.endTime.map(ThreadWire.time)),
            "schedule": .string(record.schedule),
            "timezone": text(record.timezone),
            "created_at": .string(ThreadWire.time(record.createdAt)),
            "updated_at": .string(ThreadWire.time(record.updatedAt)),
            "payload": ThreadWire.object(record.payload),
            "user_id": .null,
            // A cron that is off has no next firing.
            "next_run_date": text(record.enabled ? record.nextRunDate.map(ThreadWire.time) : nil),
            "metadata": ThreadWire.object(record.metadata),
            "enabled": .bool(record.enabled),
            "disabled_reason": text(record.disabledReason),
        ]
    }

    static func json(_ record: CronRecord) -> [UInt8] { encodeJSON(JSONValue.object(object(record))) }

    /// The fields asked for (all when nil); `now` is the server's time, as LangGraph's select offers it.
    static func object(_ record: CronRecord, select: [String]?, now: String) -> JSONValue {
        var all = object(record)
        guard let select, !select.isEmpty else { return .object(all) }
        all["now"] = .string(now)
        return .object(all.filter { select.contains($0.key) })
    }
}
