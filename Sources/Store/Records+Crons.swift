import Foundation

/// A tenant's schedule of runs (LangGraph's crons). What each firing runs is kept twice: `payload` as the client
/// sent it (shown back), `job` as the engine reads it (written by the dialect that made the cron).
public struct CronRecord: Sendable, Equatable {
    public var id: String
    public var tenant: String
    /// The API key that made the cron: each firing is admitted under its limits, and stops when it is revoked.
    public var keyID: String?
    /// The thread each firing runs on (stored id, with the tenant prefix); nil: a new thread per firing.
    public var threadID: String?
    public var assistantID: String
    public var schedule: String
    /// IANA zone; nil is UTC.
    public var timezone: String?
    public var endTime: Date?
    public var enabled: Bool
    /// `delete` or `keep`: what happens to a thread-less firing's thread once its run has ended.
    public var onRunCompleted: String
    public var payload: JSONText
    public var metadata: JSONText
    public var job: JSONText
    /// The run's metadata and the thread's stamped keys, as the dialect gives them to each run.
    public var runMetadata: JSONText
    public var threadMetadata: JSONText?
    /// The next firing; nil once the schedule has ended.
    public var nextRunDate: Date?
    /// Why the server turned the cron off (its key was revoked), when it did.
    public var disabledReason: String?
    public var createdAt: Date
    public var updatedAt: Date

    public init(id: String, tenant: String, keyID: String?, threadID: String?, assistantID: String, schedule: String, timezone: String?,
                endTime: Date?, enabled: Bool, onRunCompleted: String, payload: JSONText, metadata: JSONText, job: JSONText,
                runMetadata: JSONText, threadMetadata: JSONText?, nextRunDate: Date?, disabledReason: String? = nil,
                createdAt: Date, updatedAt: Date) {
        self.id = id
        self.tenant = tenant
        self.keyID = keyID
        self.threadID = threadID
        self.assistantID = assistantID
        self.schedule = schedule
        self.timezone = timezone
        self.endTime = endTime
        self.enabled = enabled
        self.onRunCompleted = onRunCompleted
        self.payload = payload
        self.metadata = metadata
        self.job = job
        self.runMetadata = runMetadata
        self.threadMetadata = threadMetadata
        self.nextRunDate = nextRunDate
        self.disabledReason = disabledReason
        self.createdAt = createdAt
        self.updatedAt = updatedAt
    }
}

/// What a PATCH changes; nil fields stay as they are. `metadata` replaces the cron's (LangGraph's update does).
public struct CronChange: Sendable {
    public var schedule: String?
    public var timezone: String??
    public var endTime: Date??
    public var enabled: Bool?
    public var onRunCompleted: String?
    public var payload: JSONText?
    public var metadata: JSONText?
    public var job: JSONText?
    public var runMetadata: JSONText?
    public var threadMetadata: JSONText?
    public var assistantID: String?
    /// The key whose limits (and memories) the firings use from now on: whoever changed the cron last.
    public var keyID: String??
    /// Set whenever the schedule, zone, end or enabled state changed: the caller computes it.
    public var nextRunDate: Date??

    public init() {}
}

public struct CronQuery: Sendable {
    public enum SortKey: String, Sendable, CaseIterable {
        case cronID = "cron_id", assistantID = "assistant_id", threadID = "thread_id", createdAt = "created_at"
        case updatedAt = "updated_at", nextRunDate = "next_run_date", endTime = "end_time"
    }

    public var tenant: String
    public var assistantID: String?
    public var threadID: String?
    public var enabled: Bool?
    public var metadata: [(key: String, value: JSONText)]
    public var sortBy: SortKey
    public var descending: Bool
    public var limit: Int
    public var offset: Int

    public init(tenant: String, assistantID: String? = nil, threadID: String? = nil, enabled: Bool? = nil,
                metadata: [(key: String, value: JSONText)] = [], sortBy: SortKey = .createdAt, descending: Bool = true,
                limit: Int = 10, offset: Int = 0) {
        self.tenant = tenant
        self.assistantID = assistantID
        self.threadID = threadID
        self.enabled = enabled
        self.metadata = metadata
        self.sortBy = sortBy
        self.descending = descending
        self.limit = limit
        self.offset = offset
    }
}

/// One firing of a cron: the row keyed by (cron, scheduled time) that makes it happen once, whichever worker of
/// whichever host gets there first.
public struct CronFiring: Sendable, Equatable {
    public enum Status: String, Sendable {
        /// Taken by a worker, its run not yet queued: another worker queues it if this one dies.
        case claimed
        /// Its run is queued (or has run).
        case queued
        /// Its run's thread is to be deleted once the run and its webhooks are done.
        case cleanup
        case done
        /// Its run could not be made; `detail` says why.
        case failed
    }

    public var cronID: String
    public var scheduledAt: Date
    public var tenant: String
    public var runID: String
    /// The firing's own thread (thread-less crons), stored id.
    public var threadID: String?
    public var status: Status
    public var worker: String
    public var detail: String?
    public var updatedAt: Date

    public init(cronID: String, scheduledAt: Date, tenant: String, runID: String, threadID: String?, status: Status,
                worker: String, detail: String? = nil, updatedAt: Date) {
        self.cronID = cronID
        self.scheduledAt = scheduledAt
        self.tenant = tenant
        self.runID = runID
        self.threadID = threadID
        self.status = status
        self.worker = worker
        self.detail = detail
        self.updatedAt = updatedAt
    }
}

extension CronRecord {
    /// The record with `change` applied, as both stores write it. Turning a cron back on clears why it was off.
    public mutating func apply(_ change: CronChange) {
        if let value = change.schedule { schedule = value }
        if let value = change.timezone { timezone = value }
        if let value = change.endTime { endTime = value }
        if let value = change.enabled {
            enabled = value
            if value { disabledReason = nil }
        }
        if let value = change.onRunCompleted { onRunCompleted = value }
        if let value = change.payload { payload = value }
        if let value = change.metadata { metadata = value }
        if let value = change.job { job = value }
        if let value = change.runMetadata { runMetadata = value }
        if let value = change.threadMetadata { threadMetadata = value }
        if let value = change.assistantID { assistantID = value }
        if let value = change.keyID { keyID = value }
        if let value = change.nextRunDate { nextRunDate = value }
    }
}
