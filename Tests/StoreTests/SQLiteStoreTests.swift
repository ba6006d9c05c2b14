import Foundation
import Store
import Testing

/// The conformance suite on SQLite, each test on a new database file.
@Suite struct SQLiteStoreTests {
    let path: String
    let clock = ManualNow()
    var conformance: StoreConformance {
        StoreConformance(makeStore: { [path, clock] in try SQLiteStore(path: path, now: { clock.now }) }, clock: clock)
    }

    init() {
        path = FileManager.default.temporaryDirectory
            .appendingPathComponent("agentfcgi-store-\(UUID().uuidString)/store.sqlite").path
    }

    @Test func threads() async throws { try await conformance.threadsLifecycle() }
    @Test func runsOnThreads() async throws { try await conformance.runOnThreadAppendsMessagesAndCheckpoints() }
    @Test func multitask() async throws { try await conformance.multitaskStrategies() }
    @Test func approvals() async throws { try await conformance.pendingApprovals() }
    @Test func racingReject() async throws { try await conformance.racingRejectCreatesOneRun() }
    @Test func cancel() async throws { try await conformance.cancellation() }
    @Test func events() async throws { try await conformance.eventLog() }
    @Test func leases() async throws { try await conformance.expiredLeasesFreeTheThread() }
    @Test func prune() async throws { try await conformance.pruning() }
    @Test func background() async throws { try await conformance.backgroundQueueAndTakeover() }
    @Test func fairClaiming() async throws { try await conformance.claimingIsFairAcrossTenants() }
    @Test func pendingCap() async throws { try await conformance.pendingRunsPerKeyAreCapped() }
    @Test func runPlaces() async throws { try await conformance.runPlacesShareTheKeysCount() }
    @Test func tokenReservations() async throws { try await conformance.tokenReservations() }
    @Test func webhooks() async throws { try await conformance.webhookDeliveries() }
    @Test func idempotency() async throws { try await conformance.idempotencyKeys() }
    @Test func jobs() async throws { try await conformance.jobsAndKeyCounts() }
    @Test func threadStampsValuesAndQueueOrder() async throws { try await conformance.threadStampsValuesAndQueueOrder() }
    @Test func messages() async throws { try await conformance.messagesOutsideRuns() }
    @Test func countPruneAndTenantRuns() async throws { try await conformance.countPruneAndTenantRuns() }
    @Test func stateUpdates() async throws { try await conformance.stateUpdates() }
    @Test func callHandles() async throws { try await conformance.callHandles() }
    @Test func secrets() async throws { try await conformance.secrets() }
    @Test func assistants() async throws { try await conformance.assistantsLifecycle() }
    @Test func assistantSearch() async throws { try await conformance.assistantSearch() }
    @Test func assistantLimit() async throws { try await conformance.assistantLimit() }
    @Test func crons() async throws { try await conformance.cronsLifecycle() }
    @Test func cronSearch() async throws { try await conformance.cronSearch() }
    @Test func cronFirings() async throws { try await conformance.cronFiringsOnce() }
    @Test func cronLimit() async throws { try await conformance.cronLimit() }
    @Test func runSearch() async throws { try await conformance.runSearch() }
    @Test func items() async throws { try await conformance.itemsLifecycle() }
    @Test func itemTTL() async throws { try await conformance.itemTTL() }
    @Test func itemSearch() async throws { try await conformance.itemSearch() }
    @Test func itemNamespaces() async throws { try await conformance.itemNamespaces() }

    @Test func workersOpeningANewFileTogetherMigrateOnce() async throws {
        let stores = try await withThrowingTaskGroup(of: SQLiteStore.self) { group in
            for _ in 0..<6 { group.addTask { [path] in try SQLiteStore(path: path) } }
            return try await group.reduce(into: [SQLiteStore]()) { $0.append($1) }
        }
        #expect(stores.count == 6)
        #expect(try stores[0].appliedMigrations() == ["0001-threads-runs-events", "0002-background-runs-webhooks-idempotency", "0003-api-keys-tenants-usage", "0004-run-jobs", "0005-thread-values", "0006-call-handles", "0007-assistants", "0008-store-items", "0009-crons", "0010-run-places", "0011-pending-approvals", "0012-secrets"])
        let mode = try stores[0].journalMode()
        #expect(mode == "wal")
    }
}
