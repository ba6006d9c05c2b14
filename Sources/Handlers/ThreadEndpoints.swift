import AgentRuntime
import Foundation
import Runs
import Store

/// Threads: conversations whose messages persist in the store, shared by every worker.
struct ThreadEndpoints {
    let engine: RunEngine
    var store: StoreReader { engine.reader }
    let makeID: @Sendable () -> String

    func register(in router: inout Router) {
        router.add(Route("POST", "/threads", operationID: "thread_create", access: .scope("threads:write"), summary: "Create a thread",
                         doc: .threadCreate, handler: .async { request, context in
            try await Idempotency(engine: engine).perform(request, context) { try await create(request, context) }
        }))
        router.add(Route("POST", "/threads/search", operationID: "thread_search", access: .scope("threads:read"), summary: "Search threads by metadata and status",
                         doc: .threadSearch, handler: .async { request, context in try await search(request, context) }))
        router.add(Route("GET", "/threads/{thread_id}", operationID: "thread_get", access: .scope("threads:read"), summary: "Get a thread with its messages",
                         doc: .threadGet, handler: .async { request, context in try await get(try Self.threadID(context)) }))
        router.add(Route("PATCH", "/threads/{thread_id}", operationID: "thread_update", access: .scope("threads:write"), summary: "Merge metadata into a thread, change its TTL",
                         doc: .threadUpdate, handler: .async { request, context in try await update(request, try Self.threadID(context)) }))
        router.add(Route("DELETE", "/threads/{thread_id}", operationID: "thread_delete", access: .scope("threads:write"), summary: "Delete a thread with its runs and events",
                         doc: .threadDelete, handler: .async { _, context in try await delete(try Self.threadID(context)) }))
        router.add(Route("GET", "/threads/{thread_id}/state", operationID: "thread_state", access: .scope("threads:read"), summary: "The thread's current state",
                         doc: .threadState, handler: .async { _, context in try await state(try Self.threadID(context), checkpointID: nil) }))
        router.add(Route("GET", "/threads/{thread_id}/state/{checkpoint_id}", operationID: "thread_state_at", access: .scope("threads:read"),
                         summary: "The thread's state at a checkpoint",
                         doc: .threadStateAt, handler: .async { _, context in
            try await state(try Self.threadID(context), checkpointID: context.parameters["checkpoint_id"])
        }))
        router.add(Route("GET", "/threads/{thread_id}/history", operationID: "thread_history_get", access: .scope("threads:read"), summary: "The thread's past states, newest first",
                         doc: .threadHistoryGet, handler: .async { request, context in
            let query = request.queryItems
            return try await history(try Self.threadID(context), limit: try Self.limit(query["limit"], field: "limit"), before: query["before"])
        }))
        router.add(Route("POST", "/threads/{thread_id}/history", operationID: "thread_history", access: .scope("threads:read"), summary: "The thread's past states, newest first",
                         doc: .threadHistory, handler: .async { request, context in
            let body = try request.decodeJSON(HistoryBody.self, allowEmpty: true)
            return try await history(try Self.threadID(context), limit: try Self.limit(body.limit.map(String.init), field: "limit"),
                                     before: body.before?.checkpointID)
        }))
    }

    // MARK: - Bodies

    struct CreateBody: Decodable {
        var thread_id: String?
        var metadata: [String: JSONValue]?
        var if_exists: IfExists?
        var ttl: TTLValue?
    }

    struct UpdateBody: Decodable {
        var metadata: [String: JSONValue]?
        var ttl: TTLValue?
    }

    struct SearchBody: Decodable {
        var metadata: [String: JSONValue]?
        var status: ThreadStatus?
        var limit: Int?
        var offset: Int?
        var values: JSONValue?
        var ids: [String]?
    }

    struct HistoryBody: Decodable {
        var limit: Int?
        var before: CheckpointRef?
    }

    /// A checkpoint id, or LangGraph's checkpoint object; an object without `checkpoint_id` (RemoteGraph sends just the
    /// thread) names the thread's latest state.
    struct CheckpointRef: Decodable {
        var checkpointID: String?

        init(from decoder: any Decoder) throws {
            let container = try decoder.singleValueContainer()
            if let id = try? container.decode(String.self) {
                checkpointID = id
            } else {
                struct Object: Decodable { var checkpoint_id: String? }
                checkpointID = try container.decode(Object.self).checkpoint_id
            }
        }
    }

    /// LangGraph's TTL: minutes, as a number or `{"ttl": minutes, "strategy": "delete"}`.
    struct TTLValue: Decodable {
        var minutes: Double

        init(from decoder: any Decoder) throws {
            let container = try decoder.singleValueContainer()
            if let minutes = try? container.decode(Double.self) {
                self.minutes = minutes
            } else {
                struct Object: Decodable {
                    var ttl: Double
                    var strategy: String?
                }
                let object = try container.decode(Object.self)
                guard object.strategy == nil || object.strategy == "delete" else {
                    throw DecodingError.dataCorruptedError(in: container, debugDescription: "strategy must be 'delete'")
                }
                minutes = object.ttl
            }
            guard minutes > 0, minutes <= 5_256_000 else {
                throw DecodingError.dataCorruptedError(in: container, debugDescription: "must be between 0 and 5256000 minutes (10 years)")
            }
        }

        var duration: Duration { .milliseconds(Int64(minutes * 60_000)) }
    }

    // MARK: - Handlers

    func create(_ request: Request, _ context: RequestContext) async throws -> Response {
        let body = try request.decodeJSON(CreateBody.self, allowEmpty: true)
        let id = context.threadKey(try body.thread_id.map { try Self.validID($0, field: "thread_id") } ?? makeID())
        let thread = try await engine.createThread(NewThread(id: id, metadata: Self.text(body.metadata ?? [:]), ttl: body.ttl?.duration,
                                                            tenant: context.tenant),
                                                  ifExists: body.if_exists ?? .raise)
        return try await threadResponse(thread)
    }

    func search(_ request: Request, _ context: RequestContext) async throws -> Response {
        let body = try request.decodeJSON(SearchBody.self, allowEmpty: true)
        if body.values != nil { throw APIError.invalid(field: "values", "filtering by state values is not supported; filter by metadata") }
        if body.ids != nil { throw APIError.invalid(field: "ids", "is not supported; get threads by id with GET /threads/{thread_id}") }
        let limit = body.limit ?? 10
        guard (1...1000).contains(limit) else { throw APIError.invalid(field: "limit", "must be between 1 and 1000") }
        let offset = body.offset ?? 0
        guard offset >= 0 else { throw APIError.invalid(field: "offset", "must not be negative") }
        let filters = (body.metadata ?? [:]).sorted { $0.key < $1.key }.map { (key: $0.key, value: Self.text($0.value)) }
        let threads = try await store.searchThreads(ThreadQuery(metadata: filters, status: body.status, limit: limit, offset: offset,
                                                                  tenant: context.tenant))
        var out: [ThreadWire.Thread] = []
        for thread in threads {
            out.append(ThreadWire.Thread(thread, messages: try await store.messages(thread: thread.id, limit: nil)))
        }
        return .json(encodeJSON(out))
    }

    func get(_ id: String) async throws -> Response {
        guard let thread = try await store.thread(id) else { throw APIError.threadNotFound(id) }
        return try await threadResponse(thread)
    }

    func update(_ request: Request, _ id: String) async throws -> Response {
        let body = try request.decodeJSON(UpdateBody.self, allowEmpty: true)
        let thread = try await engine.updateThread(id, metadata: body.metadata.map(Self.text), ttl: body.ttl?.duration)
        if request.headers[.prefer]?.contains("return=minimal") == true { return Response(status: 204) }
        return try await threadResponse(thread)
    }

    func delete(_ id: String) async throws -> Response {
        guard try await engine.deleteThread(id) else { throw APIError.threadNotFound(id) }
        return Response(status: 204)
    }

    func state(_ id: String, checkpointID: String?) async throws -> Response {
        guard let thread = try await store.thread(id) else { throw APIError.threadNotFound(id) }
        var checkpoints = try await store.checkpoints(thread: id, limit: 1, before: nil)
        if let checkpointID {
            // The one asked for: the newest checkpoint before the one that follows it.
            let all = try await store.checkpoints(thread: id, limit: 10_000, before: nil)
            guard let found = all.first(where: { $0.id == checkpointID }) else {
                throw APIError.notFound("Thread '\(Tenancy.publicID(id).prefix(100))' has no checkpoint '\(checkpointID.prefix(100))'.",
                                        code: "checkpoint_not_found")
            }
            checkpoints = [found]
        }
        let messages = try await store.messages(thread: id, limit: checkpoints.first?.messageCount ?? 0)
        var state = ThreadWire.State(threadID: id, checkpoint: checkpoints.first, messages: messages, extra: thread.values)
        if checkpointID == nil { state.waiting(thread) }
        return .json(encodeJSON(state))
    }

    func history(_ id: String, limit: Int?, before: String?) async throws -> Response {
        guard let thread = try await store.thread(id) else { throw APIError.threadNotFound(id) }
        let limit = limit ?? 10
        guard (1...1000).contains(limit) else { throw APIError.invalid(field: "limit", "must be between 1 and 1000") }
        let checkpoints = try await store.checkpoints(thread: id, limit: limit, before: before)
        let messages = try await store.messages(thread: id, limit: checkpoints.first?.messageCount ?? 0)
        var states = checkpoints.map { ThreadWire.State(threadID: id, checkpoint: $0, messages: messages, extra: thread.values) }
        if before == nil, !states.isEmpty { states[0].waiting(thread) }
        return .json(encodeJSON(states))
    }

    func threadResponse(_ thread: ThreadRecord) async throws -> Response {
        .json(encodeJSON(ThreadWire.Thread(thread, messages: try await store.messages(thread: thread.id, limit: nil))))
    }

    // MARK: - Helpers

    /// The path's thread, as stored: within the caller's tenant.
    static func threadID(_ context: RequestContext) throws -> String {
        context.threadKey(try validID(context.parameters["thread_id"] ?? "", field: "thread_id"))
    }

    /// Ids are short and printable: they end up in paths, logs and headers.
    static func validID(_ id: String, field: String) throws -> String {
        guard !id.isEmpty, id.utf8.count <= 128,
              id.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7f && $0 != UInt8(ascii: "/") && $0 != UInt8(ascii: "\\") }) else {
            throw APIError.invalid(field: field, "must be 1 to 128 printable ASCII characters without spaces or slashes")
        }
        return id
    }

    /// An integer query parameter; absent is nil, and present it is an integer (`?limit=` too: the document says so).
    static func limit(_ text: String?, field: String) throws -> Int? {
        guard let text else { return nil }
        guard let value = Int(text) else { throw APIError.invalid(field: field, "must be an integer") }
        return value
    }

    static func text(_ value: some Encodable) -> JSONText {
        String(decoding: encodeJSON(value), as: UTF8.self)
    }

}
