/// One agent: instructions, a model and tools, run in a loop within limits, as the YAML config declares it.
public struct AgentDefinition: Sendable {
    public var id: String
    public var name: String
    public var description: String
    public var instructions: String
    public var model: ModelSettings
    public var tools: [ConfiguredTool]
    /// Where more tools come from when a run starts (MCP servers); `resolvingTools()` adds theirs to `tools`.
    public var toolSources: [any ToolSource] = []
    /// The names an assistant narrowed the tools to, applied to the sources' tools too (nil: all).
    public var toolFilter: Set<String>?
    public var limits: RunLimits
    public var metadata: [String: JSONValue]
    /// Long-term memory: the `remember` and `recall` tools (added to `tools`), bound to the store for each run.
    public var memory: MemorySettings?
    /// Tools (by the name the model calls them) whose calls wait for a person's decision.
    public var approvals: [String: ApprovalPolicy] = [:]

    public init(
        id: String, name: String? = nil, description: String = "", instructions: String = "",
        model: ModelSettings = ModelSettings(), tools: [ConfiguredTool] = [], limits: RunLimits = RunLimits(),
        metadata: [String: JSONValue] = [:], memory: MemorySettings? = nil
    ) {
        self.id = id
        self.name = name ?? id
        self.description = description
        self.instructions = instructions
        self.model = model
        self.tools = tools
        self.limits = limits
        self.metadata = metadata
        self.memory = memory
        if let memory, !tools.contains(where: { ["remember", "recall"].contains($0.spec.name) }) {
            self.tools += [ConfiguredTool(RememberTool()), ConfiguredTool(RecallTool(maxResults: memory.maxResults))]
        }
    }

    public func tool(_ name: String) -> ConfiguredTool? {
        tools.first { $0.spec.name == name }
    }
}

/// Bounds on one run.
public struct RunLimits: Sendable, Equatable {
    /// Model calls in one run; a model that keeps calling tools past this ends the run with an error.
    public var maxTurns: Int
    /// The whole run, model calls and tools included.
    public var timeout: Duration
    /// Characters of message content one request may bring.
    public var maxInputCharacters: Int
    /// The model's context budget, counted in words (the built-in tokenizer): a request whose conversation does
    /// not fit is refused rather than cut silently.
    public var maxContextTokens: Int

    public init(maxTurns: Int = 8, timeout: Duration = .seconds(120), maxInputCharacters: Int = 200_000,
                maxContextTokens: Int = 100_000) {
        self.maxTurns = maxTurns
        self.timeout = timeout
        self.maxInputCharacters = maxInputCharacters
        self.maxContextTokens = maxContextTokens
    }
}

public struct ModelSettings: Sendable, Equatable {
    public enum Provider: String, Sendable, CaseIterable {
        case builtin, openai

        /// `gen_ai.provider.name` in traces: OpenAI's protocol is `openai` whoever serves it.
        public var semanticName: String { self == .openai ? "openai" : "agentfcgi.builtin" }
    }

    public var provider: Provider
    public var name: String
    /// Builtin model only: the pause before each streamed token.
    public var tokenDelay: Duration
    public var toolChoice: ToolChoice
    /// openai: the API's base URL, e.g. `https://api.openai.com/v1` or `http://127.0.0.1:8080/v1`.
    public var baseURL: String?
    /// openai: the name of the environment variable holding the API key (the key itself never is in the config).
    public var apiKeyEnvironment: String?
    public var temperature: Double?
    public var maxTokens: Int?
    public var maxRetries: Int
    /// Set per request (OpenAI's parameters), for model servers that take them; the built-in model ignores them.
    public var topP: Double?
    public var stop: [String]?
    public var seed: Int?
    public var responseFormat: JSONValue?

    public init(provider: Provider = .builtin, name: String = "builtin", tokenDelay: Duration = .zero,
                toolChoice: ToolChoice = .auto, baseURL: String? = nil, apiKeyEnvironment: String? = nil,
                temperature: Double? = nil, maxTokens: Int? = nil, maxRetries: Int = 2) {
        self.provider = provider
        self.name = name
        self.tokenDelay = tokenDelay
        self.toolChoice = toolChoice
        self.baseURL = baseURL
        self.apiKeyEnvironment = apiKeyEnvironment
        self.temperature = temperature
        self.maxTokens = maxTokens
        self.maxRetries = maxRetries
    }
}

/// The loaded configuration: agents by id, in file order.
public struct AgentCatalog: Sendable {
    public let agents: [AgentDefinition]
    public let webhooks: WebhookSettings
    private let byID: [String: AgentDefinition]

    public init(agents: [AgentDefinition], webhooks: WebhookSettings = WebhookSettings()) {
        self.agents = agents
        self.webhooks = webhooks
        self.byID = Dictionary(agents.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
    }

    public func agent(_ id: String) -> AgentDefinition? { byID[id] }
}

/// Where run events are posted and how: the `webhooks` section of the configuration.
public struct WebhookSettings: Sendable, Equatable {
    /// Runs end as `run.*`; runs made through the OpenAI Responses API as OpenAI names them, `response.*`.
    public static let eventTypes = ["run.completed", "run.failed", "run.cancelled", "run.interrupted",
                                    "response.completed", "response.failed", "response.cancelled", "response.incomplete"]

    public struct Endpoint: Sendable, Equatable {
        public var url: String
        public var events: [String]

        public init(url: String, events: [String] = WebhookSettings.eventTypes) {
            self.url = url
            self.events = events
        }
    }

    /// The variable that holds the signing secrets (`whsec_...`, space-separated while rotating).
    public var secretEnvironment: String?
    /// Hosts a per-run `webhook` may name; internal addresses are refused unless their host is listed here.
    public var allowHosts: [String]
    public var endpoints: [Endpoint]
    public var maxAttempts: Int
    public var retryBase: Duration
    public var timeout: Duration

    public init(secretEnvironment: String? = nil, allowHosts: [String] = [], endpoints: [Endpoint] = [],
                maxAttempts: Int = 8, retryBase: Duration = .seconds(5), timeout: Duration = .seconds(10)) {
        self.secretEnvironment = secretEnvironment
        self.allowHosts = allowHosts
        self.endpoints = endpoints
        self.maxAttempts = maxAttempts
        self.retryBase = retryBase
        self.timeout = timeout
    }
}
