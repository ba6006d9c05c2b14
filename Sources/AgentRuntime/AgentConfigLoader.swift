import Foundation
import Yams

/// A configuration mistake, said so that the reader can find and fix it: file, agent, field, what is wrong.
public struct ConfigError: Error, Sendable, CustomStringConvertible, Equatable {
    public var file: String
    public var field: String
    public var message: String

    public var description: String {
        field.isEmpty ? "\(file): \(message)" : "\(file): \(field): \(message)"
    }
}

/// Reads the agents YAML file. Unknown keys are errors: a typo must not silently fall back to a default.
public enum AgentConfigLoader {
    public static func load(path: String, environment: [String: String] = ProcessInfo.processInfo.environment) throws -> AgentCatalog {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ConfigError(file: path, field: "", message: "cannot read the file")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw ConfigError(file: path, field: "", message: "the file is not UTF-8 text")
        }
        return try parse(text, file: path, directory: URL(fileURLWithPath: path).deletingLastPathComponent().path, environment: environment)
    }

    /// `directory` anchors relative paths in the file (a knowledge_search folder).
    /// `environment`: where the tool sources' `headers` and `env_from` are read (the worker's own by default).
    public static func parse(_ text: String, file: String, directory: String = FileManager.default.currentDirectoryPath,
                             environment: [String: String] = ProcessInfo.processInfo.environment) throws -> AgentCatalog {
        let raw: RawConfig
        do {
            raw = try YAMLDecoder().decode(RawConfig.self, from: text)
        } catch let error as DecodingError {
            throw ConfigError(file: file, field: error.fieldPath, message: error.reason)
        } catch {
            throw ConfigError(file: file, field: "", message: "not valid YAML: \(error)")
        }
        var seen: Set<String> = []
        var agents: [AgentDefinition] = []
        let registry = ToolSourceRegistry(environment: environment)
        for (index, agent) in raw.agents.enumerated() {
            let field = "agents[\(index)]"
            guard isValidID(agent.id) else {
                throw ConfigError(file: file, field: "\(field).id",
                                  message: "'\(agent.id)' is not a valid id (1-64 of a-z, 0-9, '-', '_', starting with a letter or digit)")
            }
            guard seen.insert(agent.id).inserted else {
                throw ConfigError(file: file, field: "\(field).id", message: "duplicate agent id '\(agent.id)'")
            }
            let model = agent.model
            guard let provider = ModelSettings.Provider(rawValue: model.provider) else {
                let known = ModelSettings.Provider.allCases.map(\.rawValue).joined(separator: ", ")
                throw ConfigError(file: file, field: "\(field) (\(agent.id)).model.provider",
                                  message: "unknown provider '\(model.provider)'; expected one of: \(known)")
            }
            let named = "\(field) (\(agent.id))"
            let delay = model.tokenDelayMs ?? 0
            guard (0...60_000).contains(delay) else {
                throw ConfigError(file: file, field: "\(named).model.token_delay_ms",
                                  message: "must be between 0 and 60000, got \(delay)")
            }
            var tools: [ConfiguredTool] = []
            var sources: [any ToolSource] = []
            for (toolIndex, entry) in (agent.tools ?? []).enumerated() {
                let toolField = "\(named).tools[\(toolIndex)]"
                let raw: RawTool
                switch entry {
                case .tool(let tool): raw = tool
                case .mcp(let settings):
                    let source = try registry.mcp(settings, field: "\(toolField).mcp", file: file, directory: directory)
                    guard !sources.contains(where: { $0.name == source.name }) else {
                        throw ConfigError(file: file, field: "\(toolField).mcp.name", message: "tool source '\(source.name)' is listed twice")
                    }
                    sources.append(source)
                    continue
                case .openapi(let settings):
                    for tool in try registry.openAPI(settings, field: "\(toolField).openapi", file: file, directory: directory) {
                        guard !tools.contains(where: { $0.spec.name == tool.spec.name }) else {
                            throw ConfigError(file: file, field: "\(toolField).openapi", message: "tool '\(tool.spec.name)' is listed twice")
                        }
                        tools.append(tool)
                    }
                    continue
                }
                let tool: any Tool
                do {
                    var options = raw.options
                    options.folder = options.folder.map { resolve($0, against: directory) }
                    options.indexPath = options.indexPath.map { resolve($0, against: directory) }
                    tool = try ToolCatalog.make(raw.name, options: options)
                } catch .unknownTool {
                    if ["remember", "recall"].contains(raw.name) {
                        throw ConfigError(file: file, field: toolField, message: "'\(raw.name)' comes with the agent's memory: section, not tools:")
                    }
                    throw ConfigError(file: file, field: toolField,
                                      message: "unknown tool '\(raw.name)'; available: \(ToolCatalog.names.joined(separator: ", "))")
                } catch .invalid(let setting, let message) {
                    throw ConfigError(file: file, field: "\(toolField).\(setting)", message: message)
                }
                guard !tools.contains(where: { $0.spec.name == raw.name }) else {
                    throw ConfigError(file: file, field: toolField, message: "tool '\(raw.name)' is listed twice")
                }
                let timeout = raw.timeoutMs ?? 10_000
                guard (1...600_000).contains(timeout) else {
                    throw ConfigError(file: file, field: "\(toolField).timeout_ms", message: "must be between 1 and 600000, got \(timeout)")
                }
                tools.append(ConfiguredTool(tool, timeout: .milliseconds(timeout), idempotent: raw.idempotent))
            }
            let toolChoice: ToolChoice
            switch model.toolChoice ?? "auto" {
            case "auto": toolChoice = .auto
            case "required": toolChoice = .required
            case "none": toolChoice = .none
            case let name where tools.contains { $0.spec.name == name }: toolChoice = .tool(name)
            case let other:
                throw ConfigError(file: file, field: "\(named).model.tool_choice",
                                  message: "'\(other)' is not auto, required, none or one of this agent's tools")
            }
            let maxTurns = agent.limits?.maxTurns ?? 8
            guard (1...100).contains(maxTurns) else {
                throw ConfigError(file: file, field: "\(named).limits.max_turns", message: "must be between 1 and 100, got \(maxTurns)")
            }
            let timeout = agent.limits?.timeoutSeconds ?? 120
            guard timeout > 0, timeout <= 86_400 else {
                throw ConfigError(file: file, field: "\(named).limits.timeout_seconds", message: "must be between 0 and 86400, got \(timeout)")
            }
            if provider == .openai {
                guard let url = model.baseURL, url.hasPrefix("http://") || url.hasPrefix("https://") else {
                    throw ConfigError(file: file, field: "\(named).model.base_url",
                                      message: "the openai provider needs base_url: http(s)://host/v1")
                }
                guard model.name != nil else {
                    throw ConfigError(file: file, field: "\(named).model.name", message: "the openai provider needs the model's name")
                }
                if let variable = model.apiKeyEnv, variable.isEmpty || variable.contains(where: { !($0.isLetter || $0.isNumber || $0 == "_") }) {
                    throw ConfigError(file: file, field: "\(named).model.api_key_env",
                                      message: "must name an environment variable (letters, digits, _), not hold the key")
                }
            }
            if let temperature = model.temperature, !(0...2).contains(temperature) {
                throw ConfigError(file: file, field: "\(named).model.temperature", message: "must be between 0 and 2")
            }
            if let maxTokens = model.maxTokens, !(1...1_000_000).contains(maxTokens) {
                throw ConfigError(file: file, field: "\(named).model.max_tokens", message: "must be between 1 and 1000000")
            }
            let retries = model.maxRetries ?? 2
            guard (0...10).contains(retries) else {
                throw ConfigError(file: file, field: "\(named).model.max_retries", message: "must be between 0 and 10")
            }
            let maxInput = agent.limits?.maxInputChars ?? 200_000
            guard (1...100_000_000).contains(maxInput) else {
                throw ConfigError(file: file, field: "\(named).limits.max_input_chars", message: "must be between 1 and 100000000")
            }
            let maxContext = agent.limits?.maxContextTokens ?? 100_000
            guard (1...10_000_000).contains(maxContext) else {
                throw ConfigError(file: file, field: "\(named).limits.max_context_tokens", message: "must be between 1 and 10000000")
            }
            var definition = AgentDefinition(
                id: agent.id, name: agent.name, description: agent.description ?? "",
                instructions: agent.instructions ?? "",
                model: ModelSettings(provider: provider, name: model.name ?? provider.rawValue,
                                     tokenDelay: .milliseconds(delay), toolChoice: toolChoice, baseURL: model.baseURL,
                                     apiKeyEnvironment: model.apiKeyEnv, temperature: model.temperature,
                                     maxTokens: model.maxTokens, maxRetries: retries),
                tools: tools,
                limits: RunLimits(maxTurns: maxTurns, timeout: .milliseconds(Int64(timeout * 1000)),
                                  maxInputCharacters: maxInput, maxContextTokens: maxContext),
                metadata: agent.metadata ?? [:],
                memory: try memorySettings(agent.memory, field: "\(named).memory", file: file)
            )
            definition.toolSources = sources
            definition.approvals = try approvals(agent.approvals ?? [:], tools: tools, sources: !sources.isEmpty,
                                                 field: "\(named).approvals", file: file)
            agents.append(definition)
        }
        if agents.isEmpty {
            throw ConfigError(file: file, field: "agents", message: "at least one agent is required")
        }
        return AgentCatalog(agents: agents, webhooks: try webhookSettings(raw.webhooks, file: file))
    }

    /// The tools named must be the agent's; a tool source's tools are known only when a run starts, so with sources a
    /// name is taken as it is.
    fileprivate static func approvals(_ raw: [String: RawApproval], tools: [ConfiguredTool], sources: Bool, field: String,
                                      file: String) throws -> [String: ApprovalPolicy] {
        var policies: [String: ApprovalPolicy] = [:]
        for (name, approval) in raw.sorted(by: { $0.key < $1.key }) {
            guard sources || tools.contains(where: { $0.spec.name == name }) else {
                throw ConfigError(file: file, field: "\(field).\(name)", message: "is not one of this agent's tools: \(tools.map(\.spec.name).joined(separator: ", "))")
            }
            guard approval.always else { continue }
            var policy = ApprovalPolicy()
            if let seconds = approval.timeoutSeconds {
                guard seconds >= 1, seconds <= 30 * 86_400 else {
                    throw ConfigError(file: file, field: "\(field).\(name).timeout_seconds", message: "must be between 1 and 2592000 (30 days)")
                }
                policy.timeout = .milliseconds(Int64(seconds * 1000))
            }
            if let decisions = approval.decisions {
                var kinds: [ApprovalPolicy.Decision] = []
                for word in decisions {
                    guard let kind = ApprovalPolicy.Decision(rawValue: word) else {
                        throw ConfigError(file: file, field: "\(field).\(name).decisions", message: "'\(word.prefix(40))' is not approve, edit or reject")
                    }
                    if !kinds.contains(kind) { kinds.append(kind) }
                }
                guard kinds.contains(.approve) || kinds.contains(.edit) else {
                    throw ConfigError(file: file, field: "\(field).\(name).decisions", message: "must allow approve or edit: with reject alone the tool could never run")
                }
                policy.decisions = kinds
            }
            policies[name] = policy
        }
        return policies
    }

    fileprivate static func webhookSettings(_ raw: RawWebhooks?, file: String) throws -> WebhookSettings {
        guard let raw else { return WebhookSettings() }
        var settings = WebhookSettings(secretEnvironment: raw.secretEnv, allowHosts: raw.allowHosts ?? [])
        if let attempts = raw.maxAttempts {
            guard (1...50).contains(attempts) else {
                throw ConfigError(file: file, field: "webhooks.max_attempts", message: "must be between 1 and 50, got \(attempts)")
            }
            settings.maxAttempts = attempts
        }
        if let base = raw.retryBaseSeconds {
            guard base > 0, base <= 3600 else {
                throw ConfigError(file: file, field: "webhooks.retry_base_seconds", message: "must be between 0 and 3600")
            }
            settings.retryBase = .milliseconds(Int64(base * 1000))
        }
        if let timeout = raw.timeoutSeconds {
            guard timeout > 0, timeout <= 120 else {
                throw ConfigError(file: file, field: "webhooks.timeout_seconds", message: "must be between 0 and 120")
            }
            settings.timeout = .milliseconds(Int64(timeout * 1000))
        }
        for (index, endpoint) in (raw.endpoints ?? []).enumerated() {
            guard let url = URL(string: endpoint.url), ["http", "https"].contains(url.scheme?.lowercased() ?? ""), url.host != nil else {
                throw ConfigError(file: file, field: "webhooks.endpoints[\(index)].url", message: "'\(endpoint.url.prefix(200))' is not an http(s) URL")
            }
            let events = endpoint.events ?? WebhookSettings.eventTypes
            if let unknown = events.first(where: { !WebhookSettings.eventTypes.contains($0) }) {
                throw ConfigError(file: file, field: "webhooks.endpoints[\(index)].events",
                                  message: "unknown event '\(unknown)'; expected: \(WebhookSettings.eventTypes.joined(separator: ", "))")
            }
            settings.endpoints.append(.init(url: endpoint.url, events: events))
        }
        if settings.secretEnvironment == nil, !settings.endpoints.isEmpty {
            throw ConfigError(file: file, field: "webhooks.secret_env", message: "is required to sign deliveries to the endpoints")
        }
        return settings
    }

    fileprivate static func memorySettings(_ raw: RawMemory?, field: String, file: String) throws -> MemorySettings? {
        guard let raw else { return nil }
        let source = raw.namespaceFrom ?? MemorySettings.Source.key.rawValue
        guard let namespaceFrom = MemorySettings.Source(rawValue: source) else {
            throw ConfigError(file: file, field: "\(field).namespace_from", message: "'\(source)' is not key or thread_metadata")
        }
        switch namespaceFrom {
        case .key:
            if raw.field != nil { throw ConfigError(file: file, field: "\(field).field", message: "is for namespace_from: thread_metadata") }
        case .threadMetadata:
            guard let name = raw.field, !name.isEmpty, name.count <= 64 else {
                throw ConfigError(file: file, field: "\(field).field", message: "thread_metadata needs the metadata field (1-64 characters), e.g. user_id")
            }
        }
        let maxResults = raw.maxResults ?? 5
        guard (1...50).contains(maxResults) else {
            throw ConfigError(file: file, field: "\(field).max_results", message: "must be between 1 and 50")
        }
        return MemorySettings(namespaceFrom: namespaceFrom, field: raw.field, maxResults: maxResults)
    }

    static func resolve(_ path: String, against directory: String) -> String {
        path.hasPrefix("/") ? path : URL(fileURLWithPath: directory).appendingPathComponent(path).standardizedFileURL.path
    }

    static func isValidID(_ id: String) -> Bool {
        guard (1...64).contains(id.utf8.count), let first = id.utf8.first else { return false }
        let allowed: (UInt8) -> Bool = { byte in
            (0x61...0x7a).contains(byte) || (0x30...0x39).contains(byte) || byte == 0x2d || byte == 0x5f
        }
        return id.utf8.allSatisfy(allowed) && first != 0x2d && first != 0x5f
    }
}
