import Foundation
import NIOCore
import PostgresNIO
import Store

extension PostgresStore: RunStore {
    static let runColumns = """
        run_id, thread_id, assistant_id, status, created_at, updated_at, metadata::text AS metadata, kwargs::text AS kwargs,
        multitask_strategy, on_disconnect, worker_id, lease_until, attempts, cancel_action, result::text AS result, queue_seq,
        background, not_before, webhook, side_effects::text AS side_effects, attempt_log::text AS attempt_log, key_id, job
        """

    static func run(_ row: PostgresRandomAccessRow) throws -> RunRecord {
        var record = RunRecord(
            id: try row.string("run_id"), threadID: try row.optionalString("thread_id"), assistantID: try row.string("assistant_id"),
            status: RunStatus(rawValue: try row.string("status")) ?? .error, createdAt: Date(ms: try row.int64("created_at")),
            updatedAt: Date(ms: try row.int64("updated_at")), metadata: try row.string("metadata"), kwargs: try row.string("kwargs"),
            multitaskStrategy: MultitaskStrategy(rawValue: try row.string("multitask_strategy")) ?? .reject,
            onDisconnect: try row.string("on_disconnect"), workerID: try row.optionalString("worker_id"),
            leaseUntil: try row.optionalInt64("lease_until").map(Date.init(ms:)), attempts: try row.int("attempts"),
            cancelAction: try row.optionalString("cancel_action").flatMap(CancelAction.init(rawValue:)),
            result: try row.optionalString("result"))
        record.background = try row.bool("background")
        record.notBefore = try row.optionalInt64("not_before").map(Date.init(ms:))
        record.webhook = try row.optionalString("webhook")
        record.sideEffects = try row.optionalString("side_effects")
        record.attemptLog = try row.string("attempt_log")
        record.keyID = try row.optionalString("key_id")
        record.job = try row.optionalString("job")
        record.queueSeq = try row.int64("queue_seq")
        return record
    }

    func fetchRun(_ id: String, on connection: PostgresConnection? = nil, lock: Bool = false) async throws -> (RunRecord, Int64)? {
        let query: PostgresQuery = lock
            ? "SELECT \(unescaped: Self.runColumns) FROM runs WHERE run_id = \(id) FOR UPDATE"
            : "SELECT \(unescaped: Self.runColumns) FROM runs WHERE run_id = \(id)"
        guard let row = try await rows(query, on: connection).first else { return nil }
        return (try Self.run(row), try row.int64("queue_seq"))
    }

    public func createRun(_ run: NewRun) async throws -> RunRecord {
        let now = self.now().ms
        return try await transaction { connection in
            if let threadID = run.threadID {
                // The thread's row lock makes the strategy decision one at a time, whichever host asks.
                guard try await self.fetchThread(threadID, on: connection, lock: true) != nil else { throw StoreError.threadNotFound(threadID) }
                let active = try await self.rows("""
                    SELECT run_id, status FROM runs WHERE thread_id = \(threadID) AND status IN ('pending', 'running') ORDER BY queue_seq
                    """, on: connection)
                switch run.multitaskStrategy {
                case .reject:
                    if let first = active.first { throw StoreError.threadBusy(threadID: threadID, runID: try first.string("run_id")) }
                case .interrupt, .rollback:
                    let action: CancelAction = run.multitaskStrategy == .interrupt ? .interrupt : .rollback
                    for row in active {
                        try await self.cancel(try row.string("run_id"), status: try row.string("status"), action: action, now: now, on: connection)
                    }
                case .enqueue:
                    break
                }
                if let stamp = run.threadMetadata {
                    try await self.execute("UPDATE threads SET metadata = metadata || \(stamp)::jsonb WHERE thread_id = \(threadID)", on: connection)
                }
                if let update = run.threadValues, let thread = try await self.fetchThread(threadID, on: connection) {
                    let merged = try StoreLimits.merge(values: thread.values, with: update, thread: threadID)
                    try await self.execute("UPDATE threads SET state_values = \(merged)::jsonb WHERE thread_id = \(threadID)", on: connection)
                }
            }
            if let keyID = run.keyID, run.maxConcurrentRuns != nil || run.maxPendingRuns != nil {
                // The key's creations take turns, so two hosts cannot both pass a count at its limit.
                _ = try await self.rows("SELECT pg_advisory_xact_lock(hashtext(\(keyID)))", on: connection)
                if let limit = run.maxConcurrentRuns, try await self.activeRuns(key: keyID, now: now, on: connection) >= limit {
                    throw StoreError.concurrentRunsExceeded(limit: limit)
                }
                if let limit = run.maxPendingRuns, try await self.rows("""
                    SELECT COUNT(*) AS pending FROM runs WHERE key_id = \(keyID) AND status = 'pending'
                    """, on: connection)[0].int("pending") >= limit {
                    throw StoreError.pendingRunsExceeded(limit: limit)
                }
            }
            try await self.execute("""
                INSERT INTO runs (run_id, thread_id, assistant_id, status, created_at, updated_at, metadata, kwargs, multitask_strategy,
                                  on_disconnect, worker_id, lease_until, background, not_before, webhook, key_id, job)
                VALUES (\(run.id), \(run.threadID), \(run.assistantID), 'pending', \(now), \(now), \(run.metadata)::jsonb,
                        \(run.kwargs)::jsonb, \(run.multitaskStrategy.rawValue), \(run.onDisconnect), \(run.worker),
                        \(run.leaseUntil?.ms), \(run.background), \(run.notBefore?.ms), \(run.webhook), \(run.keyID), \(run.job))
                """, on: connection)
            return try await self.fetchRun(run.id, on: connection)!.0
        }
    }

    func cancel(_ id: String, status: String, action: CancelAction, now: Int64, on connection: PostgresConnection) async throws {
        if status == RunStatus.pending.rawValue {
            if action == .rollback {
                try await execute("DELETE FROM runs WHERE run_id = \(id)", on: connection)
            } else {
                try await execute("""
                    UPDATE runs SET status = 'interrupted', cancel_action = \(action.rawValue), finished_at = \(now), updated_at = \(now),
                                    lease_until = NULL WHERE run_id = \(id)
                    """, on: connection)
            }
        } else {
            try await execute("UPDATE runs SET cancel_action = \(action.rawValue), updated_at = \(now) WHERE run_id = \(id)", on: connection)
        }
    }

    func start(_ id: String, worker: String, leaseUntil: Date, now: Int64, on connection: PostgresConnection) async throws {
        try await execute("""
            UPDATE runs SET status = 'running', worker_id = \(worker), lease_until = \(leaseUntil.ms), attempts = attempts + 1,
                updated_at = \(now),
                attempt_log = attempt_log || jsonb_build_array(jsonb_build_object('attempt', attempts + 1, 'worker', \(worker)::text,
                                                                                   'started_at', \(now)::bigint))
            WHERE run_id = \(id)
            """, on: connection)
        try await execute("""
            UPDATE threads SET status = 'busy', updated_at = \(now) WHERE thread_id = (SELECT thread_id FROM runs WHERE run_id = \(id))
            """, on: connection)
    }

    public func claimRun(_ id: String, worker: String, leaseUntil: Date) async throws -> ClaimResult {
        let now = self.now().ms
        return try await transaction { connection in
            guard let (plain, _) = try await self.fetchRun(id, on: connection) else { return .cancelled(nil) }
            if let threadID = plain.threadID { _ = try await self.fetchThread(threadID, on: connection, lock: true) }
            guard let (run, queueSeq) = try await self.fetchRun(id, on: connection, lock: true) else { return .cancelled(nil) }
            switch run.status {
            case .pending: break
            case .running where run.workerID == worker: return .claimed(run)
            default: return .cancelled(run)
            }
            if let threadID = run.threadID {
                let ahead = try await self.rows("""
                    SELECT 1 FROM runs WHERE thread_id = \(threadID) AND queue_seq < \(queueSeq) AND status IN ('pending', 'running') LIMIT 1
                    """, on: connection)
                if !ahead.isEmpty { return .waiting }
            }
            try await self.start(id, worker: worker, leaseUntil: leaseUntil, now: now, on: connection)
            return .claimed(try await self.fetchRun(id, on: connection)!.0)
        }
    }

    public func claimNextRun(worker: String, leaseUntil: Date, now: Date) async throws -> RunRecord? {
        let nowMS = now.ms
        return try await transaction { connection in
            // SKIP LOCKED: executors on other hosts take other runs instead of queueing behind this one.
            // Fair across tenants: the tenant running the fewest runs goes first, then the oldest run.
            let candidates = try await self.rows("""
                WITH busy AS (
                    SELECT t.tenant AS tenant, COUNT(*) AS running FROM runs x JOIN threads t ON t.thread_id = x.thread_id
                    WHERE x.status = 'running' GROUP BY t.tenant)
                SELECT r.run_id, r.thread_id FROM runs r
                LEFT JOIN threads rt ON rt.thread_id = r.thread_id
                LEFT JOIN busy b ON b.tenant = rt.tenant
                WHERE r.status = 'pending' AND r.worker_id IS NULL AND r.background
                  AND (r.not_before IS NULL OR r.not_before <= \(nowMS))
                  AND (r.thread_id IS NULL OR NOT EXISTS (
                      SELECT 1 FROM runs e WHERE e.thread_id = r.thread_id AND e.queue_seq < r.queue_seq AND e.status IN ('pending', 'running')))
                ORDER BY COALESCE(b.running, 0), r.queue_seq LIMIT 8 FOR UPDATE OF r SKIP LOCKED
                """, on: connection)
            for candidate in candidates {
                let id = try candidate.string("run_id")
                if let threadID = try candidate.optionalString("thread_id") {
                    // Re-check under the thread's lock: another host may have started an earlier run of it meanwhile.
                    _ = try await self.fetchThread(threadID, on: connection, lock: true)
                    let busy = try await self.rows("""
                        SELECT 1 FROM runs WHERE thread_id = \(threadID) AND status = 'running' LIMIT 1
                        """, on: connection)
                    if !busy.isEmpty { continue }
                }
                try await self.start(id, worker: worker, leaseUntil: leaseUntil, now: nowMS, on: connection)
                return try await self.fetchRun(id, on: connection)!.0
            }
            return nil
        }
    }

    public func releaseRun(_ id: String, worker: String) async throws -> Bool {
        let now = self.now().ms
        return !(try await rows("""
            UPDATE runs SET status = 'pending', worker_id = NULL, lease_until = NULL, background = true, updated_at = \(now),
                attempt_log = CASE WHEN jsonb_array_length(attempt_log) > 0
                    THEN jsonb_set(attempt_log, ARRAY[(jsonb_array_length(attempt_log) - 1)::text, 'ended'], '"released"') ELSE attempt_log END
            WHERE run_id = \(id) AND worker_id = \(worker) AND status = 'running' AND side_effects IS NULL AND cancel_action IS NULL
            RETURNING run_id
            """).isEmpty)
    }

    public func recordSideEffect(run id: String, worker: String, call: JSONText) async throws {
        let updated = try await rows("""
            UPDATE runs SET side_effects = COALESCE(side_effects, '[]'::jsonb) || jsonb_build_array(\(call)::jsonb)
            WHERE run_id = \(id) AND worker_id = \(worker) AND status = 'running' RETURNING run_id
            """)
        guard updated.count == 1 else { throw StoreError.runNotFound(id) }
    }

    public func renewLeases(worker: String, runs ids: [String], until: Date) async throws -> [String: RunControl] {
        guard !ids.isEmpty else { return [:] }
        try await transaction { connection in
            try await self.execute("""
                UPDATE runs SET lease_until = \(until.ms)
                WHERE worker_id = \(worker) AND status IN ('pending', 'running') AND run_id = ANY(\(ids))
                """, on: connection)
        }
        var control = Dictionary(uniqueKeysWithValues: ids.map { ($0, RunControl.gone) })
        for row in try await rows("SELECT run_id, status, worker_id, cancel_action FROM runs WHERE run_id = ANY(\(ids))") {
            let status = RunStatus(rawValue: try row.string("status")) ?? .error
            guard try row.optionalString("worker_id") == worker, status.isActive else { continue }
            control[try row.string("run_id")] = try row.optionalString("cancel_action").flatMap(CancelAction.init(rawValue:)).map(RunControl.cancel) ?? .proceed
        }
        return control
    }

    public func finishRun(_ id: String, worker: String, _ completion: RunCompletion) async throws -> Bool {
        let now = self.now().ms
        let checkpointID = UUID().uuidString.lowercased()
        return try await transaction { connection in
            guard let (run, _) = try await self.fetchRun(id, on: connection, lock: true), run.status == .running, run.workerID == worker else {
                return false
            }
            try await self.insertDeliveries(completion.deliveries, now: now, on: connection)
            if completion.rollback {
                try await self.execute("DELETE FROM runs WHERE run_id = \(id)", on: connection)
                if let threadID = run.threadID {
                    try await self.execute("UPDATE threads SET status = 'idle', updated_at = \(now) WHERE thread_id = \(threadID)", on: connection)
                }
                return true
            }
            try await self.execute("""
                UPDATE runs SET status = \(completion.status.rawValue), result = \(completion.result)::jsonb, finished_at = \(now),
                    updated_at = \(now), lease_until = NULL WHERE run_id = \(id)
                """, on: connection)
            for event in completion.closingEvents {
                // The notice is delivered at commit, with the run's new status.
                _ = try await self.rows("""
                    WITH appended AS (
                        INSERT INTO run_events (run_id, seq, event, data, created_at)
                        VALUES (\(id), \(Int64(event.seq)), \(event.event), \(ByteBuffer(bytes: event.data)), \(now))
                        RETURNING run_id)
                    SELECT pg_notify('agentfcgi_events', run_id) FROM appended
                    """, on: connection)
            }
            guard let threadID = run.threadID else { return true }
            _ = try await self.fetchThread(threadID, on: connection, lock: true)
            var seq = try await self.rows("SELECT COALESCE(MAX(seq), 0) AS n FROM messages WHERE thread_id = \(threadID)", on: connection)[0].int64("n")
            for message in completion.messages {
                seq += 1
                try await self.execute("""
                    INSERT INTO messages (thread_id, seq, run_id, message_id, body) VALUES (\(threadID), \(seq), \(id), \(message.id), \(message.body))
                    """, on: connection)
            }
            let last = try await self.rows("""
                SELECT seq, checkpoint_id FROM checkpoints WHERE thread_id = \(threadID) ORDER BY seq DESC LIMIT 1
                """, on: connection).first
            let checkpointSeq = (try last?.int64("seq") ?? 0) + 1
            let parent = try last?.string("checkpoint_id")
            try await self.execute("""
                INSERT INTO checkpoints (thread_id, seq, checkpoint_id, parent_id, run_id, message_count, created_at, metadata)
                VALUES (\(threadID), \(checkpointSeq), \(checkpointID), \(parent), \(id), \(seq), \(now),
                        jsonb_build_object('run_id', \(id)::text, 'status', \(completion.status.rawValue)::text))
                """, on: connection)
            let threadStatus: ThreadStatus = switch completion.status {
            case .success, .pending, .running: .idle
            case .interrupted: .interrupted
            case .error, .timeout: .error
            }
            try await self.execute("""
                UPDATE threads SET status = \(threadStatus.rawValue), updated_at = \(now),
                    expires_at = CASE WHEN ttl_ms IS NULL THEN NULL ELSE \(now) + ttl_ms END WHERE thread_id = \(threadID)
                """, on: connection)
            return true
        }
    }

    public func run(_ id: String) async throws -> RunRecord? {
        try await fetchRun(id)?.0
    }

    public func queuedRunCount() async throws -> Int {
        try await rows("SELECT COUNT(*) AS n FROM runs WHERE status = 'pending' AND worker_id IS NULL AND background")[0].int("n")
    }

    public func runsWithoutJob(limit: Int) async throws -> [RunRecord] {
        try await rows("""
            SELECT \(unescaped: Self.runColumns) FROM runs WHERE job IS NULL AND status = 'pending' ORDER BY queue_seq LIMIT \(Int64(limit))
            """).map(Self.run)
    }

    public func setJob(run id: String, _ job: JSONText) async throws -> Bool {
        !(try await rows("UPDATE runs SET job = \(job) WHERE run_id = \(id) AND job IS NULL RETURNING run_id").isEmpty)
    }

    public func runs(thread id: String, limit: Int, offset: Int, status: RunStatus?) async throws -> [RunRecord] {
        let status = status?.rawValue
        return try await rows("""
            SELECT \(unescaped: Self.runColumns) FROM runs WHERE thread_id = \(id) AND (\(status)::text IS NULL OR status = \(status))
            ORDER BY queue_seq DESC LIMIT \(Int64(limit)) OFFSET \(Int64(offset))
            """).map(Self.run)
    }

    public func runs(tenant: String, status: RunStatus, limit: Int) async throws -> [RunRecord] {
        try await rows("""
            SELECT \(unescaped: Self.runColumns) FROM runs
            WHERE status = \(status.rawValue) AND thread_id IN (SELECT thread_id FROM threads WHERE tenant = \(tenant))
            ORDER BY created_at, run_id LIMIT \(Int64(limit))
            """).map(Self.run)
    }

    public func searchRuns(_ query: RunQuery) async throws -> [RunRecord] {
        // Thread search's containment filter, on the run's metadata.
        let filter = try Self.metadataFilter(ThreadQuery(metadata: query.metadata)).0
        let status = query.status?.rawValue
        // The tenant is the thread's: a run without a thread belongs to no tenant and is never found. Ties in byte
        // order (COLLATE "C") whatever the database's locale, as SQLite sorts text.
        return try await rows("""
            SELECT \(unescaped: Self.runColumns) FROM runs
            WHERE thread_id IN (SELECT thread_id FROM threads WHERE tenant = \(query.tenant))
              AND (\(query.threadID)::text IS NULL OR thread_id = \(query.threadID))
              AND (\(query.assistantID)::text IS NULL OR assistant_id = \(query.assistantID))
              AND (\(status)::text IS NULL OR status = \(status))
              AND metadata @> \(filter)::jsonb
            ORDER BY created_at DESC, run_id COLLATE "C" DESC LIMIT \(Int64(query.limit)) OFFSET \(Int64(query.offset))
            """).map(Self.run)
    }

    public func runs(thread id: String, afterQueueSeq after: Int64, limit: Int) async throws -> [RunRecord] {
        try await rows("""
            SELECT \(unescaped: Self.runColumns) FROM runs WHERE thread_id = \(id) AND queue_seq > \(after)
            ORDER BY queue_seq LIMIT \(Int64(limit))
            """).map(Self.run)
    }

    public func requestCancel(_ id: String, action: CancelAction) async throws -> RunRecord? {
        let now = self.now().ms
        return try await transaction { connection in
            guard var (run, _) = try await self.fetchRun(id, on: connection, lock: true) else { return nil }
            guard run.status.isActive else { return run }
            try await self.cancel(id, status: run.status.rawValue, action: action, now: now, on: connection)
            if let (updated, _) = try await self.fetchRun(id, on: connection) { return updated }
            run.status = .interrupted
            run.cancelAction = action
            return run
        }
    }

    public func deleteRun(_ id: String) async throws -> Bool {
        try await transaction { connection in
            guard let (run, _) = try await self.fetchRun(id, on: connection, lock: true) else { return false }
            guard !run.status.isActive else { throw StoreError.runActive(id) }
            try await self.execute("DELETE FROM runs WHERE run_id = \(id)", on: connection)
            return true
        }
    }

    public func expireLeases(now: Date, maxAttempts: Int, result: JSONText, closing: [(event: String, data: [UInt8])],
                             deliveries: @escaping @Sendable (RunRecord) -> [NewDelivery]) async throws -> [ExpiredRun] {
        let nowMS = now.ms
        return try await transaction { connection in
            let rows = try await self.rows("""
                SELECT \(unescaped: Self.runColumns) FROM runs
                WHERE status IN ('pending', 'running') AND lease_until IS NOT NULL AND lease_until < \(nowMS)
                ORDER BY queue_seq FOR UPDATE SKIP LOCKED
                """, on: connection)
            var expired: [ExpiredRun] = []
            for row in rows {
                let run = try Self.run(row)
                let endLast = "CASE WHEN jsonb_array_length(attempt_log) > 0 THEN jsonb_set(attempt_log, ARRAY[(jsonb_array_length(attempt_log) - 1)::text, 'ended'], '\"worker_lost\"') ELSE attempt_log END"
                if run.cancelAction == nil, run.sideEffects == nil, run.attempts < maxAttempts {
                    try await self.execute("""
                        UPDATE runs SET status = 'pending', worker_id = NULL, lease_until = NULL, background = true, updated_at = \(nowMS),
                            attempt_log = \(unescaped: endLast) WHERE run_id = \(run.id)
                        """, on: connection)
                    expired.append(ExpiredRun(run: try await self.fetchRun(run.id, on: connection)!.0, requeued: true))
                    continue
                }
                let status = run.cancelAction == nil ? "error" : "interrupted"
                try await self.execute("""
                    UPDATE runs SET status = \(status), result = \(result)::jsonb, finished_at = \(nowMS), updated_at = \(nowMS),
                        lease_until = NULL, attempt_log = \(unescaped: endLast) WHERE run_id = \(run.id)
                    """, on: connection)
                if run.status == .running, let threadID = run.threadID {
                    try await self.execute("UPDATE threads SET status = \(status), updated_at = \(nowMS) WHERE thread_id = \(threadID)", on: connection)
                }
                var seq = try await self.rows("SELECT COALESCE(MAX(seq), 0) AS n FROM run_events WHERE run_id = \(run.id)", on: connection)[0].int64("n")
                for event in closing {
                    seq += 1
                    try await self.execute("""
                        INSERT INTO run_events (run_id, seq, event, data, created_at)
                        VALUES (\(run.id), \(seq), \(event.event), \(ByteBuffer(bytes: event.data)), \(nowMS))
                        """, on: connection)
                }
                let closed = try await self.fetchRun(run.id, on: connection)!.0
                try await self.insertDeliveries(deliveries(closed), now: nowMS, on: connection)
                expired.append(ExpiredRun(run: closed, requeued: false))
            }
            return expired
        }
    }

    public func prune(now: Date, eventsBefore: Date) async throws -> (threads: Int, events: Int) {
        try await transaction { connection in
            let threads = try await self.rows("""
                DELETE FROM threads WHERE expires_at IS NOT NULL AND expires_at < \(now.ms)
                AND NOT EXISTS (SELECT 1 FROM runs WHERE runs.thread_id = threads.thread_id AND status IN ('pending', 'running'))
                RETURNING thread_id
                """, on: connection).count
            let events = try await self.rows("""
                DELETE FROM run_events WHERE run_id IN (SELECT run_id FROM runs WHERE finished_at IS NOT NULL AND finished_at < \(eventsBefore.ms))
                RETURNING seq
                """, on: connection).count
            try await self.execute("DELETE FROM webhook_deliveries WHERE status != 'pending' AND updated_at < \(eventsBefore.ms)", on: connection)
            return (threads, events)
        }
    }
}
