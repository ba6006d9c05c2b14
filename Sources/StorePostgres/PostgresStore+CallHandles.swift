import Foundation
import PostgresNIO
import Store

extension PostgresStore: CallHandleStore {
    public func putCallHandle(scope: String, handle: String, runID: String, now: Date) async throws {
        _ = try await rows("""
            INSERT INTO call_handles (scope, handle, run_id, created_at) VALUES (\(scope), \(handle), \(runID), \(now.ms))
            ON CONFLICT (scope, handle) DO UPDATE SET run_id = excluded.run_id, created_at = excluded.created_at
            """)
    }

    public func callHandle(scope: String, handle: String) async throws -> String? {
        try await rows("SELECT run_id FROM call_handles WHERE scope = \(scope) AND handle = \(handle)").first?.string("run_id")
    }

    public func removeCallHandle(scope: String, handle: String, runID: String) async throws {
        _ = try await rows("DELETE FROM call_handles WHERE scope = \(scope) AND handle = \(handle) AND run_id = \(runID)")
    }

    public func pruneCallHandles(before: Date) async throws -> Int {
        try await rows("DELETE FROM call_handles WHERE created_at < \(before.ms) RETURNING handle").count
    }
}
