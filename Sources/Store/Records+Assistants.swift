import Foundation

/// An assistant at one version. For the current version, `createdAt` is when the assistant was made and `updatedAt`
/// when its current version was made or chosen; for an entry of its history both are when that version was made.
public struct AssistantRecord: Sendable, Equatable {
    public var id: String
    public var tenant: String
    /// The configured agent it runs.
    public var graphID: String
    public var name: String
    public var description: String?
    /// LangGraph's `config` and `context`, as JSON objects; the handlers check what they may hold.
    public var config: JSONText
    public var context: JSONText
    public var metadata: JSONText
    public var version: Int
    public var createdAt: Date
    public var updatedAt: Date

    public init(id: String, tenant: String, graphID: String, name: String, description: String?, config: JSONText,
                context: JSONText, metadata: JSONText, version: Int, createdAt: Date, updatedAt: Date) {
        self.id = id
        self.tenant = tenant
        self.graphID = graphID
        self.name = name
        self.description = description
        self.config = config
        self.context = context
        self.metadata = metadata
        self.version = version
        self.createdAt = createdAt
        self.updatedAt = updatedAt
    }
}

public struct NewAssistant: Sendable {
    public var id: String
    public var tenant: String
    public var graphID: String
    public var name: String
    public var description: String?
    public var config: JSONText
    public var context: JSONText
    public var metadata: JSONText
    public var now: Date

    public init(id: String, tenant: String, graphID: String, name: String, description: String? = nil, config: JSONText = "{}",
                context: JSONText = "{}", metadata: JSONText = "{}", now: Date = Date()) {
        self.id = id
        self.tenant = tenant
        self.graphID = graphID
        self.name = name
        self.description = description
        self.config = config
        self.context = context
        self.metadata = metadata
        self.now = now
    }
}

/// What a PATCH changes; nil fields stay as they are. `metadata` is merged into the current metadata by top-level key.
public struct AssistantChange: Sendable {
    public var graphID: String?
    public var name: String?
    public var description: String?
    public var config: JSONText?
    public var context: JSONText?
    public var metadata: JSONText?

    public init(graphID: String? = nil, name: String? = nil, description: String? = nil, config: JSONText? = nil,
                context: JSONText? = nil, metadata: JSONText? = nil) {
        self.graphID = graphID
        self.name = name
        self.description = description
        self.config = config
        self.context = context
        self.metadata = metadata
    }
}

/// What `searchRuns` looks for: one tenant's runs, narrowed by the fields set.
public struct RunQuery: Sendable {
    public var tenant: String
    /// The run's thread (its stored id, with the tenant prefix).
    public var threadID: String?
    /// The run's `assistant_id`: an agent's or a stored assistant's id.
    public var assistantID: String?
    public var status: RunStatus?
    /// Top-level keys of the run's metadata and the JSON value each must equal.
    public var metadata: [(key: String, value: JSONText)]
    public var limit: Int
    public var offset: Int

    public init(tenant: String, threadID: String? = nil, assistantID: String? = nil, status: RunStatus? = nil,
                metadata: [(key: String, value: JSONText)] = [], limit: Int = 10, offset: Int = 0) {
        self.tenant = tenant
        self.threadID = threadID
        self.assistantID = assistantID
        self.status = status
        self.metadata = metadata
        self.limit = limit
        self.offset = offset
    }
}

public struct AssistantQuery: Sendable {
    public enum SortKey: String, Sendable, CaseIterable {
        case assistantID = "assistant_id", graphID = "graph_id", name, createdAt = "created_at", updatedAt = "updated_at"
    }

    public var tenant: String
    public var graphID: String?
    /// A case-insensitive part of the name.
    public var name: String?
    /// Top-level metadata keys and the JSON value each must equal.
    public var metadata: [(key: String, value: JSONText)]
    public var sortBy: SortKey
    public var descending: Bool
    public var limit: Int
    public var offset: Int

    public init(tenant: String, graphID: String? = nil, name: String? = nil, metadata: [(key: String, value: JSONText)] = [],
                sortBy: SortKey = .createdAt, descending: Bool = true, limit: Int = 10, offset: Int = 0) {
        self.tenant = tenant
        self.graphID = graphID
        self.name = name
        self.metadata = metadata
        self.sortBy = sortBy
        self.descending = descending
        self.limit = limit
        self.offset = offset
    }
}
