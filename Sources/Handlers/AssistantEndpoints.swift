import AgentRuntime
import Foundation
import Runs
import Store

/// LangGraph's assistants you make: named, versioned settings of a configured agent, per tenant. Changing them takes
/// the scope `assistants:write`; the configured agents are read-only system assistants.
struct AssistantEndpoints {
    let resolver: AgentResolver
    let engine: RunEngine
    var reader: StoreReader { resolver.reader }

    static let maxNameCharacters = 200
    static let maxDescriptionCharacters = 2_000

    func register(in router: inout Router) {
        router.add(Route("POST", "/assistants", operationID: "create_assistant", access: .scope("assistants:write"),
                         summary: "Create an assistant: settings of a configured agent", doc: .assistantCreate, handler: .async { request, context in
            try await create(request, context)
        }))
        router.add(Route("PATCH", "/assistants/{assistant_id}", operationID: "update_assistant", access: .scope("assistants:write"),
                         summary: "Change an assistant: a new version, made current", doc: .assistantUpdate, handler: .async { request, context in
            try await update(request, context)
        }))
        router.add(Route("DELETE", "/assistants/{assistant_id}", operationID: "delete_assistant", access: .scope("assistants:write"),
                         summary: "Delete an assistant with its versions", doc: .assistantDelete, handler: .async { request, context in
            try await delete(request, context)
        }))
        router.add(Route("POST", "/assistants/{assistant_id}/versions", operationID: "list_assistant_versions", access: .scope("agents:read"),
                         summary: "An assistant's versions, newest first", doc: .assistantVersions, handler: .async { request, context in
            try await versions(request, context)
        }))
        router.add(Route("POST", "/assistants/{assistant_id}/latest", operationID: "set_assistant_latest", access: .scope("assistants:write"),
                         summary: "Make one of an assistant's versions current", doc: .assistantSetLatest, handler: .async { request, context in
            try await setLatest(request, context)
        }))
    }

    struct CreateBody: Decodable {
        var graph_id: String?
        var assistant_id: String?
        var config: [String: JSONValue]?
        var context: [String: JSONValue]?
        var metadata: [String: JSONValue]?
        var if_exists: IfExists?
        var name: String?
        var description: String?
    }

    struct UpdateBody: Decodable {
        var graph_id: String?
        var config: [String: JSONValue]?
        var context: [String: JSONValue]?
        var metadata: [String: JSONValue]?
        var name: String?
        var description: String?
    }

    func create(_ request: Request, _ context: RequestContext) async throws -> Response {
        let body = try request.decodeJSON(CreateBody.self)
        guard let graphID = body.graph_id else { throw APIError.invalid(field: "graph_id", "is required: the id of a configured agent") }
        let agent = try configuredAgent(graphID)
        let id = body.assistant_id ?? RandomID.uuid()
        guard AssistantSettings.isValidID(id) else {
            throw APIError.invalid(field: "assistant_id", "must be 1 to 64 letters, digits, _ or - (it is also an MCP tool name and a /v1 model)")
        }
        if resolver.catalog.agent(id) != nil {
            throw APIError(status: 409, code: "assistant_exists", detail: "'\(id)' is a configured agent's id; choose another.", field: "assistant_id")
        }
        try Self.checkText(body.name, field: "name", max: Self.maxNameCharacters)
        try Self.checkText(body.description, field: "description", max: Self.maxDescriptionCharacters)
        let (config, settingsContext, metadata) = (body.config ?? [:], body.context ?? [:], body.metadata ?? [:])
        try Self.checkSize(config, field: "config")
        try Self.checkSize(settingsContext, field: "context")
        try Self.checkSize(metadata, field: "metadata")
        _ = try AssistantSettings(config: config, context: settingsContext, agent: agent, checkingOverridden: true)
        let record = try await engine.createAssistant(
            NewAssistant(id: id, tenant: context.tenant, graphID: agent.id, name: body.name ?? "Untitled", description: body.description,
                         config: ThreadEndpoints.text(config), context: ThreadEndpoints.text(settingsContext),
                         metadata: ThreadEndpoints.text(metadata)),
            ifExists: body.if_exists ?? .raise)
        return .json(encodeJSON(AssistantWire.object(AssistantWire.listed(record, catalog: resolver.catalog))))
    }

    func update(_ request: Request, _ context: RequestContext) async throws -> Response {
        let id = try storedID(context)
        let body = try request.decodeJSON(UpdateBody.self, allowEmpty: true)
        guard let current = try await reader.assistant(tenant: context.tenant, id: id) else { throw Self.notFound(id) }
        let agent = try configuredAgent(body.graph_id ?? current.graphID)
        try Self.checkText(body.name, field: "name", max: Self.maxNameCharacters)
        try Self.checkText(body.description, field: "description", max: Self.maxDescriptionCharacters)
        if let config = body.config { try Self.checkSize(config, field: "config") }
        if let settingsContext = body.context { try Self.checkSize(settingsContext, field: "context") }
        if let metadata = body.metadata {
            // What the version will hold: the current metadata with these keys set.
            try Self.checkSize(AssistantSettings.object(current.metadata).merging(metadata) { _, new in new }, field: "metadata")
        }
        // The new version must run: its settings against its (maybe new) agent.
        _ = try AssistantSettings(config: body.config ?? AssistantSettings.object(current.config),
                                  context: body.context ?? AssistantSettings.object(current.context), agent: agent,
                                  checkingOverridden: body.config != nil)
        let change = AssistantChange(graphID: body.graph_id, name: body.name, description: body.description,
                                     config: body.config.map(ThreadEndpoints.text), context: body.context.map(ThreadEndpoints.text),
                                     metadata: body.metadata.map(ThreadEndpoints.text))
        guard let record = try await engine.updateAssistant(tenant: context.tenant, id: id, change) else { throw Self.notFound(id) }
        return .json(encodeJSON(AssistantWire.object(AssistantWire.listed(record, catalog: resolver.catalog))))
    }

    func delete(_ request: Request, _ context: RequestContext) async throws -> Response {
        let id = try storedID(context)
        let deleteThreads = request.queryItems["delete_threads"] ?? "false"
        guard ["true", "false"].contains(deleteThreads) else { throw APIError.invalid(field: "delete_threads", "must be true or false") }
        guard try await engine.deleteAssistant(tenant: context.tenant, id: id) else { throw Self.notFound(id) }
        if deleteThreads == "true" {
            // Runs stamp their thread with the assistant's id (metadata.assistant_id), as LangGraph does.
            let filter = [(key: "assistant_id", value: ThreadEndpoints.text(JSONValue.string(id)))]
            while true {
                let threads = try await reader.searchThreads(ThreadQuery(metadata: filter, limit: 100, tenant: context.tenant))
                var deleted = 0
                for thread in threads where try await engine.deleteThread(thread.id) { deleted += 1 }
                // A page with nothing deleted would come back the same: stop rather than loop.
                if deleted == 0 { break }
            }
        }
        return Response(status: 204)
    }

    struct VersionsBody: Decodable {
        var metadata: [String: JSONValue]?
        var limit: Int?
        var offset: Int?
    }

    func versions(_ request: Request, _ context: RequestContext) async throws -> Response {
        let id = context.parameter("assistant_id")
        let body = try request.decodeJSON(VersionsBody.self, allowEmpty: true)
        let limit = body.limit ?? 10
        let offset = body.offset ?? 0
        guard (1...1000).contains(limit) else { throw APIError.invalid(field: "limit", "must be between 1 and 1000") }
        guard offset >= 0 else { throw APIError.invalid(field: "offset", "must be 0 or more") }
        if let agent = resolver.catalog.agent(id) {
            let matches = JSONValue.object(AssistantWire.systemMetadata(agent)).contains(body.metadata ?? [:]) && offset == 0
            return .json(encodeJSON(matches ? [AssistantWire.object(AgentResolver.Resolved(agent: agent))] : []))
        }
        guard AssistantSettings.isValidID(id), try await reader.assistant(tenant: context.tenant, id: id) != nil else { throw Self.notFound(id) }
        let filters = (body.metadata ?? [:]).sorted { $0.key < $1.key }.map { (key: $0.key, value: ThreadEndpoints.text($0.value)) }
        let records = try await reader.assistantVersions(tenant: context.tenant, id: id, metadata: filters, limit: limit, offset: offset)
        return .json(encodeJSON(records.map { AssistantWire.object(AssistantWire.listed($0, catalog: resolver.catalog)) }))
    }

    func setLatest(_ request: Request, _ context: RequestContext) async throws -> Response {
        let id = try storedID(context)
        struct Body: Decodable { var version: Int? }
        guard let version = try request.decodeJSON(Body.self).version else { throw APIError.invalid(field: "version", "is required") }
        guard version >= 1 else { throw APIError.invalid(field: "version", "must be 1 or more") }
        guard let current = try await reader.assistant(tenant: context.tenant, id: id) else { throw Self.notFound(id) }
        guard let record = try await engine.setAssistantVersion(tenant: context.tenant, id: id, version: version) else {
            throw APIError(status: 404, code: "version_not_found", detail: "Assistant '\(id)' has no version \(version) (its current is \(current.version)).",
                           field: "version")
        }
        return .json(encodeJSON(AssistantWire.object(AssistantWire.listed(record, catalog: resolver.catalog))))
    }

    // MARK: - Checks

    /// The path's assistant id, when it can name a stored assistant: the configured agents are read-only.
    private func storedID(_ context: RequestContext) throws -> String {
        let id = context.parameter("assistant_id")
        if resolver.catalog.agent(id) != nil {
            throw APIError(status: 409, code: "assistant_read_only",
                           detail: "'\(id)' is a configured agent (a system assistant): change it in the configuration, or create an assistant from it.")
        }
        guard AssistantSettings.isValidID(id) else { throw Self.notFound(id) }
        return id
    }

    private func configuredAgent(_ id: String) throws -> AgentDefinition {
        guard let agent = resolver.catalog.agent(id) else {
            throw APIError(status: 404, code: "agent_not_found",
                           detail: "No configured agent '\(id.prefix(100))' (graph_id names one of: \(resolver.catalog.agents.map(\.id).joined(separator: ", "))).",
                           field: "graph_id")
        }
        return agent
    }

    static func notFound(_ id: String) -> APIError {
        APIError(status: 404, code: "agent_not_found", detail: "No assistant with id '\(id.prefix(100))'.")
    }

    static func checkText(_ text: String?, field: String, max: Int) throws {
        if let text, text.count > max { throw APIError.invalid(field: field, "must be at most \(max) characters") }
    }

    static func checkSize(_ object: [String: JSONValue], field: String) throws {
        if encodeJSON(object).count > AssistantSettings.maxJSONBytes {
            throw APIError(status: 413, code: "\(field)_too_large", detail: "\(field) is over \(AssistantSettings.maxJSONBytes / 1024) KiB.", field: field)
        }
    }
}
