import Foundation

public enum ThreadStatus: String, Sendable, CaseIterable {
    case idle, busy, interrupted, error
}

public struct ThreadRecord: Sendable, Equatable {
    public var id: String
    public var createdAt: Date
    public var updatedAt: Date
    public var metadata: JSONText
    public var status: ThreadStatus
    /// The owner: an API key's tenant ("" when the server runs without keys).
    public var tenant: String = ""
    /// Time to live after the last update; the thread is pruned once `expiresAt` passes.
    public var ttl: Duration?
    public var expiresAt: Date?
    /// State keys a client sent beside the messages (LangGraph's state is open): a JSON object, kept as sent.
    public var values: JSONText = "{}"
    /// The approval a paused run waits for (its interrupt, as JSON; `id` names it), until a run answers it.
    public var pendingApproval: PendingApproval?

    public init(id: String, createdAt: Date, updatedAt: Date, metadata: JSONText, status: ThreadStatus, tenant: String,
                ttl: Duration?, expiresAt: Date?) {
        self.id = id
        self.createdAt = createdAt
        self.updatedAt = updatedAt
        self.metadata = metadata
        self.status = status
        self.tenant = tenant
        self.ttl = ttl
        self.expiresAt = expiresAt
    }
}

public struct NewThread: Sendable {
    public var id: String
    public var metadata: JSONText
    public var ttl: Duration?
    public var tenant: String

    public init(id: String, metadata: JSONText = "{}", ttl: Duration? = nil, tenant: String = "") {
        self.tenant = tenant
        self.id = id
        self.metadata = metadata
        self.ttl = ttl
    }
}

public enum IfExists: String, Sendable, CaseIterable {
    case raise, doNothing = "do_nothing"
}

public struct ThreadQuery: Sendable {
    /// Top-level metadata keys and the JSON value each must equal.
    public var metadata: [(key: String, value: JSONText)]
    public var status: ThreadStatus?
    public var limit: Int
    public var offset: Int
    /// Only this tenant's threads.
    public var tenant: String = ""

    public init(metadata: [(key: String, value: JSONText)] = [], status: ThreadStatus? = nil, limit: Int = 10, offset: Int = 0,
                tenant: String = "") {
        self.tenant = tenant
        self.metadata = metadata
        self.status = status
        self.limit = limit
        self.offset = offset
    }
}

public struct MessageRecord: Sendable, Equatable {
    /// Position in the thread, from 1.
    public var seq: Int
    public var runID: String?
    public var body: JSONText

    public init(seq: Int, runID: String?, body: JSONText) {
        self.seq = seq
        self.runID = runID
        self.body = body
    }
}

/// The thread after a run: the first `messageCount` messages.
public struct CheckpointRecord: Sendable, Equatable {
    public var id: String
    public var parentID: String?
    public var runID: String?
    public var messageCount: Int
    public var createdAt: Date
    public var metadata: JSONText

    public init(id: String, parentID: String?, runID: String?, messageCount: Int, createdAt: Date, metadata: JSONText) {
        self.id = id
        self.parentID = parentID
        self.runID = runID
        self.messageCount = messageCount
        self.createdAt = createdAt
        self.metadata = metadata
    }
}

/// The approval a thread's paused run waits for: its id (what an answer names) and what the dialects show (JSON).
public struct PendingApproval: Sendable, Equatable {
    public var id: String
    public var body: JSONText

    public init(id: String, body: JSONText) {
        self.id = id
        self.body = body
    }
}
