import Foundation
import GRDB

extension SQLiteStore: ThreadStore {
    static let threadColumns = "thread_id, created_at, updated_at, metadata, status, ttl_ms, expires_at, tenant"

    static func threadRecord(_ row: Row) -> ThreadRecord {
        let ttl: Int64? = row["ttl_ms"]
        let expires: Int64? = row["expires_at"]
        return ThreadRecord(
            id: row["thread_id"], createdAt: Date(milliseconds: row["created_at"]),
            updatedAt: Date(milliseconds: row["updated_at"]), metadata: row["metadata"],
            status: ThreadStatus(rawValue: row["status"]) ?? .idle, tenant: row["tenant"],
            ttl: ttl.map { .milliseconds($0) }, expiresAt: expires.map(Date.init(milliseconds:)))
    }

    static func fetchThread(_ db: Database, _ id: String) throws -> ThreadRecord? {
        try Row.fetchOne(db, sql: "SELECT \(threadColumns) FROM threads WHERE thread_id = ?", arguments: [id])
            .map(threadRecord)
    }

    public func createThread(_ thread: NewThread, ifExists: IfExists) async throws -> ThreadRecord {
        let now = self.now().milliseconds
        return try await pool.write { db in
            if let existing = try Self.fetchThread(db, thread.id) {
                guard ifExists == .doNothing else { throw StoreError.threadExists(thread.id) }
                return existing
            }
            let ttl = thread.ttl?.storedMilliseconds
            try db.execute(sql: """
                INSERT INTO threads (thread_id, created_at, updated_at, metadata, status, ttl_ms, expires_at, tenant)
                VALUES (?, ?, ?, json(?), 'idle', ?, ?, ?)
                """, arguments: [thread.id, now, now, thread.metadata, ttl, ttl.map { now + $0 }, thread.tenant])
            return try Self.fetchThread(db, thread.id)!
        }
    }

    public func thread(_ id: String) async throws -> ThreadRecord? {
        try await pool.read { db in try Self.fetchThread(db, id) }
    }

    public func updateThread(_ id: String, metadata: JSONText?, ttl: Duration?) async throws -> ThreadRecord {
        let now = self.now().milliseconds
        return try await pool.write { db in
            guard try Self.fetchThread(db, id) != nil else { throw StoreError.threadNotFound(id) }
            if let metadata {
                try db.execute(sql: "UPDATE threads SET metadata = json_patch(metadata, json(?)) WHERE thread_id = ?",
                               arguments: [metadata, id])
            }
            if let ttl {
                try db.execute(sql: "UPDATE threads SET ttl_ms = ? WHERE thread_id = ?", arguments: [ttl.storedMilliseconds, id])
            }
            try db.execute(sql: """
                UPDATE threads SET updated_at = ?, expires_at = CASE WHEN ttl_ms IS NULL THEN NULL ELSE ? + ttl_ms END
                WHERE thread_id = ?
                """, arguments: [now, now, id])
            return try Self.fetchThread(db, id)!
        }
    }

    public func deleteThread(_ id: String) async throws -> Bool {
        try await pool.write { db in
            try db.execute(sql: "DELETE FROM threads WHERE thread_id = ?", arguments: [id])
            return db.changesCount > 0
        }
    }

    public func searchThreads(_ query: ThreadQuery) async throws -> [ThreadRecord] {
        var conditions: [String] = ["tenant = ?"]
        var arguments: StatementArguments = [query.tenant]
        for (key, value) in query.metadata {
            // The key is bound as a JSON path; quoting it keeps dots and brackets literal.
            conditions.append("json_extract(metadata, ?) IS json_extract(json(?), '$')")
            arguments += [Self.jsonPath(key), value]
        }
        if let status = query.status {
            conditions.append("status = ?")
            arguments += [status.rawValue]
        }
        let filter = "WHERE " + conditions.joined(separator: " AND ")
        arguments += [query.limit, query.offset]
        return try await pool.read { [arguments] db in
            try Row.fetchAll(db, sql: """
                SELECT \(Self.threadColumns) FROM threads \(filter)
                ORDER BY created_at DESC, thread_id LIMIT ? OFFSET ?
                """, arguments: arguments).map(Self.threadRecord)
        }
    }

    static func jsonPath(_ key: String) -> String {
        "$.\"" + key.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
    }

    public func messages(thread id: String, limit: Int?) async throws -> [MessageRecord] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: "SELECT seq, run_id, body FROM messages WHERE thread_id = ? ORDER BY seq LIMIT ?",
                             arguments: [id, limit ?? -1])
                .map { MessageRecord(seq: $0["seq"], runID: $0["run_id"], body: $0["body"]) }
        }
    }

    public func checkpoints(thread id: String, limit: Int, before: String?) async throws -> [CheckpointRecord] {
        try await pool.read { db in
            var bound = Int64.max
            if let before {
                guard let seq = try Int64.fetchOne(db, sql: "SELECT seq FROM checkpoints WHERE thread_id = ? AND checkpoint_id = ?",
                                                   arguments: [id, before]) else { return [] }
                bound = seq
            }
            return try Row.fetchAll(db, sql: """
                SELECT checkpoint_id, parent_id, run_id, message_count, created_at, metadata FROM checkpoints
                WHERE thread_id = ? AND seq < ? ORDER BY seq DESC LIMIT ?
                """, arguments: [id, bound, limit]).map {
                CheckpointRecord(id: $0["checkpoint_id"], parentID: $0["parent_id"], runID: $0["run_id"],
                                 messageCount: $0["message_count"], createdAt: Date(milliseconds: $0["created_at"]),
                                 metadata: $0["metadata"])
            }
        }
    }
}
