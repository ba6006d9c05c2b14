import Foundation

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
    /// The approval of the thread this run answers: created only while it is the one pending, which it then no
    /// longer is (two answers: one run). Without it, a run on a thread with a pending approval is refused.
    public var answersApproval: String?
    /// The thread to make first when there is none (LangGraph's `if_not_exists: create`), in the run's transaction.
    public var newThread: NewThread?
    /// Made running on `worker` at once, when nothing runs or waits before it on its thread (a run its creator
    /// starts now): no second transaction to claim it.
    public var startsAtOnce = false

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
    /// The run paused for a person's approval: the thread keeps it (status `interrupted`) until a run answers it. An
    /// interrupted run without one was cancelled, and leaves its thread idle.
    public var pendingApproval: PendingApproval?
    /// Tokens the run used, added to its key's day (`addUsage`) in the same transaction.
    public var usage: (key: String, day: String, tokens: Int)?

    public init(status: RunStatus, messages: [(id: String, body: JSONText)], result: JSONText, rollback: Bool = false,
                deliveries: [NewDelivery] = [], closingEvents: [EventRecord] = [], pendingApproval: PendingApproval? = nil,
                usage: (key: String, day: String, tokens: Int)? = nil) {
        self.pendingApproval = pendingApproval
        self.usage = usage
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

/// How a run whose worker was lost ends, when it is not tried again: its result, and the events that close its log.
public struct LostRunEnding: Sendable {
    public var result: JSONText
    public var closing: [(event: String, data: [UInt8])]

    public init(result: JSONText, closing: [(event: String, data: [UInt8])]) {
        self.result = result
        self.closing = closing
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

// A public initializer, for store implementations in other modules.
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
