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

    public func secret(named name: String, candidate: [UInt8]) async throws -> [UInt8] {
        let hex = candidate.map { String(format: "%02x", $0) }.joined()
        _ = try await rows("INSERT INTO secrets (name, value) VALUES (\(name), \(hex)) ON CONFLICT (name) DO NOTHING")
        // Secrets are never deleted, so the row the insert kept (or found) is there.
        guard let kept = try await rows("SELECT value FROM secrets WHERE name = \(name)").first?.string("value") else { return candidate }
        var bytes: [UInt8] = []
        var index = kept.startIndex
        while index < kept.endIndex, let next = kept.index(index, offsetBy: 2, limitedBy: kept.endIndex),
              let byte = UInt8(kept[index..<next], radix: 16) {
            bytes.append(byte)
            index = next
        }
        return bytes
    }
}
