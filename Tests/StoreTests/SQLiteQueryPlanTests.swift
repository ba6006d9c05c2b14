import Foundation
import GRDB
@testable import Store
import Synchronization
import Testing

/// Every statement the SQLite store runs, collected while the whole conformance suite runs, and SQLite's plan for
/// each: none may read a whole table that grows with use. Such a scan passes every functional test on a small
/// database and gets slower with each run stored: the count of a key's pending runs read all of `runs` at each new
/// run, and the benchmark got slower as it ran (585 stored runs a second in one run, 424 in the next).
@Suite struct SQLiteQueryPlanTests {
    /// Not tables that grow: GRDB's and SQLite's own, FTS5's one-row configuration, a JSON argument read as rows.
    static let small: Set<String> = [
        "grdb_migrations", "sqlite_master", "sqlite_schema", "main.store_items_fts_config", "json_each",
    ]

    static var checks: [(String, (StoreConformance) -> () async throws -> Void)] { [
        ("threadsLifecycle", StoreConformance.threadsLifecycle),
        ("runOnThreadAppendsMessagesAndCheckpoints", StoreConformance.runOnThreadAppendsMessagesAndCheckpoints),
        ("multitaskStrategies", StoreConformance.multitaskStrategies),
        ("runsThatStartAtOnce", StoreConformance.runsThatStartAtOnce),
        ("pendingApprovals", StoreConformance.pendingApprovals),
        ("racingRejectCreatesOneRun", StoreConformance.racingRejectCreatesOneRun),
        ("cancellation", StoreConformance.cancellation),
        ("eventLog", StoreConformance.eventLog),
        ("expiredLeasesFreeTheThread", StoreConformance.expiredLeasesFreeTheThread),
        ("pruning", StoreConformance.pruning),
        ("backgroundQueueAndTakeover", StoreConformance.backgroundQueueAndTakeover),
        ("claimingIsFairAcrossTenants", StoreConformance.claimingIsFairAcrossTenants),
        ("pendingRunsPerKeyAreCapped", StoreConformance.pendingRunsPerKeyAreCapped),
        ("runPlacesShareTheKeysCount", StoreConformance.runPlacesShareTheKeysCount),
        ("tokenReservations", StoreConformance.tokenReservations),
        ("webhookDeliveries", StoreConformance.webhookDeliveries),
        ("idempotencyKeys", StoreConformance.idempotencyKeys),
        ("jobsAndKeyCounts", StoreConformance.jobsAndKeyCounts),
        ("threadStampsValuesAndQueueOrder", StoreConformance.threadStampsValuesAndQueueOrder),
        ("messagesOutsideRuns", StoreConformance.messagesOutsideRuns),
        ("countPruneAndTenantRuns", StoreConformance.countPruneAndTenantRuns),
        ("stateUpdates", StoreConformance.stateUpdates),
        ("callHandles", StoreConformance.callHandles),
        ("secrets", StoreConformance.secrets),
        ("assistantsLifecycle", StoreConformance.assistantsLifecycle),
        ("assistantSearch", StoreConformance.assistantSearch),
        ("assistantLimit", StoreConformance.assistantLimit),
        ("cronsLifecycle", StoreConformance.cronsLifecycle),
        ("cronSearch", StoreConformance.cronSearch),
        ("cronFiringsOnce", StoreConformance.cronFiringsOnce),
        ("cronLimit", StoreConformance.cronLimit),
        ("runSearch", StoreConformance.runSearch),
        ("itemsLifecycle", StoreConformance.itemsLifecycle),
        ("itemTTL", StoreConformance.itemTTL),
        ("itemSearch", StoreConformance.itemSearch),
        ("itemNamespaces", StoreConformance.itemNamespaces),
    ] }

    @Test func noStatementOfTheConformanceSuiteScansAGrowingTable() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("agentfcgi-plans-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        let seen = Mutex<Set<String>>([])
        var lastPath = ""
        for (index, check) in Self.checks.enumerated() {
            let path = directory.appendingPathComponent("\(index)/store.sqlite").path
            let clock = ManualNow()
            let conformance = StoreConformance(makeStore: {
                try SQLiteStore(path: path, now: { clock.now }, onStatement: { sql in _ = seen.withLock { $0.insert(sql) } })
            }, clock: clock)
            try await check.1(conformance)()
            lastPath = path
        }
        let statements = seen.withLock { $0 }
        // The suite touches every part of the store: a trace that saw little would prove nothing.
        #expect(statements.count > 150, "only \(statements.count) statements were traced")

        let queue = try DatabaseQueue(path: lastPath)
        let partialIndexes = try await queue.read { db in
            Set(try String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE type = 'index' AND sql LIKE '% WHERE %'"))
        }
        #expect(partialIndexes.contains("runs_active"))
        var scans: [String] = []
        var planned = 0
        for sql in statements.sorted() where Self.isPlannable(sql) {
            let details = try await queue.read { db in
                // Parameters left unbound (NULL): the plan depends on the schema, not on the values.
                let statement = try db.makeStatement(sql: "EXPLAIN QUERY PLAN " + sql)
                statement.setUncheckedArguments([])
                return try Row.fetchAll(statement).map { $0["detail"] as String }
            }
            planned += 1
            for detail in details {
                guard let table = Self.scannedTable(detail, partialIndexes: partialIndexes), !Self.small.contains(table) else { continue }
                scans.append("\(detail)  <-  \(sql)")
            }
        }
        #expect(planned > 100, "only \(planned) statements had a plan")
        #expect(scans.isEmpty, "statements that read a whole growing table:\n\(scans.joined(separator: "\n"))")
    }

    /// The writer copies the log back every 10,000 pages, not SQLite's default 1,000 (bench/README).
    @Test func theWriterCheckpointsEveryTenThousandPages() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("agentfcgi-wal-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        let store = try SQLiteStore(path: directory.appendingPathComponent("store.sqlite").path)
        let pages = try await store.pool.write { db in try Int.fetchOne(db, sql: "PRAGMA wal_autocheckpoint") }
        #expect(pages == 10_000)
        #expect(try await store.pool.read { db in try String.fetchOne(db, sql: "PRAGMA journal_mode") } == "wal")
    }

    /// A plan line that reads a whole table (or a whole index of it) names it, or its alias: `SCAN runs`, `SCAN r USING
    /// INDEX ...`. Not a whole table: `SCAN CONSTANT ROW`; a scan of a partial index, which holds only the rows of
    /// live work (queued runs, pending approvals), never the history; a full-text MATCH (`INDEX 0:M...`).
    static func scannedTable(_ detail: String, partialIndexes: Set<String>) -> String? {
        guard detail.hasPrefix("SCAN ") else { return nil }
        let name = detail.dropFirst(5).prefix { $0.isLetter || $0.isNumber || $0 == "_" || $0 == "." }
        if name.isEmpty || name == "CONSTANT" || detail.contains("VIRTUAL TABLE INDEX 0:M") { return nil }
        if let range = detail.range(of: "USING COVERING INDEX ") ?? detail.range(of: "USING INDEX "),
           partialIndexes.contains(String(detail[range.upperBound...].prefix { $0 != " " })) {
            return nil
        }
        return String(name)
    }

    /// Queries and changes of rows: not transaction control, pragmas, the migrations' DDL or trigger bodies.
    static func isPlannable(_ sql: String) -> Bool {
        let head = sql.prefix(8).uppercased()
        return ["SELECT", "INSERT", "UPDATE", "DELETE", "WITH", "REPLACE"].contains { head.hasPrefix($0) }
    }
}
