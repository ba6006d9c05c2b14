import Foundation
import GRDB

/// Places of stateless runs under their key's `max_concurrent_runs` (see `AgentStore.takeRunPlace`).
extension SQLiteStore {
    public func takeRunPlace(_ id: String, key: String, limit: Int, until: Date) async throws -> Bool {
        let now = self.now().milliseconds
        // One write transaction (BEGIN IMMEDIATE): the count and the insert cannot interleave with another worker's.
        return try await writing { db in
            try db.run("DELETE FROM run_places WHERE key_id = ? AND expires_at <= ?", arguments: [key, now])
            guard try Self.activeRuns(db, key: key, now: now) < limit else { return false }
            try db.run("INSERT INTO run_places (place_id, key_id, expires_at) VALUES (?, ?, ?)",
                           arguments: [id, key, until.milliseconds])
            return true
        }
    }

    public func renewRunPlaces(_ ids: [String], until: Date) async throws {
        guard !ids.isEmpty else { return }
        let marks = Array(repeating: "?", count: ids.count).joined(separator: ", ")
        try await writing { db in
            try db.execute(sql: "UPDATE run_places SET expires_at = ? WHERE place_id IN (\(marks))",
                           arguments: StatementArguments([until.milliseconds]) + StatementArguments(ids))
        }
    }

    public func releaseRunPlace(_ id: String) async throws {
        try await writing { db in try db.run("DELETE FROM run_places WHERE place_id = ?", arguments: [id]) }
    }

    /// A key's pending and running runs and its stateless runs' places that have not lapsed.
    static func activeRuns(_ db: Database, key: String, now: Int64) throws -> Int {
        try Int.fetchOne(db.cached("""
            SELECT (SELECT COUNT(*) FROM runs WHERE key_id = ? AND status IN ('pending', 'running'))
                 + (SELECT COUNT(*) FROM run_places WHERE key_id = ? AND expires_at > ?)
            """), arguments: [key, key, now]) ?? 0
    }
}
