import Foundation
import PostgresNIO
import Store

/// Places of stateless runs under their key's `max_concurrent_runs` (see `AgentStore.takeRunPlace`).
extension PostgresStore {
    public func takeRunPlace(_ id: String, key: String, limit: Int, until: Date) async throws -> Bool {
        let now = self.now().ms
        return try await transaction { connection in
            // The key's admissions take turns (as in createRun), so two hosts cannot both pass a count at its limit.
            _ = try await self.rows("SELECT pg_advisory_xact_lock(hashtext(\(key)))", on: connection)
            try await self.execute("DELETE FROM run_places WHERE key_id = \(key) AND expires_at <= \(now)", on: connection)
            guard try await self.activeRuns(key: key, now: now, on: connection) < limit else { return false }
            try await self.execute("INSERT INTO run_places (place_id, key_id, expires_at) VALUES (\(id), \(key), \(until.ms))", on: connection)
            return true
        }
    }

    public func renewRunPlaces(_ ids: [String], until: Date) async throws {
        guard !ids.isEmpty else { return }
        _ = try await rows("UPDATE run_places SET expires_at = \(until.ms) WHERE place_id = ANY(\(ids))")
    }

    public func releaseRunPlace(_ id: String) async throws {
        _ = try await rows("DELETE FROM run_places WHERE place_id = \(id)")
    }

    /// A key's pending and running runs and its stateless runs' places that have not lapsed.
    func activeRuns(key: String, now: Int64, on connection: PostgresConnection) async throws -> Int {
        try await rows("""
            SELECT (SELECT COUNT(*) FROM runs WHERE key_id = \(key) AND status IN ('pending', 'running'))
                 + (SELECT COUNT(*) FROM run_places WHERE key_id = \(key) AND expires_at > \(now)) AS n
            """, on: connection)[0].int("n")
    }
}
