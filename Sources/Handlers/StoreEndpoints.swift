import AgentRuntime
import Foundation
import Runs
import Store

/// LangGraph's store (long-term memory), as langgraph-sdk's `client.store` calls it: JSON objects under a namespace and
/// a key, per tenant. Reading takes `store:read`, writing `store:write`. The text search is lexical (SQLite FTS5,
/// PostgreSQL full-text search), not semantic: there are no embeddings here.
struct StoreEndpoints {
    let engine: RunEngine
    var reader: StoreReader { engine.reader }

    static let maxValueBytes = 1 << 20
    static let maxLabels = 10
    static let maxLabelCharacters = 256
    static let maxKeyCharacters = 1024
    static let maxFilters = 32
    static let maxQueryCharacters = 1000

    func register(in router: inout Router) {
        router.add(Route("PUT", "/store/items", operationID: "put_item", access: .scope("store:write"),
                         summary: "Store or replace an item", doc: .storePut, handler: .async { request, context in
            try await put(request, context)
        }))
        router.add(Route("GET", "/store/items", operationID: "get_item", access: .scope("store:read"),
                         summary: "Read an item", doc: .storeGet, handler: .async { request, context in
            try await get(request, context)
        }))
        router.add(Route("DELETE", "/store/items", operationID: "delete_item", access: .scope("store:write"),
                         summary: "Delete an item", doc: .storeDelete, handler: .async { request, context in
            try await delete(request, context)
        }))
        router.add(Route("POST", "/store/items/search", operationID: "search_items", access: .scope("store:read"),
                         summary: "Search items under a namespace prefix", doc: .storeSearch, handler: .async { request, context in
            try await search(request, context)
        }))
        router.add(Route("POST", "/store/namespaces", operationID: "list_namespaces", access: .scope("store:read"),
                         summary: "List namespaces", doc: .storeNamespaces, handler: .async { request, context in
            try await namespaces(request, context)
        }))
    }

    struct PutBody: Decodable {
        var namespace: [String]?
        var key: String?
        var value: JSONValue?
        /// LangGraph's indexing choice: accepted, and a no-op (every string of the value is indexed).
        var index: JSONValue?
        var ttl: Double?
    }

    struct ItemBody: Decodable {
        var namespace: [String]?
        var key: String?
    }

    struct SearchBody: Decodable {
        var namespace_prefix: [String]?
        var filter: [String: JSONValue]?
        var limit: Int?
        var offset: Int?
        var query: String?
        var refresh_ttl: Bool?
    }

    struct NamespacesBody: Decodable {
        var prefix: [String]?
        var suffix: [String]?
        var max_depth: Int?
        var limit: Int?
        var offset: Int?
    }

    func put(_ request: Request, _ context: RequestContext) async throws -> Response {
        let body = try request.decodeJSON(PutBody.self)
        let namespace = try Self.namespace(body.namespace, field: "namespace")
        let key = try Self.key(body.key)
        guard let value = body.value else { throw APIError.invalid(field: "value", "is required: a JSON object") }
        guard case .object = value else { throw APIError.invalid(field: "value", "must be a JSON object") }
        let text = encodeJSON(value)
        guard text.count <= Self.maxValueBytes else {
            throw APIError(status: 413, code: "value_too_large", detail: "value is \(text.count) bytes of JSON; at most 1 MiB (1048576).",
                           field: "value")
        }
        switch body.index {
        case nil, .bool(false): break
        case .array(let fields) where fields.allSatisfy({ if case .string = $0 { true } else { false } }): break
        default: throw APIError.invalid(field: "index", "must be false, null or a list of field paths (accepted, and a no-op here)")
        }
        var ttl: Duration?
        if let minutes = body.ttl {
            guard minutes > 0, minutes <= 5_256_000 else { throw APIError.invalid(field: "ttl", "must be between 0 and 5256000 minutes (10 years)") }
            ttl = .milliseconds(Int64(minutes * 60_000))
        }
        try await engine.putItem(NewItem(tenant: context.tenant, namespace: namespace, key: key, value: String(decoding: text, as: UTF8.self),
                                         ttl: ttl))
        return Response(status: 204)
    }

    func get(_ request: Request, _ context: RequestContext) async throws -> Response {
        let query = request.queryItems
        guard let dotted = query["namespace"] else { throw APIError.invalid(field: "namespace", "is required: the labels joined by '.'") }
        let namespace = try Self.namespace(dotted.isEmpty ? [] : dotted.components(separatedBy: "."), field: "namespace")
        let key = try Self.key(query["key"])
        let refresh = try Self.flag(query["refresh_ttl"], field: "refresh_ttl") ?? true
        guard let item = try await reader.item(tenant: context.tenant, namespace: namespace, key: key, refreshTTL: refresh) else {
            throw APIError(status: 404, code: "item_not_found",
                           detail: "No item '\(key.prefix(100))' in namespace '\(dotted.prefix(300))' (or it expired).")
        }
        return .json(encodeJSON(StoreWire.item(item)))
    }

    func delete(_ request: Request, _ context: RequestContext) async throws -> Response {
        let body = try request.decodeJSON(ItemBody.self)
        let namespace = try Self.namespace(body.namespace, field: "namespace")
        let key = try Self.key(body.key)
        // 204 whether or not it was there, as LangGraph answers: deleting is idempotent.
        _ = try await engine.deleteItem(tenant: context.tenant, namespace: namespace, key: key)
        return Response(status: 204)
    }

    func search(_ request: Request, _ context: RequestContext) async throws -> Response {
        let body = try request.decodeJSON(SearchBody.self, allowEmpty: true)
        let prefix = try Self.namespace(body.namespace_prefix ?? [], field: "namespace_prefix", allowEmpty: true)
        let (limit, offset) = try Self.page(body.limit, body.offset, defaultLimit: 10)
        if let query = body.query, query.count > Self.maxQueryCharacters {
            throw APIError.invalid(field: "query", "must be at most \(Self.maxQueryCharacters) characters")
        }
        let filters = try StoreWire.filters(body.filter ?? [:])
        // An empty query is no query (a listing by recency), rather than a search for nothing.
        let query = body.query.flatMap { $0.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty ? nil : $0 }
        let items = try await reader.searchItems(ItemQuery(tenant: context.tenant, namespacePrefix: prefix, filters: filters, query: query,
                                                           limit: limit, offset: offset, refreshTTL: body.refresh_ttl ?? true))
        return .json(encodeJSON(["items": JSONValue.array(items.map(StoreWire.item))]))
    }

    func namespaces(_ request: Request, _ context: RequestContext) async throws -> Response {
        let body = try request.decodeJSON(NamespacesBody.self, allowEmpty: true)
        let prefix = try Self.namespace(body.prefix ?? [], field: "prefix", allowEmpty: true)
        let suffix = try Self.namespace(body.suffix ?? [], field: "suffix", allowEmpty: true)
        if let depth = body.max_depth, !(1...Self.maxLabels).contains(depth) {
            throw APIError.invalid(field: "max_depth", "must be between 1 and \(Self.maxLabels)")
        }
        let (limit, offset) = try Self.page(body.limit, body.offset, defaultLimit: 100)
        let found = try await reader.listNamespaces(NamespaceQuery(tenant: context.tenant, prefix: prefix, suffix: suffix,
                                                                   maxDepth: body.max_depth, limit: limit, offset: offset))
        return .json(encodeJSON(["namespaces": found]))
    }

    // MARK: - Checks

    /// At most 10 labels, each 1 to 256 characters without a `.` (GET joins them with dots).
    static func namespace(_ labels: [String]?, field: String, allowEmpty: Bool = false) throws -> [String] {
        guard let labels else { throw APIError.invalid(field: field, "is required: a list of labels") }
        if labels.isEmpty, !allowEmpty { throw APIError.invalid(field: field, "must have at least one label") }
        guard labels.count <= maxLabels else {
            throw APIError.invalid(field: field, "has \(labels.count) labels; at most \(maxLabels)")
        }
        for (index, label) in labels.enumerated() {
            let named = "\(field)[\(index)]"
            if label.isEmpty { throw APIError.invalid(field: named, "must not be empty") }
            if label.contains(".") { throw APIError.invalid(field: named, "must not contain '.' (GET joins the labels with dots)") }
            if label.count > maxLabelCharacters { throw APIError.invalid(field: named, "must be at most \(maxLabelCharacters) characters") }
        }
        return labels
    }

    static func key(_ key: String?) throws -> String {
        guard let key else { throw APIError.invalid(field: "key", "is required") }
        guard !key.isEmpty else { throw APIError.invalid(field: "key", "must not be empty") }
        guard key.count <= maxKeyCharacters else { throw APIError.invalid(field: "key", "must be at most \(maxKeyCharacters) characters") }
        return key
    }

    static func flag(_ text: String?, field: String) throws -> Bool? {
        switch text?.lowercased() {
        case nil: nil
        case "true": true
        case "false": false
        default: throw APIError.invalid(field: field, "must be true or false")
        }
    }

    static func page(_ limit: Int?, _ offset: Int?, defaultLimit: Int) throws -> (Int, Int) {
        let (limit, offset) = (limit ?? defaultLimit, offset ?? 0)
        guard (1...1000).contains(limit) else { throw APIError.invalid(field: "limit", "must be between 1 and 1000") }
        guard offset >= 0 else { throw APIError.invalid(field: "offset", "must be 0 or more") }
        return (limit, offset)
    }
}

/// The JSON shapes of the store: LangGraph's `Item` and `SearchItem`, and the filters of a search.
enum StoreWire {
    static func item(_ record: ItemRecord) -> JSONValue {
        var object: [String: JSONValue] = [
            "namespace": .array(record.namespace.map(JSONValue.string)), "key": .string(record.key),
            "value": ThreadWire.object(record.value),
            "created_at": .string(ThreadWire.time(record.createdAt)), "updated_at": .string(ThreadWire.time(record.updatedAt)),
        ]
        if let score = record.score { object["score"] = .number(score) }
        return .object(object)
    }

    /// `{"key": value}` is equality; `{"key": {"$gt": 3, "$lte": 9}}` compares (ranges: numbers or strings only).
    static func filters(_ filter: [String: JSONValue]) throws -> [ItemFilter] {
        guard filter.count <= StoreEndpoints.maxFilters else {
            throw APIError.invalid(field: "filter", "has \(filter.count) keys; at most \(StoreEndpoints.maxFilters)")
        }
        var filters: [ItemFilter] = []
        for (key, condition) in filter.sorted(by: { $0.key < $1.key }) {
            guard case .object(let operators) = condition, operators.keys.contains(where: { $0.hasPrefix("$") }) else {
                filters.append(ItemFilter(key: key, op: .eq, value: ThreadEndpoints.text(condition)))
                continue
            }
            for (name, operand) in operators.sorted(by: { $0.key < $1.key }) {
                let field = "filter.\(key).\(name)"
                guard name.hasPrefix("$"), let op = ItemFilter.Operator(rawValue: String(name.dropFirst())) else {
                    throw APIError.invalid(field: field, "is not an operator: use $eq, $ne, $gt, $gte, $lt or $lte (alone, not beside other keys)")
                }
                if ![.eq, .ne].contains(op) {
                    switch operand {
                    case .number, .string: break
                    default: throw APIError.invalid(field: field, "must be a number or a string")
                    }
                }
                filters.append(ItemFilter(key: key, op: op, value: ThreadEndpoints.text(operand)))
            }
        }
        return filters
    }
}
