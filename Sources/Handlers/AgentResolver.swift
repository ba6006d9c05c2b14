import AgentRuntime
import Foundation
import Runs
import Store

/// The agent a request names: one of the configuration's (LangGraph's system assistants), or else an assistant the
/// caller's tenant stored, with what it changes applied. Every dialect resolves through here: LangGraph's
/// `assistant_id`, OpenAI's `model`, an MCP tool's name.
struct AgentResolver: Sendable {
    let catalog: AgentCatalog
    let reader: StoreReader

    struct Resolved {
        /// The agent as the run will see it (the assistant's changes applied).
        var agent: AgentDefinition
        /// Set for a stored assistant: what the job carries.
        var binding: AssistantBinding?
        var record: AssistantRecord?
        /// False for a stored assistant that no longer fits the configuration (listed, never run).
        var usable = true

        /// The id clients name it by.
        var id: String { binding?.id ?? agent.id }
    }

    func resolve(_ id: String, tenant: String) async throws -> Resolved? {
        if let agent = catalog.agent(id) { return Resolved(agent: agent) }
        guard AssistantSettings.isValidID(id), let record = try await reader.assistant(tenant: tenant, id: id) else { return nil }
        return try Self.resolved(record, catalog: catalog)
    }

    /// A stored assistant over today's configuration. One whose agent or tools the operator has since removed cannot
    /// run: that is a 409 naming what is missing, never a run of something else.
    static func resolved(_ record: AssistantRecord, catalog: AgentCatalog) throws -> Resolved {
        guard let agent = catalog.agent(record.graphID) else {
            throw APIError(status: 409, code: "assistant_unusable",
                           detail: "Assistant '\(record.id)' runs agent '\(record.graphID)', which the configuration no longer has; update its graph_id.")
        }
        let settings: AssistantSettings
        do {
            settings = try AssistantSettings(config: record.config, context: record.context, agent: agent)
        } catch let error as APIError {
            throw APIError(status: 409, code: "assistant_unusable",
                           detail: "Assistant '\(record.id)' no longer fits agent '\(agent.id)': \(error.detail)")
        }
        let binding = settings.binding(id: record.id, version: record.version)
        return Resolved(agent: binding.apply(to: agent), binding: binding, record: record)
    }

    /// For reading one by id: as `resolve`, but a stored assistant that no longer fits the configuration is shown as it
    /// is stored (without model and tools) rather than refused, so that it can be seen and fixed.
    func describe(_ id: String, tenant: String) async throws -> Resolved {
        if let agent = catalog.agent(id) { return Resolved(agent: agent) }
        guard AssistantSettings.isValidID(id), let record = try await reader.assistant(tenant: tenant, id: id) else {
            throw APIError(status: 404, code: "agent_not_found", detail: "No agent or assistant with id '\(id.prefix(100))'.")
        }
        return AssistantWire.listed(record, catalog: catalog)
    }

    /// As `resolve`, a 404 `agent_not_found` naming `field` when there is none.
    func require(_ id: String, tenant: String, field: String? = nil) async throws -> Resolved {
        guard let resolved = try await resolve(id, tenant: tenant) else {
            throw APIError(status: 404, code: "agent_not_found", detail: "No agent or assistant with id '\(id.prefix(100))'.", field: field)
        }
        return resolved
    }

    /// The configured agents, then the tenant's assistants that still run (at most `StoreLimits.maxAssistantsPerTenant`).
    func all(tenant: String) async throws -> [Resolved] {
        let stored = try await reader.searchAssistants(AssistantQuery(tenant: tenant, sortBy: .createdAt, descending: false,
                                                                      limit: StoreLimits.maxAssistantsPerTenant))
        return catalog.agents.map { Resolved(agent: $0) } + stored.compactMap { try? Self.resolved($0, catalog: catalog) }
    }
}

/// What an assistant may change of its agent, read from its `context` and its `config.configurable` (context wins):
/// `instructions` (or LangGraph's `system_prompt`), `temperature`, `max_tokens`, `top_p`, and `tools`, a subset of the
/// agent's. Never the model, its provider, server or key: those stay the operator's.
struct AssistantSettings: Equatable {
    var instructions: String?
    var temperature: Double?
    var maxTokens: Int?
    var topP: Double?
    var tools: [String]?

    static let maxInstructionsCharacters = 20_000
    static let maxJSONBytes = 16 * 1024
    static let settingKeys = ["instructions", "system_prompt", "temperature", "max_tokens", "top_p", "tools"]
    /// Named apart from other unknown keys: a caller trying them learns why, not only that.
    static let operatorKeys: Set = ["model", "model_name", "provider", "base_url", "api_base", "api_key", "api_key_env", "endpoint",
                                    "server", "url"]

    /// `^[A-Za-z0-9_-]{1,64}$`: usable as an MCP tool name and an OpenAI model id as it is.
    static func isValidID(_ id: String) -> Bool {
        !id.isEmpty && id.utf8.count <= 64 && id.utf8.allSatisfy { byte in
            (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A) || byte == 0x5F || byte == 0x2D
        }
    }

    init(config: JSONText, context: JSONText, agent: AgentDefinition) throws {
        try self.init(config: Self.object(config), context: Self.object(context), agent: agent)
    }

    /// `checkingOverridden`: also check the settings of config.configurable that context overrides (a request's; a
    /// stored assistant is read as it was accepted).
    init(config: [String: JSONValue], context: [String: JSONValue], agent: AgentDefinition, checkingOverridden: Bool = false) throws {
        for key in config.keys.sorted() where !["configurable", "tags"].contains(key) {
            throw APIError.invalid(field: "config.\(key.prefix(60))", key == "recursion_limit"
                ? "is not supported: the agent's limits.max_turns bounds its runs"
                : "is not an assistant setting; config takes configurable and tags")
        }
        if let tags = config["tags"] {
            guard case .array(let items) = tags, items.count <= 50, items.allSatisfy({ if case .string = $0 { true } else { false } }) else {
                throw APIError.invalid(field: "config.tags", "must be an array of at most 50 strings")
            }
        }
        var configurable: [String: JSONValue] = [:]
        if let value = config["configurable"] {
            guard case .object(let object) = value else { throw APIError.invalid(field: "config.configurable", "must be an object") }
            configurable = object
        }
        // Context wins over configurable, key by key. Sorted by field, configurable's come first, so that when an
        // overridden one is checked too, context's are the ones kept.
        var merged: [(key: String, value: JSONValue, field: String)] = []
        for (key, value) in configurable where checkingOverridden || context[key] == nil {
            merged.append((key, value, "config.configurable.\(key.prefix(60))"))
        }
        for (key, value) in context { merged.append((key, value, "context.\(key.prefix(60))")) }
        merged.sort { $0.field < $1.field }
        let names = Set(merged.map(\.key))
        if names.contains("instructions"), names.contains("system_prompt") {
            throw APIError.invalid(field: merged.first { $0.key == "system_prompt" }!.field, "send instructions or system_prompt, not both")
        }
        for (key, value, field) in merged {
            switch key {
            case "instructions", "system_prompt":
                guard case .string(let text) = value, text.count <= Self.maxInstructionsCharacters else {
                    throw APIError.invalid(field: field, "must be a string of at most \(Self.maxInstructionsCharacters) characters")
                }
                instructions = text
            case "temperature":
                guard case .number(let number) = value, (0...2).contains(number) else {
                    throw APIError.invalid(field: field, "must be a number from 0 to 2")
                }
                temperature = number
            case "top_p":
                guard case .number(let number) = value, number > 0, number <= 1 else {
                    throw APIError.invalid(field: field, "must be a number above 0 and at most 1")
                }
                topP = number
            case "max_tokens":
                let cap = agent.model.maxTokens ?? 1_000_000
                guard case .number(let number) = value, number == number.rounded(), number >= 1, number <= Double(cap) else {
                    throw APIError.invalid(field: field, "must be an integer from 1 to \(cap) (agent '\(agent.id)' allows at most that)")
                }
                maxTokens = Int(number)
            case "tools":
                let available = agent.tools.map(\.spec.name)
                guard case .array(let items) = value else {
                    throw APIError.invalid(field: field, "must be an array of tool names, a subset of agent '\(agent.id)''s: \(available.joined(separator: ", "))")
                }
                var chosen: [String] = []
                for (index, item) in items.enumerated() {
                    guard case .string(let name) = item else { throw APIError.invalid(field: "\(field)[\(index)]", "must be a tool name (a string)") }
                    // A tool of one of the agent's sources (MCP) is known by its prefix: the server is not asked here.
                    let sourced = agent.toolSources.contains { name.hasPrefix(ToolNames.namespaced($0.name, "")) }
                    guard available.contains(name) || sourced else {
                        throw APIError.invalid(field: "\(field)[\(index)]", "'\(name.prefix(64))' is not a tool of agent '\(agent.id)'; it has: "
                                               + (available.isEmpty ? "none" : available.joined(separator: ", ")))
                    }
                    guard !chosen.contains(name) else { throw APIError.invalid(field: "\(field)[\(index)]", "names '\(name)' twice") }
                    chosen.append(name)
                }
                tools = chosen
            default:
                if Self.operatorKeys.contains(key.lowercased()) {
                    throw APIError.invalid(field: field, "is not an assistant setting: the model, its server and its key are the operator's "
                                           + "(agents.yaml); an assistant takes \(Self.settingKeys.joined(separator: ", "))")
                }
                throw APIError.invalid(field: field, "is not an assistant setting; an assistant takes \(Self.settingKeys.joined(separator: ", "))")
            }
        }
    }

    func binding(id: String, version: Int) -> AssistantBinding {
        AssistantBinding(id: id, version: version, instructions: instructions, temperature: temperature, maxTokens: maxTokens,
                         topP: topP, tools: tools)
    }

    static func object(_ text: JSONText) -> [String: JSONValue] {
        (try? JSONDecoder().decode([String: JSONValue].self, from: Data(text.utf8))) ?? [:]
    }
}
