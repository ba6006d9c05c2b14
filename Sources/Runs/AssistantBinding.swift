import AgentRuntime

/// What a stored assistant changes of its agent, fixed into the job when the run is made: any worker runs it the same
/// way, whatever happens to the assistant afterwards. The model, its server and its key are never among them: those
/// stay in the operator's configuration.
public struct AssistantBinding: Codable, Sendable, Equatable {
    public var id: String
    public var version: Int
    /// Replaces the agent's instructions.
    public var instructions: String?
    public var temperature: Double?
    /// Caps the agent's own `max_tokens`; never raises it.
    public var maxTokens: Int?
    public var topP: Double?
    /// The agent's tools the assistant keeps, by name; nil keeps them all.
    public var tools: [String]?

    public init(id: String, version: Int, instructions: String? = nil, temperature: Double? = nil, maxTokens: Int? = nil,
                topP: Double? = nil, tools: [String]? = nil) {
        self.id = id
        self.version = version
        self.instructions = instructions
        self.temperature = temperature
        self.maxTokens = maxTokens
        self.topP = topP
        self.tools = tools
    }

    enum CodingKeys: String, CodingKey {
        case id, version, instructions, temperature, maxTokens = "max_tokens", topP = "top_p", tools
    }

    /// The agent as the assistant runs it. Tools it names that the agent no longer has are left out.
    public func apply(to agent: AgentDefinition) -> AgentDefinition {
        var agent = agent
        if let instructions { agent.instructions = instructions }
        if let temperature { agent.model.temperature = temperature }
        if let maxTokens { agent.model.maxTokens = min(maxTokens, agent.model.maxTokens ?? maxTokens) }
        if let topP { agent.model.topP = topP }
        if let tools {
            agent.tools = agent.tools.filter { tools.contains($0.spec.name) }
            agent.toolFilter = Set(tools)
        }
        return agent
    }
}
