import Foundation
import Store

/// Stands in when no store is configured (documentation, tests of stateless routes): the routes still exist,
/// so the table and the OpenAPI document are always the same, and each answers 503 `store_unavailable`.
struct UnavailableStore: AgentStore {
    struct Unavailable: Error {}

    func createThread(_ thread: NewThread, ifExists: IfExists) async throws -> ThreadRecord { throw Unavailable() }
    func thread(_ id: String) async throws -> ThreadRecord? { throw Unavailable() }
    func updateThread(_ id: String, metadata: JSONText?, ttl: Duration?) async throws -> ThreadRecord { throw Unavailable() }
    func deleteThread(_ id: String) async throws -> Bool { throw Unavailable() }
    func searchThreads(_ query: ThreadQuery) async throws -> [ThreadRecord] { throw Unavailable() }
    func messages(thread id: String, limit: Int?) async throws -> [MessageRecord] { throw Unavailable() }
    func checkpoints(thread id: String, limit: Int, before: String?) async throws -> [CheckpointRecord] { throw Unavailable() }
    func createRun(_ run: NewRun) async throws -> RunRecord { throw Unavailable() }
    func claimRun(_ id: String, worker: String, leaseUntil: Date) async throws -> ClaimResult { throw Unavailable() }
    func renewLeases(worker: String, runs: [String], until: Date) async throws -> [String: RunControl] { throw Unavailable() }
    func finishRun(_ id: String, worker: String, _ completion: RunCompletion) async throws -> Bool { throw Unavailable() }
    func run(_ id: String) async throws -> RunRecord? { throw Unavailable() }
    func runs(thread id: String, limit: Int, offset: Int, status: RunStatus?) async throws -> [RunRecord] { throw Unavailable() }
    func requestCancel(_ id: String, action: CancelAction) async throws -> RunRecord? { throw Unavailable() }
    func deleteRun(_ id: String) async throws -> Bool { throw Unavailable() }
    func expireLeases(now: Date, maxAttempts: Int, result: JSONText, closing: [(event: String, data: [UInt8])],
                      deliveries: @Sendable (RunRecord) -> [NewDelivery]) async throws -> [ExpiredRun] { [] }
    func claimNextRun(worker: String, leaseUntil: Date, now: Date) async throws -> RunRecord? { nil }
    func releaseRun(_ id: String, worker: String) async throws -> Bool { false }
    func recordSideEffect(run id: String, worker: String, call: JSONText) async throws { throw Unavailable() }
    func prune(now: Date, eventsBefore: Date) async throws -> (threads: Int, events: Int) { (0, 0) }
    func appendEvent(run id: String, _ event: EventRecord) async throws { throw Unavailable() }
    func events(run id: String, after seq: Int, limit: Int) async throws -> [EventRecord] { throw Unavailable() }
    func lastEventSeq(run id: String) async throws -> Int { throw Unavailable() }
    func claimDueDeliveries(worker: String, now: Date, leaseUntil: Date, limit: Int) async throws -> [DeliveryRecord] { [] }
    func recordDeliveryAttempt(_ id: String, worker: String, _ attempt: DeliveryAttempt, delivered: Bool, next: Date?) async throws {}
    func deliveries(run id: String) async throws -> [DeliveryRecord] { throw Unavailable() }
    func claimIdempotency(scope: String, key: String, requestHash: String, now: Date) async throws -> IdempotencyClaim { throw Unavailable() }
    func completeIdempotency(scope: String, key: String, _ response: IdempotentResponse) async throws {}
    func releaseIdempotency(scope: String, key: String) async throws {}
    func pruneIdempotency(before: Date) async throws -> Int { 0 }
}

extension UnavailableStore {
    func createKey(_ key: APIKeyRecord) async throws { throw Unavailable() }
    func key(hash: String) async throws -> APIKeyRecord? { throw Unavailable() }
    func keys() async throws -> [APIKeyRecord] { throw Unavailable() }
    func revokeKey(_ id: String) async throws -> Bool { throw Unavailable() }
    func addUsage(key id: String, day: String, tokens: Int) async throws {}
    func usage(key id: String, day: String) async throws -> Int { 0 }
}
