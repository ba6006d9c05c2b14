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
        let base = try #require(Self.serverURL, "POSTGRES_URL is not set: run the tests through scripts/test.sh")
        var components = try #require(URLComponents(string: base))
        let name = "t_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(16).lowercased()
        var configuration = PostgresClient.Configuration(host: components.host ?? "127.0.0.1", port: components.port ?? 5432,
                                                         username: components.user ?? "postgres", password: nil,
                                                         database: "postgres", tls: .disable)
        configuration.options.maximumConnections = 1
        let admin = PostgresClient(configuration: configuration)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await admin.run() }
            try await admin.query(PostgresQuery(unsafeSQL: "CREATE DATABASE \(name)"))
            group.cancelAll()
        }
        components.path = "/" + name
        return components.string!
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
    @Test func racingReject() async throws { let (c, _) = try await conformance(); try await c.racingRejectCreatesOneRun() }
    @Test func cancel() async throws { let (c, _) = try await conformance(); try await c.cancellation() }
    @Test func events() async throws { let (c, _) = try await conformance(); try await c.eventLog() }
    @Test func leases() async throws { let (c, _) = try await conformance(); try await c.expiredLeasesFreeTheThread() }
    @Test func prune() async throws { let (c, _) = try await conformance(); try await c.pruning() }
    @Test func background() async throws { let (c, _) = try await conformance(); try await c.backgroundQueueAndTakeover() }
    @Test func webhooks() async throws { let (c, _) = try await conformance(); try await c.webhookDeliveries() }
    @Test func idempotency() async throws { let (c, _) = try await conformance(); try await c.idempotencyKeys() }

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
        let listening = Task { try await reader.followAppends { heard.add($0) } }
        defer { listening.cancel() }
        try await Task.sleep(for: .milliseconds(300))
        let sent = ContinuousClock.now
        try await writer.appendEvent(run: "r", EventRecord(seq: 1, event: "metadata", data: Array("{}".utf8)))
        while heard.ids.isEmpty, ContinuousClock.now - sent < .seconds(5) { try await Task.sleep(for: .milliseconds(5)) }
        #expect(heard.ids == ["r"])
        #expect(ContinuousClock.now - sent < .seconds(1))
    }

    final class Heard: @unchecked Sendable {
        private let lock = NSLock()
        private var values: [String] = []
        func add(_ id: String) { lock.lock(); values.append(id); lock.unlock() }
        var ids: [String] { lock.lock(); defer { lock.unlock() }; return values }
    }
}
