import Foundation
import GRDB

extension SQLiteStore: KeyStore {
    static func keyRecord(_ row: Row) -> APIKeyRecord {
        let scopes = (try? JSONDecoder().decode([String].self, from: Data((row["scopes"] as String).utf8))) ?? []
        let revoked: Int64? = row["revoked_at"]
        return APIKeyRecord(id: row["key_id"], hash: row["key_hash"], name: row["name"], tenant: row["tenant"], scopes: scopes,
                            maxConcurrentRuns: row["max_concurrent_runs"], dailyTokenBudget: row["daily_token_budget"],
                            createdAt: Date(milliseconds: row["created_at"]), revokedAt: revoked.map(Date.init(milliseconds:)))
    }

    public func createKey(_ key: APIKeyRecord) async throws {
        let scopes = String(decoding: try JSONEncoder().encode(key.scopes), as: UTF8.self)
        try await writing { db in
            try db.run("""
                INSERT INTO api_keys (key_id, key_hash, name, tenant, scopes, max_concurrent_runs, daily_token_budget, created_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                """, arguments: [key.id, key.hash, key.name, key.tenant, scopes, key.maxConcurrentRuns, key.dailyTokenBudget,
                                 key.createdAt.milliseconds])
        }
    }

    public func key(hash: String) async throws -> APIKeyRecord? {
        let record = try readingHere { db in
            try Row.fetchOne(db.cached("SELECT * FROM api_keys WHERE key_hash = ? AND revoked_at IS NULL"), arguments: [hash])
                .map(Self.keyRecord)
        }
        // Tasks made ready meanwhile (a dropped stream giving its key's place back, a run settling its budget) run
        // before this request goes on to admission, as they did while the read went through GRDB's queue.
        await Task.yield()
        return record
    }

    public func key(id: String) async throws -> APIKeyRecord? {
        try await reading { db in
            try Row.fetchOne(db.cached("SELECT * FROM api_keys WHERE key_id = ?"), arguments: [id]).map(Self.keyRecord)
        }
    }

    public func keys() async throws -> [APIKeyRecord] {
        try await reading { db in
            try Row.fetchAll(db.cached("SELECT * FROM api_keys ORDER BY created_at, key_id")).map(Self.keyRecord)
        }
    }

    public func revokeKey(_ id: String) async throws -> Bool {
        let now = self.now().milliseconds
        return try await writing { db in
            try db.run("UPDATE api_keys SET revoked_at = ? WHERE key_id = ? AND revoked_at IS NULL", arguments: [now, id])
            return db.changesCount == 1
        }
    }

    public func addUsage(key id: String, day: String, tokens: Int, runs: Int) async throws {
        try await writing { db in try Self.addUsage(db, key: id, day: day, tokens: tokens, runs: runs) }
    }

    static func addUsage(_ db: Database, key id: String, day: String, tokens: Int, runs: Int = 1) throws {
        try db.run("""
            INSERT INTO key_usage (key_id, day, tokens, runs) VALUES (?, ?, ?, ?)
            ON CONFLICT (key_id, day) DO UPDATE SET tokens = tokens + excluded.tokens, runs = runs + excluded.runs
            """, arguments: [id, day, tokens, runs])
    }

    public func reserveTokens(key id: String, day: String, tokens: Int, limit: Int) async throws -> Int {
        try await writing { db in
            let spent = try Int.fetchOne(db.cached("SELECT tokens FROM key_usage WHERE key_id = ? AND day = ?"), arguments: [id, day]) ?? 0
            let granted = max(0, min(tokens, limit - spent))
            guard granted > 0 else { return 0 }
            try db.run("""
                INSERT INTO key_usage (key_id, day, tokens, runs) VALUES (?, ?, ?, 0)
                ON CONFLICT (key_id, day) DO UPDATE SET tokens = tokens + excluded.tokens
                """, arguments: [id, day, granted])
            return granted
        }
    }

    public func usage(key id: String, day: String) async throws -> Int {
        try await reading { db in
            try Int.fetchOne(db.cached("SELECT tokens FROM key_usage WHERE key_id = ? AND day = ?"), arguments: [id, day]) ?? 0
        }
    }
}
