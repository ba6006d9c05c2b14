import Foundation
import PostgresNIO
import Store

extension PostgresStore: ThreadStore {
    static let threadColumns = """
        thread_id, created_at, updated_at, metadata::text AS metadata, status, ttl_ms, expires_at, tenant, state_values::text AS state_values,
        pending_id, pending
        """

    static func thread(_ row: PostgresRandomAccessRow) throws -> ThreadRecord {
        var record = ThreadRecord(
            id: try row.string("thread_id"), createdAt: Date(ms: try row.int64("created_at")),
            updatedAt: Date(ms: try row.int64("updated_at")), metadata: try row.string("metadata"),
            status: ThreadStatus(rawValue: try row.string("status")) ?? .idle, tenant: try row.string("tenant"),
            ttl: try row.optionalInt64("ttl_ms").map { .milliseconds($0) },
            expiresAt: try row.optionalInt64("expires_at").map(Date.init(ms:)))
        record.values = try row.string("state_values")
        if let id = try row.optionalString("pending_id") {
            record.pendingApproval = PendingApproval(id: id, body: try row.optionalString("pending") ?? "{}")
        }
        return record
    }

    func fetchThread(_ id: String, on connection: PostgresConnection? = nil, lock: Bool = false) async throws -> ThreadRecord? {
        let query: PostgresQuery = lock
            ? "SELECT \(unescaped: Self.threadColumns) FROM threads WHERE thread_id = \(id) FOR UPDATE"
            : "SELECT \(unescaped: Self.threadColumns) FROM threads WHERE thread_id = \(id)"
        return try await rows(query, on: connection).first.map(Self.thread)
    }

    public func createThread(_ thread: NewThread, ifExists: IfExists) async throws -> ThreadRecord {
        let now = self.now().ms
        return try await transaction { connection in
            let inserted = try await self.insertThread(thread, now: now, on: connection)
            if !inserted, ifExists == .raise { throw StoreError.threadExists(thread.id) }
            return try await self.fetchThread(thread.id, on: connection)!
        }
    }

    /// False when the thread was there already.
    func insertThread(_ thread: NewThread, now: Int64, on connection: PostgresConnection) async throws -> Bool {
        let ttl = thread.ttl?.ms
        let expires = ttl.map { now + $0 }
        return try await rows("""
            INSERT INTO threads (thread_id, created_at, updated_at, metadata, status, ttl_ms, expires_at, tenant)
            VALUES (\(thread.id), \(now), \(now), \(thread.metadata)::jsonb, 'idle', \(ttl), \(expires), \(thread.tenant))
            ON CONFLICT (thread_id) DO NOTHING RETURNING thread_id
            """, on: connection).isEmpty == false
    }

    public func thread(_ id: String) async throws -> ThreadRecord? {
        try await fetchThread(id)
    }

    public func updateThread(_ id: String, metadata: JSONText?, ttl: Duration?) async throws -> ThreadRecord {
        let now = self.now().ms
        return try await transaction { connection in
            guard try await self.fetchThread(id, on: connection, lock: true) != nil else { throw StoreError.threadNotFound(id) }
            if let metadata {
                try await self.execute("UPDATE threads SET metadata = metadata || \(metadata)::jsonb WHERE thread_id = \(id)", on: connection)
            }
            if let ttl {
                try await self.execute("UPDATE threads SET ttl_ms = \(ttl.ms) WHERE thread_id = \(id)", on: connection)
            }
            try await self.execute("""
                UPDATE threads SET updated_at = \(now), expires_at = CASE WHEN ttl_ms IS NULL THEN NULL ELSE \(now) + ttl_ms END
                WHERE thread_id = \(id)
                """, on: connection)
            return try await self.fetchThread(id, on: connection)!
        }
    }

    public func deleteThread(_ id: String) async throws -> Bool {
        !(try await rows("DELETE FROM threads WHERE thread_id = \(id) RETURNING thread_id").isEmpty)
    }

    public func searchThreads(_ query: ThreadQuery) async throws -> [ThreadRecord] {
        let (filter, status) = try Self.metadataFilter(query)
        return try await rows("""
            SELECT \(unescaped: Self.threadColumns) FROM threads
            WHERE tenant = \(query.tenant) AND metadata @> \(filter)::jsonb AND (\(status)::text IS NULL OR status = \(status))
            ORDER BY created_at DESC, thread_id LIMIT \(Int64(query.limit)) OFFSET \(Int64(query.offset))
            """).map(Self.thread)
    }

    public func countThreads(_ query: ThreadQuery) async throws -> Int {
        let (filter, status) = try Self.metadataFilter(query)
        return try await rows("""
            SELECT COUNT(*) AS n FROM threads
            WHERE tenant = \(query.tenant) AND metadata @> \(filter)::jsonb AND (\(status)::text IS NULL OR status = \(status))
            """).first.map { try $0.int("n") } ?? 0
    }

    /// Top-level equality for each key: containment of a one-key object per filter; and the status, if any.
    static func metadataFilter(_ query: ThreadQuery) throws -> (String, String?) {
        var filter = "{"
        for (index, pair) in query.metadata.enumerated() {
            let key = String(decoding: try JSONEncoder().encode(pair.key), as: UTF8.self)
            filter += (index > 0 ? "," : "") + key + ":" + pair.value
        }
        return (filter + "}", query.status?.rawValue)
    }

    public func pruneHistory(thread id: String) async throws -> Bool {
        try await transaction { connection in
            guard try await self.fetchThread(id, on: connection, lock: true) != nil else { return false }
            try await self.execute("""
                DELETE FROM checkpoints WHERE thread_id = \(id) AND seq < (SELECT MAX(seq) FROM checkpoints WHERE thread_id = \(id))
                """, on: connection)
            try await self.execute("""
                UPDATE checkpoints SET parent_id = NULL
                WHERE thread_id = \(id) AND seq = (SELECT MAX(seq) FROM checkpoints WHERE thread_id = \(id))
                """, on: connection)
            return true
        }
    }

    /// One statement for both (a consistent view, one round trip): the messages come as three arrays beside the thread.
    public func threadWithMessages(_ id: String) async throws -> (thread: ThreadRecord?, messages: [MessageRecord]) {
        guard let row = try await rows("""
            SELECT \(unescaped: Self.threadColumns),
                   ARRAY(SELECT seq FROM messages WHERE thread_id = \(id) ORDER BY seq) AS message_seqs,
                   ARRAY(SELECT COALESCE(run_id, '') FROM messages WHERE thread_id = \(id) ORDER BY seq) AS message_runs,
                   ARRAY(SELECT body FROM messages WHERE thread_id = \(id) ORDER BY seq) AS message_bodies
            FROM threads WHERE thread_id = \(id)
            """).first else { return (nil, []) }
        let seqs = try row["message_seqs"].decode([Int64].self)
        // No run id (a message a client added) comes as '': an array of optionals does not decode.
        let runs = try row["message_runs"].decode([String].self)
        let bodies = try row["message_bodies"].decode([String].self)
        let messages = zip(seqs, zip(runs, bodies)).map { seq, rest in
            MessageRecord(seq: Int(seq), runID: rest.0.isEmpty ? nil : rest.0, body: rest.1)
        }
        return (try Self.thread(row), messages)
    }

    public func messages(thread id: String, limit: Int?) async throws -> [MessageRecord] {
        let limit = Int64(limit ?? Int(Int32.max))
        return try await rows("SELECT seq, run_id, body FROM messages WHERE thread_id = \(id) ORDER BY seq LIMIT \(limit)").map {
            MessageRecord(seq: try $0.int("seq"), runID: try $0.optionalString("run_id"), body: try $0.string("body"))
        }
    }

    public func checkpoints(thread id: String, limit: Int, before: String?) async throws -> [CheckpointRecord] {
        var bound = Int64.max
        if let before {
            guard let row = try await rows("SELECT seq FROM checkpoints WHERE thread_id = \(id) AND checkpoint_id = \(before)").first else {
                return []
            }
            bound = try row.int64("seq")
        }
        return try await rows("""
            SELECT checkpoint_id, parent_id, run_id, message_count, created_at, metadata::text AS metadata FROM checkpoints
            WHERE thread_id = \(id) AND seq < \(bound) ORDER BY seq DESC LIMIT \(Int64(limit))
            """).map {
            CheckpointRecord(id: try $0.string("checkpoint_id"), parentID: try $0.optionalString("parent_id"),
                             runID: try $0.optionalString("run_id"), messageCount: try $0.int("message_count"),
                             createdAt: Date(ms: try $0.int64("created_at")), metadata: try $0.string("metadata"))
        }
    }

    public func addMessages(thread id: String, _ messages: [(id: String, body: JSONText)]) async throws -> [MessageRecord] {
        let now = self.now().ms
        return try await transaction { connection in
            guard try await self.fetchThread(id, on: connection, lock: true) != nil else { throw StoreError.threadNotFound(id) }
            try await self.refuseWhileRunning(id, on: connection)
            var seq = try await self.rows("SELECT COALESCE(MAX(seq), 0) AS n FROM messages WHERE thread_id = \(id)", on: connection)[0].int64("n")
            guard Int(seq) + messages.count <= StoreLimits.maxMessagesPerThread else {
                throw StoreError.threadFull(id, limit: StoreLimits.maxMessagesPerThread)
            }
            var added: [MessageRecord] = []
            for message in messages {
                seq += 1
                try await self.execute("""
                    INSERT INTO messages (thread_id, seq, run_id, message_id, body) VALUES (\(id), \(seq), NULL, \(message.id), \(message.body))
                    """, on: connection)
                added.append(MessageRecord(seq: Int(seq), runID: nil, body: message.body))
            }
            try await self.checkpoint(thread: id, messageCount: seq, now: now, replacing: false, on: connection)
            return added
        }
    }

    public func removeMessage(thread id: String, messageID: String) async throws -> Bool {
        let now = self.now().ms
        return try await transaction { connection in
            guard try await self.fetchThread(id, on: connection, lock: true) != nil else { throw StoreError.threadNotFound(id) }
            try await self.refuseWhileRunning(id, on: connection)
            guard let row = try await self.rows("SELECT seq FROM messages WHERE thread_id = \(id) AND message_id = \(messageID)",
                                                on: connection).first else { return false }
            let seq = try row.int64("seq")
            try await self.execute("DELETE FROM messages WHERE thread_id = \(id) AND seq = \(seq)", on: connection)
            // Later messages move up one place so that positions stay 1...n: through negative numbers, two statements
            // whatever their count, with no moment where two rows share a place.
            try await self.execute("UPDATE messages SET seq = -seq WHERE thread_id = \(id) AND seq > \(seq)", on: connection)
            try await self.execute("UPDATE messages SET seq = -seq - 1 WHERE thread_id = \(id) AND seq < 0", on: connection)
            let count = try await self.rows("SELECT COUNT(*) AS n FROM messages WHERE thread_id = \(id)", on: connection)[0].int64("n")
            try await self.checkpoint(thread: id, messageCount: count, now: now, replacing: true, on: connection)
            return true
        }
    }

    public func updateState(thread id: String, removing: [String], replacing: [(id: String, body: JSONText)],
                            adding: [(id: String, body: JSONText)], values: JSONText?) async throws -> String {
        let now = self.now().ms
        return try await transaction { connection in
            guard let thread = try await self.fetchThread(id, on: connection, lock: true) else { throw StoreError.threadNotFound(id) }
            try await self.refuseWhileRunning(id, on: connection)
            var rewritten = false
            for messageID in removing {
                guard let row = try await self.rows("SELECT seq FROM messages WHERE thread_id = \(id) AND message_id = \(messageID)",
                                                    on: connection).first else { continue }
                let seq = try row.int64("seq")
                try await self.execute("DELETE FROM messages WHERE thread_id = \(id) AND seq = \(seq)", on: connection)
                // As removeMessage: later messages move up one place, through negative numbers.
                try await self.execute("UPDATE messages SET seq = -seq WHERE thread_id = \(id) AND seq > \(seq)", on: connection)
                try await self.execute("UPDATE messages SET seq = -seq - 1 WHERE thread_id = \(id) AND seq < 0", on: connection)
                rewritten = true
            }
            for message in replacing {
                let updated = try await self.rows("""
                    UPDATE messages SET body = \(message.body) WHERE thread_id = \(id) AND message_id = \(message.id) RETURNING seq
                    """, on: connection)
                rewritten = rewritten || !updated.isEmpty
            }
            var seq = try await self.rows("SELECT COALESCE(MAX(seq), 0) AS n FROM messages WHERE thread_id = \(id)", on: connection)[0].int64("n")
            guard Int(seq) + adding.count <= StoreLimits.maxMessagesPerThread else {
                throw StoreError.threadFull(id, limit: StoreLimits.maxMessagesPerThread)
            }
            for message in adding {
                seq += 1
                try await self.execute("""
                    INSERT INTO messages (thread_id, seq, run_id, message_id, body) VALUES (\(id), \(seq), NULL, \(message.id), \(message.body))
                    """, on: connection)
            }
            if let values {
                let merged = try StoreLimits.merge(values: thread.values, with: values, thread: id)
                try await self.execute("UPDATE threads SET state_values = \(merged)::jsonb WHERE thread_id = \(id)", on: connection)
            }
            try await self.checkpoint(thread: id, messageCount: seq, now: now, replacing: rewritten, on: connection)
            return try await self.rows("SELECT checkpoint_id FROM checkpoints WHERE thread_id = \(id) ORDER BY seq DESC LIMIT 1",
                                       on: connection).first?.string("checkpoint_id") ?? ""
        }
    }

    /// A thread's messages change outside a run only while no run holds it.
    func refuseWhileRunning(_ threadID: String, except run: String? = nil, on connection: PostgresConnection) async throws {
        if let active = try await self.rows("""
            SELECT run_id FROM runs WHERE thread_id = \(threadID) AND status IN ('pending', 'running')
                AND run_id IS DISTINCT FROM \(run) ORDER BY queue_seq LIMIT 1
            """, on: connection).first {
            throw StoreError.threadBusy(threadID: threadID, runID: try active.string("run_id"))
        }
    }

    /// A checkpoint of the thread's first `messageCount` messages. `replacing`: the earlier ones no longer describe
    /// the thread (a message was removed from the middle), so they go.
    func checkpoint(thread id: String, messageCount: Int64, now: Int64, replacing: Bool, on connection: PostgresConnection) async throws {
        let last = try await self.rows("SELECT seq, checkpoint_id FROM checkpoints WHERE thread_id = \(id) ORDER BY seq DESC LIMIT 1",
                                       on: connection).first
        if replacing { try await self.execute("DELETE FROM checkpoints WHERE thread_id = \(id)", on: connection) }
        let seq = (try last?.int64("seq") ?? 0) + 1
        let parent = replacing ? nil : try last?.string("checkpoint_id")
        try await self.execute("""
            INSERT INTO checkpoints (thread_id, seq, checkpoint_id, parent_id, run_id, message_count, created_at, metadata)
            VALUES (\(id), \(seq), \(UUID().uuidString.lowercased()), \(parent), NULL, \(messageCount), \(now), '{"source":"update"}'::jsonb)
            """, on: connection)
        try await self.execute("UPDATE threads SET updated_at = \(now) WHERE thread_id = \(id)", on: connection)
    }

    public func truncateMessages(thread id: String, keeping count: Int, by run: String?) async throws -> Int {
        let now = self.now().ms
        return try await transaction { connection in
            guard try await self.fetchThread(id, on: connection, lock: true) != nil else { throw StoreError.threadNotFound(id) }
            try await self.refuseWhileRunning(id, except: run, on: connection)
            let removed = try await self.rows("DELETE FROM messages WHERE thread_id = \(id) AND seq > \(Int64(count)) RETURNING seq", on: connection).count
            if removed > 0 { try await self.checkpoint(thread: id, messageCount: Int64(count), now: now, replacing: true, on: connection) }
            return removed
        }
    }
}
