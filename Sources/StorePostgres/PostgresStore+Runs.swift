import Foundation
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
            // Whether another run of the thread is still queued or running once the strategy has acted (the thread's
            // lock, below, is held until the end): known from what the strategy saw, without another round trip.
            var othersActive = false
            if let threadID = run.threadID {
                if let new = run.newThread { _ = try await self.insertThread(new, now: now, on: connection) }
                // The thread's row lock makes the strategy decision one at a time, whichever host asks. The run's stamp on
                // the thread's metadata takes it, in the same round trip: a refusal below rolls the stamp back too.
                let locking: PostgresQuery = if let stamp = run.threadMetadata {
                    """
                    UPDATE threads SET metadata = metadata || \(stamp)::jsonb WHERE thread_id = \(threadID)
                    RETURNING \(unescaped: Self.threadColumns)
                    """
                } else {
                    "SELECT \(unescaped: Self.threadColumns) FROM threads WHERE thread_id = \(threadID) FOR UPDATE"
                }
                guard let thread = try await self.rows(locking, on: connection).first.map(Self.thread) else {
                    throw StoreError.threadNotFound(threadID)
                }
                if let answered = run.answersApproval {
                    guard thread.pendingApproval?.id == answered else { throw StoreError.approvalNotPending(threadID: threadID) }
                    try await self.execute("UPDATE threads SET pending_id = NULL, pending = NULL WHERE thread_id = \(threadID)", on: connection)
                } else if let pending = thread.pendingApproval {
                    throw StoreError.approvalPending(threadID: threadID, approvalID: pending.id)
                }
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
                // Pending runs were interrupted or deleted above; running ones only marked, and they go on.
                othersActive = run.multitaskStrategy == .enqueue ? !active.isEmpty
                    : try active.contains { try $0.string("status") == RunStatus.running.rawValue }
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
            // The thread's lock is held (above): nothing can join its queue meanwhile. A run that starts now is made
            // running (its first attempt, as `start` would record it) in the INSERT that makes it.
            let startsNow = run.startsAtOnce && run.worker != nil && run.leaseUntil != nil && !othersActive
            let inserted = try await self.rows("""
                INSERT INTO runs (run_id, thread_id, assistant_id, status, created_at, updated_at, metadata, kwargs, multitask_strategy,
                                  on_disconnect, worker_id, lease_until, background, not_before, webhook, key_id, job, attempts, attempt_log)
                VALUES (\(run.id), \(run.threadID), \(run.assistantID), \(startsNow ? "running" : "pending"), \(now), \(now),
                        \(run.metadata)::jsonb, \(run.kwargs)::jsonb, \(run.multitaskStrategy.rawValue), \(run.onDisconnect), \(run.worker),
                        \(run.leaseUntil?.ms), \(run.background), \(run.notBefore?.ms), \(run.webhook), \(run.keyID), \(run.job),
                        \(Int64(startsNow ? 1 : 0)),
                        CASE WHEN \(startsNow) THEN jsonb_build_array(jsonb_build_object('attempt', 1, 'worker', \(run.worker)::text,
                                                                                       'started_at', \(now)::bigint))
                             ELSE '[]'::jsonb END)
                RETURNING \(unescaped: Self.runColumns)
                """, on: connection)
            if startsNow, let threadID = run.threadID {
                try await self.execute("UPDATE threads SET status = 'busy', updated_at = \(now) WHERE thread_id = \(threadID)", on: connection)
            }
            return try Self.run(inserted[0])
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

    public func prune(now: Date, eventsBefore: Date) async throws -> (threads: Int, events: Int) {
        try await transaction { connection in
            let threads = try await self.rows("""
                DELETE FROM threads WHERE expires_at IS NOT NULL AND expires_at < \(now.ms) AND pending_id IS NULL
                AND NOT EXISTS (SELECT 1 FROM runs WHERE runs.thread_id = threads.thread_id AND status IN ('pending', 'running'))
                RETURNING thread_id
                """, on: connection).count
            let events = try await self.rows("""
                DELETE FROM run_events WHERE run_id IN (SELECT run_id FROM runs WHERE finished_at IS NOT NULL AND finished_at < \(eventsBefore.ms))
                AND run_id NOT IN (SELECT pending_id FROM threads WHERE pending_id IS NOT NULL)
                RETURNING seq
                """, on: connection).count
            try await self.execute("DELETE FROM webhook_deliveries WHERE status != 'pending' AND updated_at < \(eventsBefore.ms)", on: connection)
            return (threads, events)
        }
    }
}
