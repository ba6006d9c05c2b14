import Foundation
import GRDB

extension SQLiteStore: ThreadStore {
    static let threadColumns = "thread_id, created_at, updated_at, metadata, status, ttl_ms, expires_at, tenant, state_values, pending_id, pending"

    static func threadRecord(_ row: Row) -> ThreadRecord {
        let ttl: Int64? = row["ttl_ms"]
        let expires: Int64? = row["expires_at"]
        var record = ThreadRecord(
            id: row["thread_id"], createdAt: Date(milliseconds: row["created_at"]),
            updatedAt: Date(milliseconds: row["updated_at"]), metadata: row["metadata"],
            status: ThreadStatus(rawValue: row["status"]) ?? .idle, tenant: row["tenant"],
            ttl: ttl.map { .milliseconds($0) }, expiresAt: expires.map(Date.init(milliseconds:)))
        record.values = row["state_values"]
        if let id: String = row["pending_id"] { record.pendingApproval = PendingApproval(id: id, body: row["pending"] ?? "{}") }
        return record
    }

    static func fetchThread(_ db: Database, _ id: String) throws -> ThreadRecord? {
        try Row.fetchOne(db.cached("SELECT \(threadColumns) FROM threads WHERE thread_id = ?"), arguments: [id])
            .map(threadRecord)
    }

    public func createThread(_ thread: NewThread, ifExists: IfExists) async throws -> ThreadRecord {
        let now = self.now().milliseconds
        return try await writing { db in
            if let existing = try Self.fetchThread(db, thread.id) {
                guard ifExists == .doNothing else { throw StoreError.threadExists(thread.id) }
                return existing
            }
            try Self.insertThread(db, thread, now: now)
            return try Self.fetchThread(db, thread.id)!
        }
    }

    static func insertThread(_ db: Database, _ thread: NewThread, now: Int64) throws {
        let ttl = thread.ttl?.storedMilliseconds
        try db.run("""
            INSERT INTO threads (thread_id, created_at, updated_at, metadata, status, ttl_ms, expires_at, tenant)
            VALUES (?, ?, ?, json(?), 'idle', ?, ?, ?)
            """, arguments: [thread.id, now, now, thread.metadata, ttl, ttl.map { now + $0 }, thread.tenant])
    }

    public func thread(_ id: String) async throws -> ThreadRecord? {
        try await reading { db in try Self.fetchThread(db, id) }
    }

    public func updateThread(_ id: String, metadata: JSONText?, ttl: Duration?) async throws -> ThreadRecord {
        let now = self.now().milliseconds
        return try await writing { db in
            guard try Self.fetchThread(db, id) != nil else { throw StoreError.threadNotFound(id) }
            if let metadata {
                try db.run("UPDATE threads SET metadata = json_patch(metadata, json(?)) WHERE thread_id = ?",
                               arguments: [metadata, id])
            }
            if let ttl {
                try db.run("UPDATE threads SET ttl_ms = ? WHERE thread_id = ?", arguments: [ttl.storedMilliseconds, id])
            }
            try db.run("""
                UPDATE threads SET updated_at = ?, expires_at = CASE WHEN ttl_ms IS NULL THEN NULL ELSE ? + ttl_ms END
                WHERE thread_id = ?
                """, arguments: [now, now, id])
            return try Self.fetchThread(db, id)!
        }
    }

    public func deleteThread(_ id: String) async throws -> Bool {
        try await writing { db in
            try db.run("DELETE FROM threads WHERE thread_id = ?", arguments: [id])
            return db.changesCount > 0
        }
    }

    public func searchThreads(_ query: ThreadQuery) async throws -> [ThreadRecord] {
        let (filter, conditions) = Self.threadFilter(query)
        var arguments = conditions
        arguments += [query.limit, query.offset]
        return try await reading { [arguments] db in
            try Row.fetchAll(db, sql: """
                SELECT \(Self.threadColumns) FROM threads \(filter)
                ORDER BY created_at DESC, thread_id LIMIT ? OFFSET ?
                """, arguments: arguments).map(Self.threadRecord)
        }
    }

    public func countThreads(_ query: ThreadQuery) async throws -> Int {
        let (filter, arguments) = Self.threadFilter(query)
        return try await reading { db in
            try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM threads \(filter)", arguments: arguments) ?? 0
        }
    }

    /// The WHERE clause of a thread search: the tenant, top-level metadata equality, the status.
    static func threadFilter(_ query: ThreadQuery) -> (String, StatementArguments) {
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
        return ("WHERE " + conditions.joined(separator: " AND "), arguments)
    }

    public func pruneHistory(thread id: String) async throws -> Bool {
        try await writing { db in
            guard try Self.fetchThread(db, id) != nil else { return false }
            guard let newest = try Int64.fetchOne(db.cached("SELECT MAX(seq) FROM checkpoints WHERE thread_id = ?"), arguments: [id]) else {
                return true
            }
            try db.run("DELETE FROM checkpoints WHERE thread_id = ? AND seq < ?", arguments: [id, newest])
            try db.run("UPDATE checkpoints SET parent_id = NULL WHERE thread_id = ? AND seq = ?", arguments: [id, newest])
            return true
        }
    }

    static func jsonPath(_ key: String) -> String {
        "$.\"" + key.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
    }

    public func messages(thread id: String, limit: Int?) async throws -> [MessageRecord] {
        try await reading { db in try Self.fetchMessages(db, thread: id, limit: limit) }
    }

    /// One read for both: every read costs two thread hand-offs, to GRDB's reader and back (a stored run makes two).
    public func threadWithMessages(_ id: String) async throws -> (thread: ThreadRecord?, messages: [MessageRecord]) {
        try await reading { db in
            guard let thread = try Self.fetchThread(db, id) else { return (nil, []) }
            return (thread, try Self.fetchMessages(db, thread: id, limit: nil))
        }
    }

    static func fetchMessages(_ db: Database, thread id: String, limit: Int?) throws -> [MessageRecord] {
        try Row.fetchAll(db.cached("SELECT seq, run_id, body FROM messages WHERE thread_id = ? ORDER BY seq LIMIT ?"),
                         arguments: [id, limit ?? -1])
            .map { MessageRecord(seq: $0["seq"], runID: $0["run_id"], body: $0["body"]) }
    }

    public func checkpoints(thread id: String, limit: Int, before: String?) async throws -> [CheckpointRecord] {
        try await reading { db in
            var bound = Int64.max
            if let before {
                guard let seq = try Int64.fetchOne(db.cached("SELECT seq FROM checkpoints WHERE thread_id = ? AND checkpoint_id = ?"),
                                                   arguments: [id, before]) else { return [] }
                bound = seq
            }
            return try Row.fetchAll(db.cached("""
                SELECT checkpoint_id, parent_id, run_id, message_count, created_at, metadata FROM checkpoints
                WHERE thread_id = ? AND seq < ? ORDER BY seq DESC LIMIT ?
                """), arguments: [id, bound, limit]).map {
                CheckpointRecord(id: $0["checkpoint_id"], parentID: $0["parent_id"], runID: $0["run_id"],
                                 messageCount: $0["message_count"], createdAt: Date(milliseconds: $0["created_at"]),
                                 metadata: $0["metadata"])
            }
        }
    }

    public func addMessages(thread id: String, _ messages: [(id: String, body: JSONText)]) async throws -> [MessageRecord] {
        let now = self.now().milliseconds
        return try await writing { db in
            guard try Self.fetchThread(db, id) != nil else { throw StoreError.threadNotFound(id) }
            try Self.refuseWhileRunning(db, id)
            var seq = try Int.fetchOne(db.cached("SELECT COALESCE(MAX(seq), 0) FROM messages WHERE thread_id = ?"), arguments: [id]) ?? 0
            guard seq + messages.count <= StoreLimits.maxMessagesPerThread else {
                throw StoreError.threadFull(id, limit: StoreLimits.maxMessagesPerThread)
            }
            var added: [MessageRecord] = []
            for message in messages {
                seq += 1
                try db.run("INSERT INTO messages (thread_id, seq, run_id, message_id, body) VALUES (?, ?, NULL, ?, ?)",
                               arguments: [id, seq, message.id, message.body])
                added.append(MessageRecord(seq: seq, runID: nil, body: message.body))
            }
            try Self.checkpoint(db, thread: id, messageCount: seq, now: now, replacing: false)
            return added
        }
    }

    public func removeMessage(thread id: String, messageID: String) async throws -> Bool {
        let now = self.now().milliseconds
        return try await writing { db in
            guard try Self.fetchThread(db, id) != nil else { throw StoreError.threadNotFound(id) }
            try Self.refuseWhileRunning(db, id)
            guard let seq = try Int.fetchOne(db.cached("SELECT seq FROM messages WHERE thread_id = ? AND message_id = ?"),
                                             arguments: [id, messageID]) else { return false }
            try db.run("DELETE FROM messages WHERE thread_id = ? AND seq = ?", arguments: [id, seq])
            // Later messages move up one place so that positions stay 1...n: through negative numbers, two statements
            // whatever their count, with no moment where two rows share a place.
            try db.run("UPDATE messages SET seq = -seq WHERE thread_id = ? AND seq > ?", arguments: [id, seq])
            try db.run("UPDATE messages SET seq = -seq - 1 WHERE thread_id = ? AND seq < 0", arguments: [id])
            let count = try Int.fetchOne(db.cached("SELECT COUNT(*) FROM messages WHERE thread_id = ?"), arguments: [id]) ?? 0
            try Self.checkpoint(db, thread: id, messageCount: count, now: now, replacing: true)
            return true
        }
    }

    public func updateState(thread id: String, removing: [String], replacing: [(id: String, body: JSONText)],
                            adding: [(id: String, body: JSONText)], values: JSONText?) async throws -> String {
        let now = self.now().milliseconds
        return try await writing { db in
            guard try Self.fetchThread(db, id) != nil else { throw StoreError.threadNotFound(id) }
            try Self.refuseWhileRunning(db, id)
            var rewritten = false
            for messageID in removing {
                guard let seq = try Int.fetchOne(db.cached("SELECT seq FROM messages WHERE thread_id = ? AND message_id = ?"),
                                                 arguments: [id, messageID]) else { continue }
                try db.run("DELETE FROM messages WHERE thread_id = ? AND seq = ?", arguments: [id, seq])
                // As removeMessage: later messages move up one place, through negative numbers.
                try db.run("UPDATE messages SET seq = -seq WHERE thread_id = ? AND seq > ?", arguments: [id, seq])
                try db.run("UPDATE messages SET seq = -seq - 1 WHERE thread_id = ? AND seq < 0", arguments: [id])
                rewritten = true
            }
            for message in replacing {
                try db.run("UPDATE messages SET body = ? WHERE thread_id = ? AND message_id = ?", arguments: [message.body, id, message.id])
                rewritten = rewritten || db.changesCount > 0
            }
            var seq = try Int.fetchOne(db.cached("SELECT COALESCE(MAX(seq), 0) FROM messages WHERE thread_id = ?"), arguments: [id]) ?? 0
            guard seq + adding.count <= StoreLimits.maxMessagesPerThread else {
                throw StoreError.threadFull(id, limit: StoreLimits.maxMessagesPerThread)
            }
            for message in adding {
                seq += 1
                try db.run("INSERT INTO messages (thread_id, seq, run_id, message_id, body) VALUES (?, ?, NULL, ?, ?)",
                               arguments: [id, seq, message.id, message.body])
            }
            if let values {
                let current = try String.fetchOne(db.cached("SELECT state_values FROM threads WHERE thread_id = ?"), arguments: [id]) ?? "{}"
                try db.run("UPDATE threads SET state_values = ? WHERE thread_id = ?",
                               arguments: [try StoreLimits.merge(values: current, with: values, thread: id), id])
            }
            try Self.checkpoint(db, thread: id, messageCount: seq, now: now, replacing: rewritten)
            return try String.fetchOne(db.cached("SELECT checkpoint_id FROM checkpoints WHERE thread_id = ? ORDER BY seq DESC LIMIT 1"),
                                       arguments: [id]) ?? ""
        }
    }

    /// A thread's messages change outside a run only while no run holds it.
    static func refuseWhileRunning(_ db: Database, _ threadID: String, except run: String? = nil) throws {
        if let active = try String.fetchOne(db.cached("""
            SELECT run_id FROM runs WHERE thread_id = ? AND status IN ('pending', 'running') AND run_id IS NOT ? ORDER BY queue_seq LIMIT 1
            """), arguments: [threadID, run]) {
            throw StoreError.threadBusy(threadID: threadID, runID: active)
        }
    }

    /// A checkpoint of the thread's first `messageCount` messages. `replacing`: the earlier ones no longer describe
    /// the thread (a message was removed from the middle), so they go.
    static func checkpoint(_ db: Database, thread id: String, messageCount: Int, now: Int64, replacing: Bool) throws {
        let last = try Row.fetchOne(db.cached("SELECT seq, checkpoint_id FROM checkpoints WHERE thread_id = ? ORDER BY seq DESC LIMIT 1"),
                                    arguments: [id])
        if replacing { try db.run("DELETE FROM checkpoints WHERE thread_id = ?", arguments: [id]) }
        let seq: Int64 = (last?["seq"] ?? 0) + 1
        try db.run("""
            INSERT INTO checkpoints (thread_id, seq, checkpoint_id, parent_id, run_id, message_count, created_at, metadata)
            VALUES (?, ?, ?, ?, NULL, ?, ?, json_object('source', 'update'))
            """, arguments: [id, seq, UUID().uuidString.lowercased(), replacing ? nil : last?["checkpoint_id"] as String?, messageCount, now])
        try db.run("UPDATE threads SET updated_at = ? WHERE thread_id = ?", arguments: [now, id])
    }

    public func truncateMessages(thread id: String, keeping count: Int, by run: String?) async throws -> Int {
        let now = self.now().milliseconds
        return try await writing { db in
            guard try Self.fetchThread(db, id) != nil else { throw StoreError.threadNotFound(id) }
            try Self.refuseWhileRunning(db, id, except: run)
            try db.run("DELETE FROM messages WHERE thread_id = ? AND seq > ?", arguments: [id, count])
            let removed = db.changesCount
            if removed > 0 { try Self.checkpoint(db, thread: id, messageCount: count, now: now, replacing: true) }
            return removed
        }
    }
}
