struct RawConfig: Decodable {
    var agents: [RawAgent]
    var webhooks: RawWebhooks?

    enum CodingKeys: String, CodingKey, CaseIterable { case agents, webhooks }

    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: AnyKey.self)
        try container.rejectUnknownKeys(CodingKeys.allCases.map(\.rawValue))
        agents = try decoder.container(keyedBy: CodingKeys.self).decode([RawAgent].self, forKey: .agents)
        webhooks = try decoder.container(keyedBy: CodingKeys.self).decodeIfPresent(RawWebhooks.self, forKey: .webhooks)
    }
}

struct RawWebhooks: Decodable {
    var secretEnv: String?
    var allowHosts: [String]?
    var maxAttempts: Int?
    var retryBaseSeconds: Double?
    var timeoutSeconds: Double?
    var endpoints: [RawEndpoint]?

    enum CodingKeys: String, CodingKey, CaseIterable {
        case secretEnv = "secret_env", allowHosts = "allow_hosts", maxAttempts = "max_attempts"
        case retryBaseSeconds = "retry_base_seconds", timeoutSeconds = "timeout_seconds", endpoints
    }

    init(from decoder: any Decoder) throws {
        try decoder.container(keyedBy: AnyKey.self).rejectUnknownKeys(CodingKeys.allCases.map(\.rawValue))
        let container = try decoder.container(keyedBy: CodingKeys.self)
        secretEnv = try container.decodeIfPresent(String.self, forKey: .secretEnv)
        allowHosts = try container.decodeIfPresent([String].self, forKey: .allowHosts)
        maxAttempts = try container.decodeIfPresent(Int.self, forKey: .maxAttempts)
        retryBaseSeconds = try container.decodeIfPresent(Double.self, forKey: .retryBaseSeconds)
        timeoutSeconds = try container.decodeIfPresent(Double.self, forKey: .timeoutSeconds)
        endpoints = try container.decodeIfPresent([RawEndpoint].self, forKey: .endpoints)
    }
}

struct RawEndpoint: Decodable {
    var url: String
    var events: [String]?

    enum CodingKeys: String, CodingKey, CaseIterable { case url, events }

    init(from decoder: any Decoder) throws {
        try decoder.container(keyedBy: AnyKey.self).rejectUnknownKeys(CodingKeys.allCases.map(\.rawValue))
        let container = try decoder.container(keyedBy: CodingKeys.self)
        url = try container.decode(String.self, forKey: .url)
        events = try container.decodeIfPresent([String].self, forKey: .events)
    }
}

struct RawAgent: Decodable {
    var id: String
    var name: String?
    var description: String?
    var instructions: String?
    var model: RawModel
    var tools: [RawToolEntry]?
    var limits: RawLimits?
    var metadata: [String: JSONValue]?
    var memory: RawMemory?
    var approvals: [String: RawApproval]?

    enum CodingKeys: String, CodingKey, CaseIterable { case id, name, description, instructions, model, tools, limits, metadata, memory, approvals }

    init(from decoder: any Decoder) throws {
        try decoder.container(keyedBy: AnyKey.self).rejectUnknownKeys(CodingKeys.allCases.map(\.rawValue))
        let container = try decoder.container(keyedBy: CodingKeys.self)
        id = try container.decode(String.self, forKey: .id)
        name = try container.decodeIfPresent(String.self, forKey: .name)
        description = try container.decodeIfPresent(String.self, forKey: .description)
        instructions = try container.decodeIfPresent(String.self, forKey: .instructions)
        model = try container.decode(RawModel.self, forKey: .model)
        tools = try container.decodeIfPresent([RawToolEntry].self, forKey: .tools)
        limits = try container.decodeIfPresent(RawLimits.self, forKey: .limits)
        metadata = try container.decodeIfPresent([String: JSONValue].self, forKey: .metadata)
        memory = try container.decodeIfPresent(RawMemory.self, forKey: .memory)
        approvals = try container.decodeIfPresent([String: RawApproval].self, forKey: .approvals)
    }
}

/// `approvals: {tool: always | never | {timeout_seconds, decisions}}`.
struct RawApproval: Decodable {
    var always: Bool
    var timeoutSeconds: Double?
    var decisions: [String]?

    enum CodingKeys: String, CodingKey, CaseIterable { case approval, timeoutSeconds = "timeout_seconds", decisions }

    init(from decoder: any Decoder) throws {
        if let word = try? decoder.singleValueContainer().decode(String.self) {
            guard word == "always" || word == "never" else {
                throw DecodingError.dataCorruptedError(in: try decoder.singleValueContainer(),
                                                       debugDescription: "must be always, never or {approval, timeout_seconds, decisions}, not '\(word.prefix(40))'")
            }
            always = word == "always"
            return
        }
        try decoder.container(keyedBy: AnyKey.self).rejectUnknownKeys(CodingKeys.allCases.map(\.rawValue))
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let approval = try container.decodeIfPresent(String.self, forKey: .approval) ?? "always"
        guard approval == "always" || approval == "never" else {
            throw DecodingError.dataCorruptedError(forKey: .approval, in: container, debugDescription: "must be always or never")
        }
        always = approval == "always"
        timeoutSeconds = try container.decodeIfPresent(Double.self, forKey: .timeoutSeconds)
        decisions = try container.decodeIfPresent([String].self, forKey: .decisions)
    }
}

/// `memory: {namespace_from: key | thread_metadata, field: user_id, max_results: 5}`.
struct RawMemory: Decodable {
    var namespaceFrom: String?
    var field: String?
    var maxResults: Int?

    enum CodingKeys: String, CodingKey, CaseIterable { case namespaceFrom = "namespace_from", field, maxResults = "max_results" }

    init(from decoder: any Decoder) throws {
        try decoder.container(keyedBy: AnyKey.self).rejectUnknownKeys(CodingKeys.allCases.map(\.rawValue))
        let container = try decoder.container(keyedBy: CodingKeys.self)
        namespaceFrom = try container.decodeIfPresent(String.self, forKey: .namespaceFrom)
        field = try container.decodeIfPresent(String.self, forKey: .field)
        maxResults = try container.decodeIfPresent(Int.self, forKey: .maxResults)
    }
}

/// A tool entry: its name alone, or `{name: ..., timeout_ms: ...}`.
struct RawTool: Decodable {
    var name: String
    var timeoutMs: Int?
    /// false: the tool has effects (sends, writes, charges), so a retried run must not call it again.
    var idempotent: Bool?
    var options = ToolCatalog.Options()

    enum CodingKeys: String, CodingKey, CaseIterable {
        case name, timeoutMs = "timeout_ms", allowHosts = "allow_hosts", allowPrivate = "allow_private", maxBytes = "max_bytes", idempotent
        case folder, indexPath = "index_path", maxResults = "max_results"
    }

    init(from decoder: any Decoder) throws {
        if let name = try? decoder.singleValueContainer().decode(String.self) {
            self.name = name
            return
        }
        try decoder.container(keyedBy: AnyKey.self).rejectUnknownKeys(CodingKeys.allCases.map(\.rawValue))
        let container = try decoder.container(keyedBy: CodingKeys.self)
        name = try container.decode(String.self, forKey: .name)
        timeoutMs = try container.decodeIfPresent(Int.self, forKey: .timeoutMs)
        idempotent = try container.decodeIfPresent(Bool.self, forKey: .idempotent)
        options = ToolCatalog.Options(
            allowHosts: try container.decodeIfPresent([String].self, forKey: .allowHosts),
            allowPrivate: try container.decodeIfPresent(Bool.self, forKey: .allowPrivate),
            maxBytes: try container.decodeIfPresent(Int.self, forKey: .maxBytes),
            folder: try container.decodeIfPresent(String.self, forKey: .folder),
            indexPath: try container.decodeIfPresent(String.self, forKey: .indexPath),
            maxResults: try container.decodeIfPresent(Int.self, forKey: .maxResults))
    }
}

struct RawLimits: Decodable {
    var maxTurns: Int?
    var timeoutSeconds: Double?
    var maxInputChars: Int?
    var maxContextTokens: Int?

    enum CodingKeys: String, CodingKey, CaseIterable {
        case maxTurns = "max_turns", timeoutSeconds = "timeout_seconds", maxInputChars = "max_input_chars"
        case maxContextTokens = "max_context_tokens"
    }

    init(from decoder: any Decoder) throws {
        try decoder.container(keyedBy: AnyKey.self).rejectUnknownKeys(CodingKeys.allCases.map(\.rawValue))
        let container = try decoder.container(keyedBy: CodingKeys.self)
        maxTurns = try container.decodeIfPresent(Int.self, forKey: .maxTurns)
        timeoutSeconds = try container.decodeIfPresent(Double.self, forKey: .timeoutSeconds)
        maxInputChars = try container.decodeIfPresent(Int.self, forKey: .maxInputChars)
        maxContextTokens = try container.decodeIfPresent(Int.self, forKey: .maxContextTokens)
    }
}

struct RawModel: Decodable {
    var provider: String
    var name: String?
    var tokenDelayMs: Int?
    var toolChoice: String?
    var baseURL: String?
    var apiKeyEnv: String?
    var temperature: Double?
    var maxTokens: Int?
    var maxRetries: Int?

    enum CodingKeys: String, CodingKey, CaseIterable {
        case provider, name, tokenDelayMs = "token_delay_ms", toolChoice = "tool_choice", baseURL = "base_url",
             apiKeyEnv = "api_key_env", temperature, maxTokens = "max_tokens", maxRetries = "max_retries"
    }

    init(from decoder: any Decoder) throws {
        try decoder.container(keyedBy: AnyKey.self).rejectUnknownKeys(CodingKeys.allCases.map(\.rawValue))
        let container = try decoder.container(keyedBy: CodingKeys.self)
        provider = try container.decode(String.self, forKey: .provider)
        name = try container.decodeIfPresent(String.self, forKey: .name)
        tokenDelayMs = try container.decodeIfPresent(Int.self, forKey: .tokenDelayMs)
        toolChoice = try container.decodeIfPresent(String.self, forKey: .toolChoice)
        baseURL = try container.decodeIfPresent(String.self, forKey: .baseURL)
        apiKeyEnv = try container.decodeIfPresent(String.self, forKey: .apiKeyEnv)
        temperature = try container.decodeIfPresent(Double.self, forKey: .temperature)
        maxTokens = try container.decodeIfPresent(Int.self, forKey: .maxTokens)
        maxRetries = try container.decodeIfPresent(Int.self, forKey: .maxRetries)
    }
}
