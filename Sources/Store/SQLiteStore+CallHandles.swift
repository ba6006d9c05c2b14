import Foundation
import GRDB

extension SQLiteStore: CallHandleStore {
    public func putCallHandle(scope: String, handle: String, runID: String, now: Date) async throws {
        try await writing { db in
            try db.run("""
                INSERT INTO call_handles (scope, handle, run_id, created_at) VALUES (?, ?, ?, ?)
                ON CONFLICT (scope, handle) DO UPDATE SET run_id = excluded.run_id, created_at = excluded.created_at
                """, arguments: [scope, handle, runID, now.milliseconds])
        }
    }

    public func callHandle(scope: String, handle: String) async throws -> String? {
        try await reading { db in
            try String.fetchOne(db.cached("SELECT run_id FROM call_handles WHERE scope = ? AND handle = ?"), arguments: [scope, handle])
        }
    }

    public func removeCallHandle(scope: String, handle: String, runID: String) async throws {
        try await writing { db in
            try db.run("DELETE FROM call_handles WHERE scope = ? AND handle = ? AND run_id = ?",
                           arguments: [scope, handle, runID])
        }
    }

    public func pruneCallHandles(before: Date) async throws -> Int {
        try await writing { db in
            try db.run("DELETE FROM call_handles WHERE created_at < ?", arguments: [before.milliseconds])
            return db.changesCount
        }
    }

    public func secret(named name: String, candidate: [UInt8]) async throws -> [UInt8] {
        try await writing { db in
            try db.run("INSERT INTO secrets (name, value) VALUES (?, ?) ON CONFLICT (name) DO NOTHING",
                           arguments: [name, Data(candidate)])
            // In the same transaction as the insert: a row is there.
            return try Data.fetchOne(db.cached("SELECT value FROM secrets WHERE name = ?"), arguments: [name]).map { [UInt8]($0) } ?? candidate
        }
    }
}
