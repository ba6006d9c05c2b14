import Foundation
import Logging
import PostgresNIO
import Store
import StorePostgres
import Testing

/// The conformance suite on PostgreSQL: scripts/test.sh starts a throw-away server and sets POSTGRES_URL.
/// Each test gets a database of its own.
@Suite(.serialized) struct PostgresStoreTests {
    let clock = ManualNow()

    static var serverURL: String? { ProcessInfo.processInfo.environment["POSTGRES_URL"] }

    /// Creates an empty database and returns its URL.
    func freshDatabase() async throws -> String {
        let name = "t_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(16).lowercased()
        try await withAdmin { admin in try await admin.query(PostgresQuery(unsafeSQL: "CREATE DATABASE \(name)")) }
        let base = try #require(Self.serverURL)
        var components = try #require(URLComponents(string: base))
        components.path = "/" + name
        return components.string!
    }

    /// Runs `body` with a client of the server's `postgres` database.
    func withAdmin<T: Sendable>(_ body: @escaping @Sendable (PostgresClient) async throws -> T) async throws -> T {
        let base = try #require(Self.serverURL, "POSTGRES_URL is not set: run the tests through scripts/test.sh")
        let components = try #require(URLComponents(string: base))
        var configuration = PostgresClient.Configuration(host: components.host ?? "127.0.0.1", port: components.port ?? 5432,
                                                         username: components.user ?? "postgres", password: nil,
                                                         database: "postgres", tls: .disable)
        configuration.options.maximumConnections = 1
        let admin = PostgresClient(configuration: configuration)
        return try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask {
                await admin.run()
                return nil
            }
            defer { group.cancelAll() }
            return try await body(admin)
        }
    }

    /// Waits until a session of the database at `url` has completed a LISTEN: the server shows it in
    /// pg_stat_activity (idle, LISTEN its last statement) from then on, and every NOTIFY committed later reaches it.
    /// Polled: nothing tells the client otherwise. The limit only matters when the test fails.
    func waitUntilListening(_ url: String) async throws {
        let database = String(try #require(URLComponents(string: url)).path.dropFirst())
        let end = ContinuousClock.now + .seconds(20)
        while ContinuousClock.now < end {
            let listening = try await withAdmin { admin in
                let rows = try await admin.query("""
                    SELECT count(*)::int8 FROM pg_stat_activity
                    WHERE datname = \(database) AND state = 'idle' AND query ILIKE 'LISTEN %'
                    """)
                var count: Int64 = 0
                for try await value in rows.decode(Int64.self) { count = value }
                return count
            }
            if listening > 0 { return }
            try await Task.sleep(for: .milliseconds(20))
        }
        Issue.record("no session of \(database) was listening within 20 s")
    }

    func conformance() async throws -> (StoreConformance, Holder) {
        let url = try await freshDatabase()
        let holder = Holder()
        let clock = self.clock
        let conformance = StoreConformance(makeStore: {
            // StoreConformance wants a synchronous factory; the store opens asynchronously, so open them ahead.
            holder.next()
        }, clock: clock)
        for _ in 0..<2 { holder.stores.append(try await PostgresStore(url: url, maxConnections: 4, now: { clock.now })) }
        return (conformance, holder)
    }

    final class Holder: @unchecked Sendable {
        var stores: [PostgresStore] = []
        var index = 0
        func next() -> any AgentStore {
            defer { index += 1 }
            return stores[index % stores.count]
        }
    }

    @Test func threads() async throws { let (c, _) = try await conformance(); try await c.threadsLifecycle() }
    @Test func runsOnThreads() async throws { let (c, _) = try await conformance(); try await c.runOnThreadAppendsMessagesAndCheckpoints() }
    @Test func multitask() async throws { let (c, _) = try await conformance(); try await c.multitaskStrategies() }
    @Test func startsAtOnce() async throws { let (c, _) = try await conformance(); try await c.runsThatStartAtOnce() }
    @Test func approvals() async throws { let (c, _) = try await conformance(); try await c.pendingApprovals() }
    @Test func racingReject() async throws { let (c, _) = try await conformance(); try await c.racingRejectCreatesOneRun() }
    @Test func cancel() async throws { let (c, _) = try await conformance(); try await c.cancellation() }
    @Test func events() async throws { let (c, _) = try await conformance(); try await c.eventLog() }
    @Test func leases() async throws { let (c, _) = try await conformance(); try await c.expiredLeasesFreeTheThread() }
    @Test func prune() async throws { let (c, _) = try await conformance(); try await c.pruning() }
    @Test func background() async throws { let (c, _) = try await conformance(); try await c.backgroundQueueAndTakeover() }
    @Test func fairClaiming() async throws { let (c, _) = try await conformance(); try await c.claimingIsFairAcrossTenants() }
    @Test func pendingCap() async throws { let (c, _) = try await conformance(); try await c.pendingRunsPerKeyAreCapped() }
    @Test func runPlaces() async throws { let (c, _) = try await conformance(); try await c.runPlacesShareTheKeysCount() }
    @Test func tokenReservations() async throws { let (c, _) = try await conformance(); try await c.tokenReservations() }
    @Test func webhooks() async throws { let (c, _) = try await conformance(); try await c.webhookDeliveries() }
    @Test func idempotency() async throws { let (c, _) = try await conformance(); try await c.idempotencyKeys() }
    @Test func jobs() async throws { let (c, _) = try await conformance(); try await c.jobsAndKeyCounts() }
    @Test func threadStampsValuesAndQueueOrder() async throws { let (c, _) = try await conformance(); try await c.threadStampsValuesAndQueueOrder() }
    @Test func messages() async throws { let (c, _) = try await conformance(); try await c.messagesOutsideRuns() }
    @Test func countPruneAndTenantRuns() async throws { let (c, _) = try await conformance(); try await c.countPruneAndTenantRuns() }
    @Test func stateUpdates() async throws { let (c, _) = try await conformance(); try await c.stateUpdates() }
    @Test func callHandles() async throws { let (c, _) = try await conformance(); try await c.callHandles() }
    @Test func secrets() async throws { let (c, _) = try await conformance(); try await c.secrets() }
    @Test func assistants() async throws { let (c, _) = try await conformance(); try await c.assistantsLifecycle() }
    @Test func assistantSearch() async throws { let (c, _) = try await conformance(); try await c.assistantSearch() }
    @Test func assistantLimit() async throws { let (c, _) = try await conformance(); try await c.assistantLimit() }
    @Test func crons() async throws { let (c, _) = try await conformance(); try await c.cronsLifecycle() }
    @Test func cronSearch() async throws { let (c, _) = try await conformance(); try await c.cronSearch() }
    @Test func cronFirings() async throws { let (c, _) = try await conformance(); try await c.cronFiringsOnce() }
    @Test func cronLimit() async throws { let (c, _) = try await conformance(); try await c.cronLimit() }
    @Test func runSearch() async throws { let (c, _) = try await conformance(); try await c.runSearch() }
    @Test func items() async throws { let (c, _) = try await conformance(); try await c.itemsLifecycle() }
    @Test func itemTTL() async throws { let (c, _) = try await conformance(); try await c.itemTTL() }
    @Test func itemSearch() async throws { let (c, _) = try await conformance(); try await c.itemSearch() }
    @Test func itemNamespaces() async throws { let (c, _) = try await conformance(); try await c.itemNamespaces() }

    @Test func workersStartingTogetherMigrateOnce() async throws {
        let url = try await freshDatabase()
        let stores = try await withThrowingTaskGroup(of: PostgresStore.self) { group in
            for _ in 0..<6 { group.addTask { try await PostgresStore(url: url, maxConnections: 2) } }
            return try await group.reduce(into: [PostgresStore]()) { $0.append($1) }
        }
        #expect(stores.count == 6)
        _ = try await stores[0].createThread(NewThread(id: "x"), ifExists: .raise)
        #expect(try await stores[5].thread("x") != nil)
    }

    /// A reader on another host hears of an append at once (LISTEN/NOTIFY), without polling.
    @Test func appendsAreNotifiedToOtherProcesses() async throws {
        let url = try await freshDatabase()
        let writer = try await PostgresStore(url: url, maxConnections: 2)
        let reader = try await PostgresStore(url: url, maxConnections: 2)
        _ = try await writer.createThread(NewThread(id: "t"), ifExists: .raise)
        _ = try await writer.createRun(NewRun(id: "r", threadID: "t", assistantID: "x"))
        let heard = Heard()
        let listening = Task { try await reader.follow { heard.add($0.payload) } }
        defer { listening.cancel() }
        // A notification sent before the LISTEN is in place is lost, so the append waits for it (rather than for
        // a guessed 300 ms, which a busy machine may overrun).
        try await waitUntilListening(url)
        let sent = ContinuousClock.now
        try await writer.appendEvent(run: "r", EventRecord(seq: 1, event: "metadata", data: Array("{}".utf8)))
        // follow calls its handler only for notifications (it never polls), so hearing the append at all
        // proves the NOTIFY. The bound is generous: it catches a notification that is grossly late, not a slow machine.
        while heard.ids.isEmpty, ContinuousClock.now - sent < .seconds(20) { try await Task.sleep(for: .milliseconds(5)) }
        #expect(heard.ids == ["r"])
        #expect(ContinuousClock.now - sent < .seconds(5))
        // The engine's own notices take the same channel.
        await writer.notify(.runsWaiting)
        while heard.ids.count < 2, ContinuousClock.now - sent < .seconds(20) { try await Task.sleep(for: .milliseconds(5)) }
        #expect(heard.ids == ["r", StoreNotice.runsWaiting.payload])
    }

    final class Heard: @unchecked Sendable {
        private let lock = NSLock()
        private var values: [String] = []
        func add(_ id: String) { lock.lock(); values.append(id); lock.unlock() }
        var ids: [String] { lock.lock(); defer { lock.unlock() }; return values }
    }
}
