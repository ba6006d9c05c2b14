import Foundation

/// JSON text as stored; the store keeps payloads opaque so that it needs no knowledge of message shapes.
public typealias JSONText = String

public enum ThreadStatus: String, Sendable, CaseIterable {
    case idle, busy, interrupted, error
}

public enum RunStatus: String, Sendable, CaseIterable {
    case pending, running, success, error, timeout, interrupted

    /// Pending and running runs hold (or wait for) their thread.
    public var isActive: Bool { self == .pending || self == .running }
}

public enum MultitaskStrategy: String, Sendable, CaseIterable {
    case reject, interrupt, rollback, enqueue
}

public enum CancelAction: String, Sendable, CaseIterable {
    case interrupt, rollback
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

public struct RunRecord: Sendable, Equatable {
    public var id: String
    public var threadID: String?
    public var assistantID: String
    public var status: RunStatus
    public var createdAt: Date
    public var updatedAt: Date
    public var metadata: JSONText
    /// The request that created the run, to run it again elsewhere.
    public var kwargs: JSONText
    public var multitaskStrategy: MultitaskStrategy
    public var onDisconnect: String
    public var workerID: String?
    public var leaseUntil: Date?
    public var attempts: Int
    public var cancelAction: CancelAction?
    /// What the run ended with (usage, error, dropped context), set when it finishes.
    public var result: JSONText?
    /// Created by `POST .../runs`: any worker's executor may take it.
    public var background: Bool = false
    public var notBefore: Date?
    public var webhook: String?
    /// Calls of non-idempotent tools that an attempt started: a later attempt must not repeat them.
    public var sideEffects: JSONText?
    /// One entry per attempt: worker, start, and how it ended when not by finishing.
    public var attemptLog: JSONText = "[]"
    /// The API key that created it.
    public var keyID: String?
    /// What to run (the run engine's versioned job); nil on runs queued before jobs were stored.
    public var job: JSONText?
    /// The run's place in the store's queue: grows with every run created and is never reused, so a thread's runs
    /// follow one another in this order (what numbers a thread's events across its runs).
    public var queueSeq: Int64 = 0
}

public struct NewRun: Sendable {
    public var id: String
    public var threadID: String?
    public var assistantID: String
    public var metadata: JSONText
    public var kwargs: JSONText
    public var multitaskStrategy: MultitaskStrategy
    public var onDisconnect: String
    /// The worker that will run it, holding it with a lease from the start so that a worker that dies
    /// while the run waits for its thread does not leave it pending for ever.
    public var worker: String?
    public var leaseUntil: Date?
    public var background = false
    public var notBefore: Date?
    public var webhook: String?
    /// The API key that created it, and its limits, checked in the same transaction that creates the run.
    public var keyID: String?
    public var maxConcurrentRuns: Int?
    /// Runs of the key waiting in the queue at most (one tenant's flood waits for no one else's runs).
    public var maxPendingRuns: Int?
    /// What to run, as the run engine reads it back on any worker.
    public var job: JSONText?
    /// Keys merged into the thread's metadata as the run is created (LangGraph's `graph_id` and `assistant_id`).
    public var threadMetadata: JSONText?
    /// State keys of the run's input other than its messages, set on the thread as the run is created (each key
    /// replaces the thread's value of it), within `StoreLimits.maxThreadValuesBytes`.
    public var threadValues: JSONText?

    public init(id: String, threadID: String?, assistantID: String, metadata: JSONText = "{}", kwargs: JSONText = "{}",
                multitaskStrategy: MultitaskStrategy = .reject, onDisconnect: String = "cancel",
                worker: String? = nil, leaseUntil: Date? = nil) {
        self.worker = worker
        self.leaseUntil = leaseUntil
        self.id = id
        self.threadID = threadID
        self.assistantID = assistantID
        self.metadata = metadata
        self.kwargs = kwargs
        self.multitaskStrategy = multitaskStrategy
        self.onDisconnect = onDisconnect
    }
}

/// What `claimRun` found.
public enum ClaimResult: Sendable, Equatable {
    case claimed(RunRecord)
    /// An earlier run of the thread is still pending or running.
    case waiting
    /// The run was cancelled (or rolled back) before it started, or no longer exists.
    case cancelled(RunRecord?)
}

/// How a run ends, written in one transaction with the thread's new messages.
public struct RunCompletion: Sendable {
    public var status: RunStatus
    /// Messages the thread gains (run input first); ignored for a rollback.
    public var messages: [(id: String, body: JSONText)]
    public var result: JSONText
    /// True when the run is undone: the run and its events disappear, the thread is as before.
    public var rollback: Bool
    /// Webhook deliveries that the run's end owes, written in the same transaction so none is lost.
    public var deliveries: [NewDelivery]
    /// The log's last events (its `end`), appended in the same transaction: a reader never sees a finished run
    /// whose `end` is still to come. Ignored for a rollback, whose events go with the run.
    public var closingEvents: [EventRecord]

    public init(status: RunStatus, messages: [(id: String, body: JSONText)], result: JSONText, rollback: Bool = false,
                deliveries: [NewDelivery] = [], closingEvents: [EventRecord] = []) {
        self.status = status
        self.messages = messages
        self.result = result
        self.rollback = rollback
        self.deliveries = deliveries
        self.closingEvents = closingEvents
    }
}

/// What the worker running a run learns when it renews the run's lease.
public enum RunControl: Sendable, Equatable {
    case proceed
    case cancel(CancelAction)
    /// Deleted, or taken over by another worker: stop without writing.
    case gone
}

public struct EventRecord: Sendable, Equatable {
    public var seq: Int
    public var event: String
    public var data: [UInt8]

    public init(seq: Int, event: String, data: [UInt8]) {
        self.seq = seq
        self.event = event
        self.data = data
    }
}

/// Bounds the store keeps whatever the caller.
public enum StoreLimits {
    /// Messages written into a thread outside runs stop here: every read of a thread loads it whole.
    public static let maxMessagesPerThread = 10_000
    /// A thread's state beside its messages (`ThreadRecord.values`), as JSON.
    public static let maxThreadValuesBytes = 64 * 1024
    /// A tenant's assistants: search merges them with the configured agents in memory.
    public static let maxAssistantsPerTenant = 1_000
    public static let maxCronsPerTenant = 100

    /// `current` with each top-level key of `update` set (LangGraph's default for state keys without a reducer:
    /// the last write wins); throws `threadValuesTooLarge` past the bound.
    public static func merge(values current: JSONText, with update: JSONText, thread: String) throws -> JSONText {
        var merged = (try? JSONSerialization.jsonObject(with: Data(current.utf8))) as? [String: Any] ?? [:]
        guard let changes = try JSONSerialization.jsonObject(with: Data(update.utf8)) as? [String: Any] else { return current }
        for (key, value) in changes { merged[key] = value }
        let data = try JSONSerialization.data(withJSONObject: merged, options: [.sortedKeys, .fragmentsAllowed])
        guard data.count <= maxThreadValuesBytes else { throw StoreError.threadValuesTooLarge(thread, limit: maxThreadValuesBytes) }
        return String(decoding: data, as: UTF8.self)
    }
}

public enum StoreError: Error, Sendable, Equatable {
    case threadExists(String)
    case threadNotFound(String)
    case runNotFound(String)
    /// The thread has an active run and the strategy is `reject`.
    case threadBusy(threadID: String, runID: String)
    /// The run is still pending or running.
    case runActive(String)
    /// A second writer for the same event sequence number.
    case eventConflict(runID: String, seq: Int)
    /// The key already has `limit` runs pending or running.
    case concurrentRunsExceeded(limit: Int)
    case threadFull(String, limit: Int)
    case threadValuesTooLarge(String, limit: Int)
    /// The key has `limit` runs waiting in the queue already.
    case pendingRunsExceeded(limit: Int)
    /// The tenant has an assistant of this id already.
    case assistantExists(String)
    /// The tenant has `limit` assistants already.
    case assistantLimit(limit: Int)
    /// The tenant has `limit` crons already.
    case cronLimit(limit: Int)
    /// The database did not take the operation in time (another writer holds it, or it is out of reach): nothing
    /// was written; the same request may be sent again shortly.
    case busy
    /// The database's disk is full: nothing was written; writes succeed again once the operator has made room.
    case full
}

/// An API key as stored: a hash of the secret, never the secret.
public struct APIKeyRecord: Sendable, Equatable {
    /// Public: the part of the key between its prefix and its secret.
    public var id: String
    public var hash: String
    public var name: String
    public var tenant: String
    public var scopes: [String]
    public var maxConcurrentRuns: Int?
    public var dailyTokenBudget: Int?
    public var createdAt: Date
    public var revokedAt: Date?

    public init(id: String, hash: String, name: String, tenant: String, scopes: [String], maxConcurrentRuns: Int? = nil,
                dailyTokenBudget: Int? = nil, createdAt: Date, revokedAt: Date? = nil) {
        self.id = id
        self.hash = hash
        self.name = name
        self.tenant = tenant
        self.scopes = scopes
        self.maxConcurrentRuns = maxConcurrentRuns
        self.dailyTokenBudget = dailyTokenBudget
        self.createdAt = createdAt
        self.revokedAt = revokedAt
    }
}

/// A webhook the store will hand to a dispatcher until it is delivered or gives up.
public struct NewDelivery: Sendable, Equatable {
    /// Also the `webhook-id` header: the same on every attempt, so receivers can deduplicate.
    public var id: String
    public var runID: String
    public var threadID: String?
    public var url: String
    public var eventType: String
    public var payload: [UInt8]

    public init(id: String, runID: String, threadID: String?, url: String, eventType: String, payload: [UInt8]) {
        self.id = id
        self.runID = runID
        self.threadID = threadID
        self.url = url
        self.eventType = eventType
        self.payload = payload
    }
}

public enum DeliveryStatus: String, Sendable, CaseIterable {
    case pending, delivered, failed
}

public struct DeliveryRecord: Sendable, Equatable {
    public var id: String
    public var runID: String
    public var threadID: String?
    public var url: String
    public var eventType: String
    public var payload: [UInt8]
    public var status: DeliveryStatus
    public var attempts: Int
    public var nextAttemptAt: Date
    public var createdAt: Date
    public var updatedAt: Date
    public var log: [DeliveryAttempt] = []
}

public struct DeliveryAttempt: Sendable, Equatable {
    public var attempt: Int
    public var at: Date
    public var statusCode: Int?
    public var error: String?
    public var durationMilliseconds: Int

    public init(attempt: Int, at: Date, statusCode: Int?, error: String?, durationMilliseconds: Int) {
        self.attempt = attempt
        self.at = at
        self.statusCode = statusCode
        self.error = error
        self.durationMilliseconds = durationMilliseconds
    }
}

/// What became of a run whose worker stopped renewing its lease.
public struct ExpiredRun: Sendable, Equatable {
    public var run: RunRecord
    /// True when it went back to the queue for another attempt; false when it was closed as failed.
    public var requeued: Bool

    public init(run: RunRecord, requeued: Bool) {
        self.run = run
        self.requeued = requeued
    }
}

/// A stored answer to a request sent with an `Idempotency-Key`.
public struct IdempotentResponse: Sendable, Equatable {
    public var status: Int
    public var headers: JSONText
    public var body: [UInt8]

    public init(status: Int, headers: JSONText, body: [UInt8]) {
        self.status = status
        self.headers = headers
        self.body = body
    }
}

public enum IdempotencyClaim: Sendable, Equatable {
    /// First use: go on, then `completeIdempotency` (or `releaseIdempotency` on failure).
    case new
    case replay(IdempotentResponse)
    /// The key was used with a different request.
    case mismatch
    /// The first request with this key has not finished yet.
    case inProgress
}

// Public initializers, for store implementations in other modules.



extension RunRecord {
    public init(id: String, threadID: String?, assistantID: String, status: RunStatus, createdAt: Date, updatedAt: Date,
                metadata: JSONText, kwargs: JSONText, multitaskStrategy: MultitaskStrategy, onDisconnect: String,
                workerID: String?, leaseUntil: Date?, attempts: Int, cancelAction: CancelAction?, result: JSONText?) {
        self.id = id
        self.threadID = threadID
        self.assistantID = assistantID
        self.status = status
        self.createdAt = createdAt
        self.updatedAt = updatedAt
        self.metadata = metadata
        self.kwargs = kwargs
        self.multitaskStrategy = multitaskStrategy
        self.onDisconnect = onDisconnect
        self.workerID = workerID
        self.leaseUntil = leaseUntil
        self.attempts = attempts
        self.cancelAction = cancelAction
        self.result = result
    }
}

extension DeliveryRecord {
    public init(id: String, runID: String, threadID: String?, url: String, eventType: String, payload: [UInt8],
                status: DeliveryStatus, attempts: Int, nextAttemptAt: Date, createdAt: Date, updatedAt: Date) {
        self.id = id
        self.runID = runID
        self.threadID = threadID
        self.url = url
        self.eventType = eventType
        self.payload = payload
        self.status = status
        self.attempts = attempts
        self.nextAttemptAt = nextAttemptAt
        self.createdAt = createdAt
        self.updatedAt = updatedAt
    }
}

