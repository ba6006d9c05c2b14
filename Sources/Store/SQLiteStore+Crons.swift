import Foundation
import GRDB

extension SQLiteStore: CronStore {
    static func cronRecord(_ row: Row) -> CronRecord {
        let end: Int64? = row["end_time"]
        let next: Int64? = row["next_run_date"]
        return CronRecord(
            id: row["cron_id"], tenant: row["tenant"], keyID: row["key_id"], threadID: row["thread_id"], assistantID: row["assistant_id"],
            schedule: row["schedule"], timezone: row["timezone"], endTime: end.map(Date.init(milliseconds:)), enabled: row["enabled"],
            onRunCompleted: row["on_run_completed"], payload: row["payload"], metadata: row["metadata"], job: row["job"],
            runMetadata: row["run_metadata"], threadMetadata: row["thread_metadata"], nextRunDate: next.map(Date.init(milliseconds:)),
            disabledReason: row["disabled_reason"], createdAt: Date(milliseconds: row["created_at"]),
            updatedAt: Date(milliseconds: row["updated_at"]))
    }

    static func firingRecord(_ row: Row) -> CronFiring {
        CronFiring(cronID: row["cron_id"], scheduledAt: Date(milliseconds: row["scheduled_at"]), tenant: row["tenant"], runID: row["run_id"],
                   threadID: row["thread_id"], status: CronFiring.Status(rawValue: row["status"]) ?? .failed, worker: row["worker"],
                   detail: row["detail"], updatedAt: Date(milliseconds: row["updated_at"]))
    }

    static func fetchCron(_ db: Database, tenant: String, id: String) throws -> CronRecord? {
        try Row.fetchOne(db.cached("SELECT * FROM crons WHERE tenant = ? AND cron_id = ?"), arguments: [tenant, id]).map(cronRecord)
    }

    public func createCron(_ cron: CronRecord) async throws -> CronRecord {
        try await writing { db in
            // Counted inside the write transaction, which SQLite runs one at a time: no two creations pass together.
            let count = try Int.fetchOne(db.cached("SELECT COUNT(*) FROM crons WHERE tenant = ?"), arguments: [cron.tenant]) ?? 0
            guard count < StoreLimits.maxCronsPerTenant else { throw StoreError.cronLimit(limit: StoreLimits.maxCronsPerTenant) }
            try db.run("""
                INSERT INTO crons (tenant, cron_id, key_id, thread_id, assistant_id, schedule, timezone, end_time, enabled,
                                   on_run_completed, payload, metadata, job, run_metadata, thread_metadata, next_run_date,
                                   created_at, updated_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, json(?), json(?), ?, ?, ?, ?, ?, ?)
                """, arguments: [cron.tenant, cron.id, cron.keyID, cron.threadID, cron.assistantID, cron.schedule, cron.timezone,
                                 cron.endTime?.milliseconds, cron.enabled, cron.onRunCompleted, cron.payload, cron.metadata, cron.job,
                                 cron.runMetadata, cron.threadMetadata, cron.nextRunDate?.milliseconds, cron.createdAt.milliseconds,
                                 cron.updatedAt.milliseconds])
            return try Self.fetchCron(db, tenant: cron.tenant, id: cron.id)!
        }
    }

    public func cron(tenant: String, id: String) async throws -> CronRecord? {
        try await reading { db in try Self.fetchCron(db, tenant: tenant, id: id) }
    }

    public func updateCron(tenant: String, id: String, _ change: CronChange, now: Date) async throws -> CronRecord? {
        try await writing { db in
            guard var cron = try Self.fetchCron(db, tenant: tenant, id: id) else { return nil }
            cron.apply(change)
            cron.updatedAt = now
            try db.run("""
                UPDATE crons SET key_id = ?, assistant_id = ?, schedule = ?, timezone = ?, end_time = ?, enabled = ?, on_run_completed = ?,
                                 payload = json(?), metadata = json(?), job = ?, run_metadata = ?, thread_metadata = ?,
                                 next_run_date = ?, disabled_reason = ?, updated_at = ?
                WHERE tenant = ? AND cron_id = ?
                """, arguments: [cron.keyID, cron.assistantID, cron.schedule, cron.timezone, cron.endTime?.milliseconds, cron.enabled,
                                 cron.onRunCompleted, cron.payload, cron.metadata, cron.job, cron.runMetadata, cron.threadMetadata,
                                 cron.nextRunDate?.milliseconds, cron.disabledReason, now.milliseconds, tenant, id])
            return cron
        }
    }

    public func deleteCron(tenant: String, id: String) async throws -> Bool {
        try await writing { db in
            try db.run("DELETE FROM crons WHERE tenant = ? AND cron_id = ?", arguments: [tenant, id])
            return db.changesCount > 0
        }
    }

    public func searchCrons(_ query: CronQuery) async throws -> [CronRecord] {
        let (filter, conditions) = Self.cronFilter(query)
        // Crons without a thread or an end sort as SQLite puts NULLs: first when ascending.
        let column = query.sortBy == .cronID ? "cron_id" : query.sortBy.rawValue
        var arguments = conditions
        arguments += [query.limit, query.offset]
        return try await reading { [arguments] db in
            try Row.fetchAll(db, sql: """
                SELECT * FROM crons \(filter) ORDER BY \(column) \(query.descending ? "DESC" : "ASC"), cron_id LIMIT ? OFFSET ?
                """, arguments: arguments).map(Self.cronRecord)
        }
    }

    public func countCrons(_ query: CronQuery) async throws -> Int {
        let (filter, arguments) = Self.cronFilter(query)
        return try await reading { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM crons \(filter)", arguments: arguments) ?? 0 }
    }

    static func cronFilter(_ query: CronQuery) -> (String, StatementArguments) {
        var conditions = ["tenant = ?"]
        var arguments: StatementArguments = [query.tenant]
        if let assistantID = query.assistantID {
            conditions.append("assistant_id = ?")
            arguments += [assistantID]
        }
        if let threadID = query.threadID {
            conditions.append("thread_id = ?")
            arguments += [threadID]
        }
        if let enabled = query.enabled {
            conditions.append("enabled = ?")
            arguments += [enabled]
        }
        appendMetadataConditions(query.metadata, column: "metadata", to: &conditions, &arguments)
        return ("WHERE " + conditions.joined(separator: " AND "), arguments)
    }

    public func dueCrons(now: Date, limit: Int) async throws -> [CronRecord] {
        try await reading { db in
            try Row.fetchAll(db.cached("""
                SELECT * FROM crons WHERE enabled = 1 AND next_run_date <= ? ORDER BY next_run_date LIMIT ?
                """), arguments: [now.milliseconds, limit]).map(Self.cronRecord)
        }
    }

    public func nextCronDue() async throws -> Date? {
        try await reading { db in
            try Int64.fetchOne(db.cached("SELECT MIN(next_run_date) FROM crons WHERE enabled = 1")).map(Date.init(milliseconds:))
        }
    }

    public func claimCronFiring(_ firing: CronFiring, next: Date?) async throws -> Bool {
        try await writing { db in
            // The move of the cron's next firing is the claim; the firing's key makes a second insert of the same time
            // impossible even if a cron's schedule were set back to a time that already fired.
            try db.run("""
                UPDATE crons SET next_run_date = ? WHERE cron_id = ? AND enabled = 1 AND next_run_date = ?
                """, arguments: [next?.milliseconds, firing.cronID, firing.scheduledAt.milliseconds])
            guard db.changesCount == 1 else { return false }
            try db.run("""
                INSERT INTO cron_firings (cron_id, scheduled_at, tenant, run_id, thread_id, status, worker, detail, updated_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING
                """, arguments: [firing.cronID, firing.scheduledAt.milliseconds, firing.tenant, firing.runID, firing.threadID,
                                 firing.status.rawValue, firing.worker, firing.detail, firing.updatedAt.milliseconds])
            return db.changesCount == 1
        }
    }

    public func setCronFiring(cronID: String, scheduledAt: Date, status: CronFiring.Status, detail: String?, now: Date) async throws {
        try await writing { db in
            try db.run("""
                UPDATE cron_firings SET status = ?, detail = COALESCE(?, detail), updated_at = ? WHERE cron_id = ? AND scheduled_at = ?
                """, arguments: [status.rawValue, detail, now.milliseconds, cronID, scheduledAt.milliseconds])
        }
    }

    public func cronFirings(status: CronFiring.Status, before: Date, limit: Int) async throws -> [CronFiring] {
        try await reading { db in
            try Row.fetchAll(db.cached("""
                SELECT * FROM cron_firings WHERE status = ? AND updated_at < ? ORDER BY updated_at LIMIT ?
                """), arguments: [status.rawValue, before.milliseconds, limit]).map(Self.firingRecord)
        }
    }

    public func cronFirings(cron id: String, limit: Int) async throws -> [CronFiring] {
        try await reading { db in
            try Row.fetchAll(db.cached("SELECT * FROM cron_firings WHERE cron_id = ? ORDER BY scheduled_at DESC LIMIT ?"),
                             arguments: [id, limit]).map(Self.firingRecord)
        }
    }

    public func pruneCronFirings(before: Date) async throws -> Int {
        try await writing { db in
            try db.run("DELETE FROM cron_firings WHERE status IN ('queued', 'done', 'failed') AND updated_at < ?",
                           arguments: [before.milliseconds])
            return db.changesCount
        }
    }

    public func disableCron(id: String, reason: String, now: Date) async throws {
        try await writing { db in
            try db.run("UPDATE crons SET enabled = 0, disabled_reason = ?, updated_at = ? WHERE cron_id = ?",
                           arguments: [reason, now.milliseconds, id])
        }
    }
}
