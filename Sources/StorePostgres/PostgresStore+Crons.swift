import Foundation
import PostgresNIO
import Store

extension PostgresStore: CronStore {
    static let cronColumns = """
        tenant, cron_id, key_id, thread_id, assistant_id, schedule, timezone, end_time, enabled, on_run_completed,
        payload::text AS payload, metadata::text AS metadata, job, run_metadata, thread_metadata, next_run_date, disabled_reason,
        created_at, updated_at
        """

    /// The first key of the two-key advisory locks that serialize a tenant's cron creations (see `assistantLockClass`).
    static let cronLockClass: Int32 = 0x6372_6F6E  // "cron"

    static func cron(_ row: PostgresRandomAccessRow) throws -> CronRecord {
        CronRecord(
            id: try row.string("cron_id"), tenant: try row.string("tenant"), keyID: try row.optionalString("key_id"),
            threadID: try row.optionalString("thread_id"), assistantID: try row.string("assistant_id"), schedule: try row.string("schedule"),
            timezone: try row.optionalString("timezone"), endTime: try row.optionalInt64("end_time").map(Date.init(ms:)),
            enabled: try row.bool("enabled"), onRunCompleted: try row.string("on_run_completed"), payload: try row.string("payload"),
            metadata: try row.string("metadata"), job: try row.string("job"), runMetadata: try row.string("run_metadata"),
            threadMetadata: try row.optionalString("thread_metadata"), nextRunDate: try row.optionalInt64("next_run_date").map(Date.init(ms:)),
            disabledReason: try row.optionalString("disabled_reason"), createdAt: Date(ms: try row.int64("created_at")),
            updatedAt: Date(ms: try row.int64("updated_at")))
    }

    static func firing(_ row: PostgresRandomAccessRow) throws -> CronFiring {
        CronFiring(cronID: try row.string("cron_id"), scheduledAt: Date(ms: try row.int64("scheduled_at")), tenant: try row.string("tenant"),
                   runID: try row.string("run_id"), threadID: try row.optionalString("thread_id"),
                   status: CronFiring.Status(rawValue: try row.string("status")) ?? .failed, worker: try row.string("worker"),
                   detail: try row.optionalString("detail"), updatedAt: Date(ms: try row.int64("updated_at")))
    }

    func fetchCron(tenant: String, id: String, on connection: PostgresConnection? = nil, locking: Bool = false) async throws -> CronRecord? {
        try await rows("""
            SELECT \(unescaped: Self.cronColumns) FROM crons WHERE tenant = \(tenant) AND cron_id = \(id)\(unescaped: locking ? " FOR UPDATE" : "")
            """, on: connection).first.map(Self.cron)
    }

    public func createCron(_ cron: CronRecord) async throws -> CronRecord {
        try await transaction { connection in
            // Row locks cannot stop an insert beside them: without this, two workers could both count 99 and both add.
            try await self.execute("SELECT pg_advisory_xact_lock(\(Self.cronLockClass), hashtext(\(cron.tenant)))", on: connection)
            let count = try await self.rows("SELECT COUNT(*) AS n FROM crons WHERE tenant = \(cron.tenant)", on: connection)[0].int("n")
            guard count < StoreLimits.maxCronsPerTenant else { throw StoreError.cronLimit(limit: StoreLimits.maxCronsPerTenant) }
            return try Self.cron(try await self.rows("""
                INSERT INTO crons (tenant, cron_id, key_id, thread_id, assistant_id, schedule, timezone, end_time, enabled,
                                   on_run_completed, payload, metadata, job, run_metadata, thread_metadata, next_run_date,
                                   created_at, updated_at)
                VALUES (\(cron.tenant), \(cron.id), \(cron.keyID), \(cron.threadID), \(cron.assistantID), \(cron.schedule), \(cron.timezone),
                        \(cron.endTime?.ms), \(cron.enabled), \(cron.onRunCompleted), \(cron.payload)::jsonb, \(cron.metadata)::jsonb,
                        \(cron.job), \(cron.runMetadata), \(cron.threadMetadata), \(cron.nextRunDate?.ms), \(cron.createdAt.ms),
                        \(cron.updatedAt.ms))
                RETURNING \(unescaped: Self.cronColumns)
                """, on: connection)[0])
        }
    }

    public func cron(tenant: String, id: String) async throws -> CronRecord? {
        try await fetchCron(tenant: tenant, id: id)
    }

    public func updateCron(tenant: String, id: String, _ change: CronChange, now: Date) async throws -> CronRecord? {
        try await transaction { connection in
            guard var cron = try await self.fetchCron(tenant: tenant, id: id, on: connection, locking: true) else { return nil }
            cron.apply(change)
            cron.updatedAt = now
            // Read back: the stored JSON (jsonb's spacing and key order), as every other read returns it.
            return try Self.cron(try await self.rows("""
                UPDATE crons SET key_id = \(cron.keyID), assistant_id = \(cron.assistantID), schedule = \(cron.schedule), timezone = \(cron.timezone),
                    end_time = \(cron.endTime?.ms), enabled = \(cron.enabled), on_run_completed = \(cron.onRunCompleted),
                    payload = \(cron.payload)::jsonb, metadata = \(cron.metadata)::jsonb, job = \(cron.job), run_metadata = \(cron.runMetadata),
                    thread_metadata = \(cron.threadMetadata), next_run_date = \(cron.nextRunDate?.ms), disabled_reason = \(cron.disabledReason),
                    updated_at = \(now.ms)
                WHERE tenant = \(tenant) AND cron_id = \(id) RETURNING \(unescaped: Self.cronColumns)
                """, on: connection)[0])
        }
    }

    public func deleteCron(tenant: String, id: String) async throws -> Bool {
        !(try await rows("DELETE FROM crons WHERE tenant = \(tenant) AND cron_id = \(id) RETURNING cron_id").isEmpty)
    }

    public func searchCrons(_ query: CronQuery) async throws -> [CronRecord] {
        try await rows(try Self.cronSearch(query, counting: false)).map(Self.cron)
    }

    public func countCrons(_ query: CronQuery) async throws -> Int {
        try await rows(try Self.cronSearch(query, counting: true)).first.map { try $0.int("n") } ?? 0
    }

    /// A search, or its count (the same rows, unlimited), as `assistantSearch` builds them.
    static func cronSearch(_ query: CronQuery, counting: Bool) throws -> PostgresQuery {
        // Byte order for text, and NULLs first when ascending, as SQLite sorts.
        let column = switch query.sortBy {
        case .cronID: #"cron_id COLLATE "C""#
        case .assistantID: #"assistant_id COLLATE "C""#
        case .threadID: #"thread_id COLLATE "C""#
        case .createdAt: "created_at"
        case .updatedAt: "updated_at"
        case .nextRunDate: "next_run_date"
        case .endTime: "end_time"
        }
        let order = query.descending ? "DESC NULLS LAST" : "ASC NULLS FIRST"
        let filter = try metadataFilter(ThreadQuery(metadata: query.metadata)).0
        let (head, tail) = counting ? ("SELECT COUNT(*) AS n FROM (", ") found") : ("", "")
        return """
            \(unescaped: head)SELECT \(unescaped: cronColumns) FROM crons
            WHERE tenant = \(query.tenant) AND (\(query.assistantID)::text IS NULL OR assistant_id = \(query.assistantID))
                AND (\(query.threadID)::text IS NULL OR thread_id = \(query.threadID))
                AND (\(query.enabled)::boolean IS NULL OR enabled = \(query.enabled)) AND metadata @> \(filter)::jsonb
            ORDER BY \(unescaped: column) \(unescaped: order), cron_id COLLATE "C"
            LIMIT \(counting ? nil : Int64(query.limit)) OFFSET \(counting ? 0 : Int64(query.offset))\(unescaped: tail)
            """
    }

    public func dueCrons(now: Date, limit: Int) async throws -> [CronRecord] {
        try await rows("""
            SELECT \(unescaped: Self.cronColumns) FROM crons WHERE enabled AND next_run_date <= \(now.ms)
            ORDER BY next_run_date LIMIT \(Int64(limit))
            """).map(Self.cron)
    }

    public func nextCronDue() async throws -> Date? {
        try await rows("SELECT MIN(next_run_date) AS due FROM crons WHERE enabled").first?.optionalInt64("due").map(Date.init(ms:))
    }

    public func claimCronFiring(_ firing: CronFiring, next: Date?) async throws -> Bool {
        try await transaction { connection in
            // The move of the cron's next firing is the claim (the row lock makes a second worker wait, then find it
            // moved); the firing's key makes a second insert of the same time impossible in any case.
            let moved = try await self.rows("""
                UPDATE crons SET next_run_date = \(next?.ms)
                WHERE cron_id = \(firing.cronID) AND enabled AND next_run_date = \(firing.scheduledAt.ms) RETURNING cron_id
                """, on: connection)
            guard !moved.isEmpty else { return false }
            let inserted = try await self.rows("""
                INSERT INTO cron_firings (cron_id, scheduled_at, tenant, run_id, thread_id, status, worker, detail, updated_at)
                VALUES (\(firing.cronID), \(firing.scheduledAt.ms), \(firing.tenant), \(firing.runID), \(firing.threadID),
                        \(firing.status.rawValue), \(firing.worker), \(firing.detail), \(firing.updatedAt.ms))
                ON CONFLICT DO NOTHING RETURNING cron_id
                """, on: connection)
            return !inserted.isEmpty
        }
    }

    public func setCronFiring(cronID: String, scheduledAt: Date, status: CronFiring.Status, detail: String?, now: Date) async throws {
        _ = try await rows("""
            UPDATE cron_firings SET status = \(status.rawValue), detail = COALESCE(\(detail)::text, detail), updated_at = \(now.ms)
            WHERE cron_id = \(cronID) AND scheduled_at = \(scheduledAt.ms)
            """)
    }

    public func cronFirings(status: CronFiring.Status, before: Date, limit: Int) async throws -> [CronFiring] {
        try await rows("""
            SELECT * FROM cron_firings WHERE status = \(status.rawValue) AND updated_at < \(before.ms) ORDER BY updated_at
            LIMIT \(Int64(limit))
            """).map(Self.firing)
    }

    public func cronFirings(cron id: String, limit: Int) async throws -> [CronFiring] {
        try await rows("SELECT * FROM cron_firings WHERE cron_id = \(id) ORDER BY scheduled_at DESC LIMIT \(Int64(limit))").map(Self.firing)
    }

    public func pruneCronFirings(before: Date) async throws -> Int {
        try await rows("""
            DELETE FROM cron_firings WHERE status IN ('queued', 'done', 'failed') AND updated_at < \(before.ms) RETURNING cron_id
            """).count
    }

    public func disableCron(id: String, reason: String, now: Date) async throws {
        _ = try await rows("UPDATE crons SET enabled = false, disabled_reason = \(reason), updated_at = \(now.ms) WHERE cron_id = \(id)")
    }
}
