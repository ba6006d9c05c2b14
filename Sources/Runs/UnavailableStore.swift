import Foundation
import Store

/// Stands in when no store is configured (documentation, tests of stateless routes): the routes still exist,
/// so the table and the OpenAPI document are always the same, and each answers 503 `store_unavailable`.
public struct UnavailableStore: AgentStore {
    public struct Unavailable: Error {}
    public init() {}

    public func createThread(_ thread: NewThread, ifExists: IfExists) async throws -> ThreadRecord { throw Unavailable() }
    public func thread(_ id: String) async throws -> ThreadRecord? { throw Unavailable() }
    public func updateThread(_ id: String, metadata: JSONText?, ttl: Duration?) async throws -> ThreadRecord { throw Unavailable() }
    public func deleteThread(_ id: String) async throws -> Bool { throw Unavailable() }
    public func searchThreads(_ query: ThreadQuery) async throws -> [ThreadRecord] { throw Unavailable() }
    public func countThreads(_ query: ThreadQuery) async throws -> Int { throw Unavailable() }
    public func pruneHistory(thread id: String) async throws -> Bool { throw Unavailable() }
    public func messages(thread id: String, limit: Int?) async throws -> [MessageRecord] { throw Unavailable() }
    public func addMessages(thread id: String, _ messages: [(id: String, body: JSONText)]) async throws -> [MessageRecord] { throw Unavailable() }
    public func removeMessage(thread id: String, messageID: String) async throws -> Bool { throw Unavailable() }
    public func truncateMessages(thread id: String, keeping count: Int, by run: String?) async throws -> Int { throw Unavailable() }
    public func checkpoints(thread id: String, limit: Int, before: String?) async throws -> [CheckpointRecord] { throw Unavailable() }
    public func updateState(thread id: String, removing: [String], replacing: [(id: String, body: JSONText)],
                            adding: [(id: String, body: JSONText)], values: JSONText?) async throws -> String { throw Unavailable() }
    public func createRun(_ run: NewRun) async throws -> RunRecord { throw Unavailable() }
    public func claimRun(_ id: String, worker: String, leaseUntil: Date) async throws -> ClaimResult { throw Unavailable() }
    public func renewLeases(worker: String, runs: [String], until: Date) async throws -> [String: RunControl] { throw Unavailable() }
    public func finishRun(_ id: String, worker: String, _ completion: RunCompletion) async throws -> Bool { throw Unavailable() }
    public func run(_ id: String) async throws -> RunRecord? { throw Unavailable() }
    public func runs(thread id: String, limit: Int, offset: Int, status: RunStatus?) async throws -> [RunRecord] { throw Unavailable() }
    public func runs(tenant: String, status: RunStatus, limit: Int) async throws -> [RunRecord] { throw Unavailable() }
    public func searchRuns(_ query: RunQuery) async throws -> [RunRecord] { throw Unavailable() }
    public func runs(thread id: String, afterQueueSeq after: Int64, limit: Int) async throws -> [RunRecord] { throw Unavailable() }
    public func requestCancel(_ id: String, action: CancelAction) async throws -> RunRecord? { throw Unavailable() }
    public func deleteRun(_ id: String) async throws -> Bool { throw Unavailable() }
    public func expireLeases(now: Date, maxAttempts: Int, ending: @escaping @Sendable (RunRecord) -> LostRunEnding,
                      deliveries: @escaping @Sendable (RunRecord) -> [NewDelivery]) async throws -> [ExpiredRun] { [] }
    public func claimNextRun(worker: String, leaseUntil: Date, now: Date) async throws -> RunRecord? { nil }
    public func releaseRun(_ id: String, worker: String) async throws -> Bool { false }
    public func recordSideEffect(run id: String, worker: String, call: JSONText) async throws { throw Unavailable() }
    public func takeRunPlace(_ id: String, key: String, limit: Int, until: Date) async throws -> Bool { throw Unavailable() }
    public func renewRunPlaces(_ ids: [String], until: Date) async throws { throw Unavailable() }
    public func releaseRunPlace(_ id: String) async throws { throw Unavailable() }
    public func queuedRunCount() async throws -> Int { throw Unavailable() }
    public func runsWithoutJob(limit: Int) async throws -> [RunRecord] { [] }
    public func setJob(run id: String, _ job: JSONText) async throws -> Bool { throw Unavailable() }
    public func prune(now: Date, eventsBefore: Date) async throws -> (threads: Int, events: Int) { (0, 0) }
    public func appendEvents(run id: String, _ events: [EventRecord]) async throws { throw Unavailable() }
    public func events(run id: String, after seq: Int, limit: Int) async throws -> [EventRecord] { throw Unavailable() }
    public func lastEventSeq(run id: String) async throws -> Int { throw Unavailable() }
    public func nextDeliveryDue() async throws -> Date? { throw Unavailable() }
    public func claimDueDeliveries(worker: String, now: Date, leaseUntil: Date, limit: Int) async throws -> [DeliveryRecord] { [] }
    public func recordDeliveryAttempt(_ id: String, worker: String, _ attempt: DeliveryAttempt, delivered: Bool, next: Date?) async throws {}
    public func deliveries(run id: String) async throws -> [DeliveryRecord] { throw Unavailable() }
    public func claimIdempotency(scope: String, key: String, requestHash: String, now: Date) async throws -> IdempotencyClaim { throw Unavailable() }
    public func completeIdempotency(scope: String, key: String, _ response: IdempotentResponse) async throws {}
    public func releaseIdempotency(scope: String, key: String) async throws {}
    public func pruneIdempotency(before: Date) async throws -> Int { 0 }
    public func putCallHandle(scope: String, handle: String, runID: String, now: Date) async throws { throw Unavailable() }
    public func callHandle(scope: String, handle: String) async throws -> String? { throw Unavailable() }
    public func removeCallHandle(scope: String, handle: String, runID: String) async throws {}
    public func pruneCallHandles(before: Date) async throws -> Int { 0 }
    public func secret(named name: String, candidate: [UInt8]) async throws -> [UInt8] { throw Unavailable() }
}

extension UnavailableStore {
    public func createKey(_ key: APIKeyRecord) async throws { throw Unavailable() }
    public func key(hash: String) async throws -> APIKeyRecord? { throw Unavailable() }
    public func keys() async throws -> [APIKeyRecord] { throw Unavailable() }
    public func key(id: String) async throws -> APIKeyRecord? { throw Unavailable() }
    public func revokeKey(_ id: String) async throws -> Bool { throw Unavailable() }
    public func addUsage(key id: String, day: String, tokens: Int, runs: Int) async throws {}
    public func usage(key id: String, day: String) async throws -> Int { 0 }
    public func reserveTokens(key id: String, day: String, tokens: Int, limit: Int) async throws -> Int { tokens }
}

extension UnavailableStore {
    public func createAssistant(_ assistant: NewAssistant, ifExists: IfExists) async throws -> AssistantRecord { throw Unavailable() }
    public func assistant(tenant: String, id: String) async throws -> AssistantRecord? { throw Unavailable() }
    public func updateAssistant(tenant: String, id: String, _ change: AssistantChange, now: Date) async throws -> AssistantRecord? {
        throw Unavailable()
    }
    public func deleteAssistant(tenant: String, id: String) async throws -> Bool { throw Unavailable() }
    public func searchAssistants(_ query: AssistantQuery) async throws -> [AssistantRecord] { throw Unavailable() }
    public func countAssistants(_ query: AssistantQuery) async throws -> Int { throw Unavailable() }
    public func assistantVersions(tenant: String, id: String, metadata: [(key: String, value: JSONText)], limit: Int,
                                  offset: Int) async throws -> [AssistantRecord] { throw Unavailable() }
    public func setAssistantVersion(tenant: String, id: String, version: Int, now: Date) async throws -> AssistantRecord? {
        throw Unavailable()
    }
}

/// No store, no schedules: the scheduler finds nothing due; the routes answer 503.
extension UnavailableStore {
    public func createCron(_ cron: CronRecord) async throws -> CronRecord { throw Unavailable() }
    public func cron(tenant: String, id: String) async throws -> CronRecord? { throw Unavailable() }
    public func updateCron(tenant: String, id: String, _ change: CronChange, now: Date) async throws -> CronRecord? { throw Unavailable() }
    public func deleteCron(tenant: String, id: String) async throws -> Bool { throw Unavailable() }
    public func searchCrons(_ query: CronQuery) async throws -> [CronRecord] { throw Unavailable() }
    public func countCrons(_ query: CronQuery) async throws -> Int { throw Unavailable() }
    public func dueCrons(now: Date, limit: Int) async throws -> [CronRecord] { [] }
    public func nextCronDue() async throws -> Date? { nil }
    public func claimCronFiring(_ firing: CronFiring, next: Date?) async throws -> Bool { false }
    public func setCronFiring(cronID: String, scheduledAt: Date, status: CronFiring.Status, detail: String?, now: Date) async throws {}
    public func cronFirings(status: CronFiring.Status, before: Date, limit: Int) async throws -> [CronFiring] { [] }
    public func cronFirings(cron id: String, limit: Int) async throws -> [CronFiring] { [] }
    public func disableCron(id: String, reason: String, now: Date) async throws {}
    public func pruneCronFirings(before: Date) async throws -> Int { 0 }
}

extension UnavailableStore {
    public func putItem(_ item: NewItem) async throws { throw Unavailable() }
    public func item(tenant: String, namespace: [String], key: String, refreshTTL: Bool) async throws -> ItemRecord? {
        throw Unavailable()
    }
    public func deleteItem(tenant: String, namespace: [String], key: String) async throws -> Bool { throw Unavailable() }
    public func searchItems(_ query: ItemQuery) async throws -> [ItemRecord] { throw Unavailable() }
    public func listNamespaces(_ query: NamespaceQuery) async throws -> [[String]] { throw Unavailable() }
    public func pruneItems(now: Date) async throws -> Int { 0 }
}

extension UnavailableStore.Unavailable: RunProblemConvertible {
    public var problem: RunProblem {
        RunProblem(status: 503, code: "store_unavailable", message: "This server has no store configured for threads and runs.")
    }
}
