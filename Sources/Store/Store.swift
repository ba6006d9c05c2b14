import Foundation

/// Conversation threads with their messages and checkpoints.
public protocol ThreadStore: Sendable {
    func createThread(_ thread: NewThread, ifExists: IfExists) async throws -> ThreadRecord
    func thread(_ id: String) async throws -> ThreadRecord?
    /// Merges `metadata` (top-level keys) into the thread's; a nil `ttl` leaves it unchanged.
    func updateThread(_ id: String, metadata: JSONText?, ttl: Duration?) async throws -> ThreadRecord
    /// Deletes the thread with its messages, runs and events. False when there was none.
    func deleteThread(_ id: String) async throws -> Bool
    func searchThreads(_ query: ThreadQuery) async throws -> [ThreadRecord]
    /// How many threads the query finds, its limit and offset aside.
    func countThreads(_ query: ThreadQuery) async throws -> Int
    /// Drops a thread's past checkpoints and keeps its newest, with no parent (LangGraph's prune `keep_latest`).
    /// False when there is no such thread.
    func pruneHistory(thread id: String) async throws -> Bool
    /// The first `limit` messages of the thread (all when nil), oldest first.
    func messages(thread id: String, limit: Int?) async throws -> [MessageRecord]
    /// The thread and all its messages, as one read saw them; nil and none when there is no such thread.
    func threadWithMessages(_ id: String) async throws -> (thread: ThreadRecord?, messages: [MessageRecord])
    /// Adds messages to a thread outside any run (items a client wrote), with a checkpoint of the new state;
    /// `threadBusy` while a run holds the thread; `threadFull` past `StoreLimits.maxMessagesPerThread`.
    func addMessages(thread id: String, _ messages: [(id: String, body: JSONText)]) async throws -> [MessageRecord]
    /// Removes one message by its id; the thread's checkpoints give way to one of the state without it. False when
    /// the thread has no such message; `threadBusy` while a run holds the thread.
    func removeMessage(thread id: String, messageID: String) async throws -> Bool
    /// Keeps a thread's first `count` messages and removes the rest (a client resent its conversation edited or
    /// regenerated from an earlier turn); the checkpoints give way to one of the kept state. The number removed.
    /// `by`: the run that holds the thread and does it (no other may be pending or running).
    func truncateMessages(thread id: String, keeping count: Int, by run: String?) async throws -> Int
    /// Newest first; `before` is a checkpoint id.
    func checkpoints(thread id: String, limit: Int, before: String?) async throws -> [CheckpointRecord]
    /// LangGraph's `update_state` outside any run, all at once: messages removed by id (ids no longer there are
    /// skipped), replaced in place (same id), appended; state keys merged; one checkpoint of the result, whose id it
    /// returns. `threadBusy` while a run holds the thread; `threadFull`, `threadValuesTooLarge` past the bounds.
    func updateState(thread id: String, removing: [String], replacing: [(id: String, body: JSONText)],
                     adding: [(id: String, body: JSONText)], values: JSONText?) async throws -> String
}

/// Runs and the queue of runs on one thread. A thread runs one run at a time; the choice between runs is
/// made inside the store, atomically, so that workers racing each other cannot both start one.
public protocol RunStore: Sendable {
    /// Creates a pending run. With a thread, applies the strategy against the thread's active runs:
    /// `reject` throws `threadBusy`, `interrupt`/`rollback` ask the active runs to stop, `enqueue` queues.
    func createRun(_ run: NewRun) async throws -> RunRecord
    /// Starts the run when it is first in its thread's queue and no run of the thread is running.
    func claimRun(_ id: String, worker: String, leaseUntil: Date) async throws -> ClaimResult
    /// Extends the leases of a worker's runs and reports, per run, whether to go on.
    func renewLeases(worker: String, runs: [String], until: Date) async throws -> [String: RunControl]
    /// Ends a run that `worker` holds; false when the run is gone or no longer the worker's.
    func finishRun(_ id: String, worker: String, _ completion: RunCompletion) async throws -> Bool
    func run(_ id: String) async throws -> RunRecord?
    func runs(thread id: String, limit: Int, offset: Int, status: RunStatus?) async throws -> [RunRecord]
    /// A tenant's runs in one status, oldest first (a bulk cancel by status).
    func runs(tenant: String, status: RunStatus, limit: Int) async throws -> [RunRecord]
    /// A tenant's runs on its threads, newest first (then by id), filtered; `offset` and `limit` after (Agent
    /// Protocol's run search).
    func searchRuns(_ query: RunQuery) async throws -> [RunRecord]
    /// A thread's runs in queue order, from the first with `queueSeq` above `after`.
    func runs(thread id: String, afterQueueSeq after: Int64, limit: Int) async throws -> [RunRecord]
    /// Asks a run to stop: a pending run stops at once, a running one when its worker next renews its lease.
    func requestCancel(_ id: String, action: CancelAction) async throws -> RunRecord?
    /// Deletes a finished run; `runActive` while it is pending or running.
    func deleteRun(_ id: String) async throws -> Bool
    /// Runs whose worker stopped renewing. A run with attempts left and no non-idempotent tool call started goes
    /// back to the queue (as a background run, for any worker); the others are marked `error` with the result `ending`
    /// gives for the run, their threads freed, their logs closed with its events and `deliveries` (per run) queued.
    func expireLeases(now: Date, maxAttempts: Int, ending: @escaping @Sendable (RunRecord) -> LostRunEnding,
                      deliveries: @escaping @Sendable (RunRecord) -> [NewDelivery]) async throws -> [ExpiredRun]
    /// Takes the oldest due background run that may start (first in its thread's queue), with a lease.
    func claimNextRun(worker: String, leaseUntil: Date, now: Date) async throws -> RunRecord?
    /// Hands a running run back to the queue (the worker is shutting down): another worker starts it again.
    /// False when the worker no longer holds it or it started a non-idempotent tool call.
    func releaseRun(_ id: String, worker: String) async throws -> Bool
    /// Notes, durably and before the call, that a run started a non-idempotent tool call.
    func recordSideEffect(run id: String, worker: String, call: JSONText) async throws
    /// Takes a place for a stateless run (one that is not stored) under its key's `max_concurrent_runs`: counted with
    /// the key's pending and running runs and every worker's places, in one write, so that workers and hosts share one
    /// count. False when the key is at its limit. A place lapses at `until` unless renewed (its worker died).
    func takeRunPlace(_ id: String, key: String, limit: Int, until: Date) async throws -> Bool
    /// Keeps places of runs still going; the ones given back or lapsed are not brought back.
    func renewRunPlaces(_ ids: [String], until: Date) async throws
    func releaseRunPlace(_ id: String) async throws
    /// Background runs waiting in the queue, of every key (the metrics' queue depth).
    func queuedRunCount() async throws -> Int
    /// Pending runs queued before jobs were stored (no `job`), oldest first.
    func runsWithoutJob(limit: Int) async throws -> [RunRecord]
    /// Sets the job of a run that has none; false when it has one already or is gone.
    func setJob(run id: String, _ job: JSONText) async throws -> Bool
    /// Deletes expired threads and the events of runs finished before `eventsBefore`.
    func prune(now: Date, eventsBefore: Date) async throws -> (threads: Int, events: Int)
}

/// Every event of a run, numbered from 1, stored before anyone is sent it.
public protocol EventLog: Sendable {
    /// Appends events numbered in order after the log's last, in one transaction (a batch of a run's events); readers
    /// on other workers are told once.
    func appendEvents(run id: String, _ events: [EventRecord]) async throws
    /// Events after `seq`, in order, at most `limit`.
    func events(run id: String, after seq: Int, limit: Int) async throws -> [EventRecord]
    func lastEventSeq(run id: String) async throws -> Int
}

/// What one worker tells the others at once, so that they sleep while nothing happens instead of polling the store.
extension EventLog {
    public func appendEvent(run id: String, _ event: EventRecord) async throws {
        try await appendEvents(run: id, [event])
    }
}

/// What one worker tells the others at once, so that they sleep while nothing happens instead of polling the store.
public enum StoreNotice: Sendable, Hashable {
    /// A run's log grew: readers of the run on other workers look now.
    case appended(run: String)
    /// A background run waits that its worker had no room for (or a dead worker's run was queued again).
    case runsWaiting
    /// A cron was made, changed or deleted: schedulers look for the next firing again.
    case cronsChanged
    /// A run was made on a thread: readers of the thread's stream on other workers look now.
    case threadRun(thread: String)
    /// A client answered a form of an approval (MCP's elicitation): the worker whose stream asked looks now.
    case answered(approval: String)

    /// The text sent: a run's id as it is (ids never start with `!`), the others a `!` word.
    public var payload: String {
        switch self {
        case .appended(let run): run
        case .runsWaiting: "!runs"
        case .cronsChanged: "!crons"
        case .threadRun(let thread): "!thread:" + thread
        case .answered(let approval): "!answer:" + approval
        }
    }

    /// Nil for a payload this version does not know (a newer worker's).
    public init?(payload: String) {
        switch payload {
        case "!runs": self = .runsWaiting
        case "!crons": self = .cronsChanged
        case let text where text.hasPrefix("!thread:"): self = .threadRun(thread: String(text.dropFirst(8)))
        case let text where text.hasPrefix("!answer:"): self = .answered(approval: String(text.dropFirst(8)))
        case let text where text.hasPrefix("!") || text.isEmpty: return nil
        default: self = .appended(run: payload)
        }
    }
}

/// A store whose workers can tell each other of changes: PostgreSQL's LISTEN/NOTIFY across hosts; datagrams between
/// the processes of one host for SQLite. Best effort: a notice may be lost (a full buffer, a broken connection), so a
/// waiter still looks now and then, only much more rarely than it would poll.
public protocol StoreNotifying: Sendable {
    /// False when this store cannot send notices after all (an SQLite path too long for a socket beside it).
    var notifies: Bool { get }
    /// Calls `handler` with each notice another process sends (this one's own may come too); returns when the
    /// subscription breaks (the caller subscribes again) or the task is cancelled.
    func follow(_ handler: @escaping @Sendable (StoreNotice) -> Void) async throws
    /// Sends to every follower. Appends are told by the store itself (`appendEvent`), in the same step as the write.
    func notify(_ notice: StoreNotice) async
}

/// Webhook deliveries: at least once, each with its attempts logged.
public protocol WebhookStore: Sendable {
    /// Due deliveries, leased to `worker` so that two dispatchers never send the same one at once.
    func claimDueDeliveries(worker: String, now: Date, leaseUntil: Date, limit: Int) async throws -> [DeliveryRecord]
    /// When the next pending delivery may be claimed (its next attempt, or the end of another dispatcher's lease on it);
    /// nil when none is pending.
    func nextDeliveryDue() async throws -> Date?
    /// Logs an attempt; `next` schedules another, nil ends the delivery as `delivered` or `failed`.
    func recordDeliveryAttempt(_ id: String, worker: String, _ attempt: DeliveryAttempt, delivered: Bool, next: Date?) async throws
    func deliveries(run id: String) async throws -> [DeliveryRecord]
}

/// Responses to requests sent with an `Idempotency-Key`, kept for a day per caller.
public protocol IdempotencyStore: Sendable {
    func claimIdempotency(scope: String, key: String, requestHash: String, now: Date) async throws -> IdempotencyClaim
    func completeIdempotency(scope: String, key: String, _ response: IdempotentResponse) async throws
    /// Forgets a key whose request failed before it changed anything, so that a retry may go ahead.
    func releaseIdempotency(scope: String, key: String) async throws
    func pruneIdempotency(before: Date) async throws -> Int
}

/// MCP calls in flight: (key, JSON-RPC request id) to the run serving it, so that a cancel reaching any worker finds the run;
/// and (key, `answer:` and a request of the server's) to the client's answer, so that the worker that asked finds it.
public protocol CallHandleStore: Sendable {
    /// Maps the handle to the run, replacing an older mapping of the same handle (clients reuse ids across connections).
    func putCallHandle(scope: String, handle: String, runID: String, now: Date) async throws
    func callHandle(scope: String, handle: String) async throws -> String?
    /// Removes the mapping only while it still names this run (a newer call may have taken the handle).
    func removeCallHandle(scope: String, handle: String, runID: String) async throws
    func pruneCallHandles(before: Date) async throws -> Int
    /// The deployment's secret of this name, shared by every worker and host: `candidate` is kept when there is none
    /// yet, else the one kept first is returned (MCP signs the request state it hands clients with it).
    func secret(named name: String, candidate: [UInt8]) async throws -> [UInt8]
}

/// Assistants a tenant made: named, versioned configurations of the configured agents (LangGraph's assistants).
/// Ids are per tenant: two tenants may each have an assistant "support".
public protocol AssistantStore: Sendable {
    /// Creates the assistant at version 1. With `.raise` an id the tenant already has is `assistantExists`; with
    /// `.doNothing` the existing assistant is returned as it is. `assistantLimit` when the tenant has
    /// `StoreLimits.maxAssistantsPerTenant` already.
    func createAssistant(_ assistant: NewAssistant, ifExists: IfExists) async throws -> AssistantRecord
    /// The assistant at its current version; nil when the tenant has none of that id.
    func assistant(tenant: String, id: String) async throws -> AssistantRecord?
    /// Makes a new version (the highest so far + 1) from the current one with `change` applied (metadata merged by
    /// top-level key, the other fields replaced when given) and makes it current. nil when there is no such assistant.
    func updateAssistant(tenant: String, id: String, _ change: AssistantChange, now: Date) async throws -> AssistantRecord?
    /// Deletes the assistant with all its versions. False when there was none.
    func deleteAssistant(tenant: String, id: String) async throws -> Bool
    /// The tenant's assistants at their current versions, filtered and sorted, then `offset` and `limit`.
    func searchAssistants(_ query: AssistantQuery) async throws -> [AssistantRecord]
    /// How many assistants the query finds, its limit and offset aside.
    func countAssistants(_ query: AssistantQuery) async throws -> Int
    /// Every version of the assistant (each as it was made), newest first; `metadata` filters as in search. Empty
    /// when there is no such assistant.
    func assistantVersions(tenant: String, id: String, metadata: [(key: String, value: JSONText)], limit: Int,
                           offset: Int) async throws -> [AssistantRecord]
    /// Makes an existing version current again (`updated_at` moves to `now`). nil when the assistant or the
    /// version does not exist.
    func setAssistantVersion(tenant: String, id: String, version: Int, now: Date) async throws -> AssistantRecord?
}

/// Crons: a tenant's schedules, and the firings that make each scheduled time run once across every worker.
public protocol CronStore: Sendable {
    /// `cronLimit` when the tenant has `StoreLimits.maxCronsPerTenant` already.
    func createCron(_ cron: CronRecord) async throws -> CronRecord
    func cron(tenant: String, id: String) async throws -> CronRecord?
    /// nil when the tenant has no such cron.
    func updateCron(tenant: String, id: String, _ change: CronChange, now: Date) async throws -> CronRecord?
    func deleteCron(tenant: String, id: String) async throws -> Bool
    func searchCrons(_ query: CronQuery) async throws -> [CronRecord]
    func countCrons(_ query: CronQuery) async throws -> Int
    /// Enabled crons of every tenant whose next firing is due at `now`, soonest first.
    func dueCrons(now: Date, limit: Int) async throws -> [CronRecord]
    /// The soonest next firing of any enabled cron.
    func nextCronDue() async throws -> Date?
    /// Takes the firing of `cronID` at `scheduledAt` for `firing.worker`, in one transaction: moves the cron's next
    /// firing from `scheduledAt` to `next` (only while it still is `scheduledAt`) and inserts the firing, unique per
    /// (cron, time). False when another worker took it first.
    func claimCronFiring(_ firing: CronFiring, next: Date?) async throws -> Bool
    func setCronFiring(cronID: String, scheduledAt: Date, status: CronFiring.Status, detail: String?, now: Date) async throws
    /// Firings in `status` last changed before `before`, oldest first.
    func cronFirings(status: CronFiring.Status, before: Date, limit: Int) async throws -> [CronFiring]
    /// A cron's firings, newest first.
    func cronFirings(cron id: String, limit: Int) async throws -> [CronFiring]
    /// Turns a cron off on the server's own account (its key was revoked), with the reason shown on it.
    func disableCron(id: String, reason: String, now: Date) async throws
    /// Deletes settled firings (queued, done, failed) last changed before `before`: how many. A time whose firing is
    /// gone cannot fire again, as a cron's next time only moves forward.
    func pruneCronFirings(before: Date) async throws -> Int
}

/// LangGraph's store: JSON objects under a namespace (a list of labels) and a key, per tenant, with an optional time to
/// live, counted on the store's own clock. Expired items are invisible at once and deleted by `pruneItems`.
public protocol ItemStore: Sendable {
    /// Creates the item or replaces its value and time to live (`createdAt` stays).
    func putItem(_ item: NewItem) async throws
    /// The item; nil when there is none or it has expired. `refreshTTL` starts its time to live again.
    func item(tenant: String, namespace: [String], key: String, refreshTTL: Bool) async throws -> ItemRecord?
    /// False when there was none.
    func deleteItem(tenant: String, namespace: [String], key: String) async throws -> Bool
    /// Items under the prefix that pass every filter: with a text query those with any of its words, best first (with
    /// a score); else the most recently updated first. `offset` and `limit` after.
    func searchItems(_ query: ItemQuery) async throws -> [ItemRecord]
    /// The tenant's namespaces that hold unexpired items (`NamespaceQuery.page`).
    func listNamespaces(_ query: NamespaceQuery) async throws -> [[String]]
    /// Deletes expired items: how many.
    func pruneItems(now: Date) async throws -> Int
}

/// API keys (hashed) and what each spent.
public protocol KeyStore: Sendable {
    func createKey(_ key: APIKeyRecord) async throws
    /// A key that is not revoked, by the hash of the whole key.
    func key(hash: String) async throws -> APIKeyRecord?
    func keys() async throws -> [APIKeyRecord]
    func revokeKey(_ id: String) async throws -> Bool
    /// Adds finished runs' tokens, and their number, to the key's count for `day` (UTC, yyyy-mm-dd).
    func addUsage(key id: String, day: String, tokens: Int, runs: Int) async throws
    func usage(key id: String, day: String) async throws -> Int
    /// Takes up to `tokens` of the key's `limit` for `day` in one step, so that runs admitted together cannot spend
    /// more than the limit between them: how many were granted (0 once the day's count has reached the limit). They
    /// count as spent from now on; `addUsage` with the difference settles them when the run ends.
    func reserveTokens(key id: String, day: String, tokens: Int, limit: Int) async throws -> Int
    /// A key by its public id, revoked or not.
    func key(id: String) async throws -> APIKeyRecord?
}

extension KeyStore {
    /// Adds one finished run's tokens to the key's count for `day`.
    public func addUsage(key id: String, day: String, tokens: Int) async throws {
        try await addUsage(key: id, day: day, tokens: tokens, runs: 1)
    }
}

public typealias AgentStore = ThreadStore & RunStore & EventLog & WebhookStore & IdempotencyStore & CallHandleStore & KeyStore
    & AssistantStore & CronStore & ItemStore

extension ThreadStore {
    /// Two reads: a store that can do both in one (one transaction, one trip) says so itself.
    public func threadWithMessages(_ id: String) async throws -> (thread: ThreadRecord?, messages: [MessageRecord]) {
        guard let thread = try await thread(id) else { return (nil, []) }
        return (thread, try await messages(thread: id, limit: nil))
    }
}
