/// One agent: instructions, a model and (later) tools, as the YAML config declares it.
public struct AgentDefinition: Sendable, Equatable {
    public var id: String
    public var name: String
    public var description: String
    public var instructions: String
    public var model: ModelSettings
    public var metadata: [String: JSONValue]

    public init(
        id: String, name: String? = nil, description: String = "", instructions: String = "",
        model: ModelSettings = ModelSettings(), metadata: [String: JSONValue] = [:]
    ) {
        self.id = id
        self.name = name ?? id
        self.description = description
        self.instructions = instructions
        self.model = model
        self.metadata = metadata
    }
}

public struct ModelSettings: Sendable, Equatable {
    public enum Provider: String, Sendable, CaseIterable {
        case builtin
    }

    public var provider: Provider
    public var name: String
    /// Builtin model only: the pause before each streamed token.
    public var tokenDelay: Duration

    public init(provider: Provider = .builtin, name: String = "builtin", tokenDelay: Duration = .zero) {
        self.provider = provider
        self.name = name
        self.tokenDelay = tokenDelay
    }
}

/// The loaded configuration: agents by id, in file order.
public struct AgentCatalog: Sendable {
    public let agents: [AgentDefinition]
    private let byID: [String: AgentDefinition]

    public init(agents: [AgentDefinition]) {
        self.agents = agents
        self.byID = Dictionary(agents.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
    }

    public func agent(_ id: String) -> AgentDefinition? { byID[id] }
}
