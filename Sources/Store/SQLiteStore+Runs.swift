import Foundation
import GRDB

extension SQLiteStore: RunStore {
    static let runColumns = """
        run_id, thread_id, assistant_id, status, created_at, updated_at, metadata, kwargs, multitask_strategy,
        on_disconnect, worker_id, lease_until, attempts, cancel_action, result, queue_seq, background, not_before, webhook,
        side_effects, attempt_log, key_id, job
        """

    static func runRecord(_ row: Row) -> RunRecord {
        let lease: Int64? = row["lease_until"]
        let cancel: String? = row["cancel_action"]
        let notBefore: Int64? = row["not_before"]
        var record = RunRecord(
            id: row["run_id"], threadID: row["thread_id"], assistantID: row["assistant_id"],
            status: RunStatus(rawValue: row["status"]) ?? .error, createdAt: Date(milliseconds: row["created_at"]),
            updatedAt: Date(milliseconds: row["updated_at"]), metadata: row["metadata"], kwargs: row["kwargs"],
            multitaskStrategy: MultitaskStrategy(rawValue: row["multitask_strategy"]) ?? .reject,
            onDisconnect: row["on_disconnect"], workerID: row["worker_id"], leaseUntil: lease.map(Date.init(milliseconds:)),
            attempts: row["attempts"], cancelAction: cancel.flatMap(CancelAction.init(rawValue:)), result: row["result"])
        record.background = row["background"]
        record.notBefore = notBefore.map(Date.init(milliseconds:))
        record.webhook = row["webhook"]
        record.sideEffects = row["side_effects"]
        record.attemptLog = row["attempt_log"]
        record.keyID = row["key_id"]
        record.job = row["job"]
        record.queueSeq = row["queue_seq"]
        return record
    }

    static func fetchRunRow(_ db: Database, _ id: String) throws -> Row? {
        try Row.fetchOne(db.cached("SELECT \(runColumns) FROM runs WHERE run_id = ?"), arguments: [id])
    }

    public func createRun(_ run: NewRun) async throws -> RunRecord {
        let now = self.now().milliseconds
        return try await writing { db in
            if let threadID = run.threadID {
                if let new = run.newThread, try Self.fetchThread(db, threadID) == nil { try Self.insertThread(db, new, now: now) }
                guard let thread = try Self.fetchThread(db, threadID) else { throw StoreError.threadNotFound(threadID) }
                if let answered = run.answersApproval {
                    guard thread.pendingApproval?.id == answered else { throw StoreError.approvalNotPending(threadID: threadID) }
                    try db.run("UPDATE threads SET pending_id = NULL, pending = NULL WHERE thread_id = ?", arguments: [threadID])
                } else if let pending = thread.pendingApproval {
                    throw StoreError.approvalPending(threadID: threadID, approvalID: pending.id)
                }
                let active = try Row.fetchAll(db.cached("""
                    SELECT run_id, status FROM runs WHERE thread_id = ? AND status IN ('pending', 'running') ORDER BY queue_seq
                    """), arguments: [threadID])
                switch run.multitaskStrategy {
                case .reject:
                    if let first = active.first { throw StoreError.threadBusy(threadID: threadID, runID: first["run_id"]) }
                case .interrupt, .rollback:
                    let action = run.multitaskStrategy == .interrupt ? CancelAction.interrupt : .rollback
                    for row in active {
                        try Self.cancel(db, runID: row["run_id"], status: row["status"], action: action, now: now)
                    }
                case .enqueue:
                    break
                }
                if let stamp = run.threadMetadata {
                    try db.run("UPDATE threads SET metadata = json_patch(metadata, json(?)) WHERE thread_id = ?",
                                   arguments: [stamp, threadID])
                }
                if let update = run.threadValues {
                    let current = try String.fetchOne(db.cached("SELECT state_values FROM threads WHERE thread_id = ?"),
                                                      arguments: [threadID]) ?? "{}"
                    try db.run("UPDATE threads SET state_values = ? WHERE thread_id = ?",
                                   arguments: [try StoreLimits.merge(values: current, with: update, thread: threadID), threadID])
                }
            }
            if let keyID = run.keyID, let limit = run.maxConcurrentRuns, try Self.activeRuns(db, key: keyID, now: now) >= limit {
                throw StoreError.concurrentRunsExceeded(limit: limit)
            }
            if let keyID = run.keyID, let limit = run.maxPendingRuns {
                // Both status terms: the IN one is `runs_active_by_key`'s condition, which SQLite needs written out to
                // use that partial index; without it this count read every run ever made, at each new run.
                let pending = try Int.fetchOne(db.cached("""
                    SELECT COUNT(*) FROM runs WHERE key_id = ? AND status IN ('pending', 'running') AND status = 'pending'
                    """),
                                                  arguments: [keyID]) ?? 0
                if pending >= limit { throw StoreError.pendingRunsExceeded(limit: limit) }
            }
            try db.run("""
                INSERT INTO runs (run_id, thread_id, assistant_id, status, created_at, updated_at, metadata, kwargs,
                                  multitask_strategy, on_disconnect, worker_id, lease_until, background, not_before, webhook, key_id, job)
                VALUES (?, ?, ?, 'pending', ?, ?, json(?), json(?), ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """, arguments: [run.id, run.threadID, run.assistantID, now, now, run.metadata, run.kwargs,
                                 run.multitaskStrategy.rawValue, run.onDisconnect, run.worker, run.leaseUntil?.milliseconds,
                                 run.background, run.notBefore?.milliseconds, run.webhook, run.keyID, run.job])
            if run.startsAtOnce, let worker = run.worker, let lease = run.leaseUntil, try !Bool.fetchOne(db.cached("""
                SELECT EXISTS (SELECT 1 FROM runs WHERE thread_id = ? AND run_id <> ? AND status IN ('pending', 'running'))
                """), arguments: [run.threadID, run.id])! {
                try Self.start(db, runID: run.id, worker: worker, leaseUntil: lease, now: now)
            }
            return Self.runRecord(try Self.fetchRunRow(db, run.id)!)
        }
    }

    /// A pending run stops here and now; a running one is flagged for its worker.
    static func cancel(_ db: Database, runID: String, status: String, action: CancelAction, now: Int64) throws {
        if status == RunStatus.pending.rawValue {
            if action == .rollback {
                try db.run("DELETE FROM runs WHERE run_id = ?", arguments: [runID])
            } else {
                try db.run("""
                    UPDATE runs SET status = 'interrupted', cancel_action = ?, finished_at = ?, updated_at = ?,
                                    lease_until = NULL WHERE run_id = ?
                    """, arguments: [action.rawValue, now, now, runID])
            }
        } else {
            try db.run("UPDATE runs SET cancel_action = ?, updated_at = ? WHERE run_id = ?",
                           arguments: [action.rawValue, now, runID])
        }
    }

    public func queuedRunCount() async throws -> Int {
        try await reading { db in
            try Int.fetchOne(db.cached("SELECT COUNT(*) FROM runs WHERE status = 'pending' AND worker_id IS NULL AND background = 1")) ?? 0
        }
    }

    public func runsWithoutJob(limit: Int) async throws -> [RunRecord] {
        try await reading { db in
            // The IN term lets SQLite use the partial index `runs_active` (see `createRun`'s count of pending runs).
            try Row.fetchAll(db.cached("""
                SELECT \(Self.runColumns) FROM runs WHERE job IS NULL AND status IN ('pending', 'running') AND status = 'pending'
                ORDER BY queue_seq LIMIT ?
                """),
                             arguments: [limit]).map(Self.runRecord)
        }
    }

    public func setJob(run id: String, _ job: JSONText) async throws -> Bool {
        try await writing { db in
            try db.run("UPDATE runs SET job = ? WHERE run_id = ? AND job IS NULL", arguments: [job, id])
            return db.changesCount > 0
        }
    }

    public func run(_ id: String) async throws -> RunRecord? {
        try await reading { db in try Self.fetchRunRow(db, id).map(Self.runRecord) }
    }

    public func runs(thread id: String, limit: Int, offset: Int, status: RunStatus?) async throws -> [RunRecord] {
        try await reading { db in
            try Row.fetchAll(db.cached("""
                SELECT \(Self.runColumns) FROM runs WHERE thread_id = ? AND (? IS NULL OR status = ?)
                ORDER BY queue_seq DESC LIMIT ? OFFSET ?
                """), arguments: [id, status?.rawValue, status?.rawValue, limit, offset]).map(Self.runRecord)
        }
    }

    public func runs(tenant: String, status: RunStatus, limit: Int) async throws -> [RunRecord] {
        try await reading { db in
            try Row.fetchAll(db.cached("""
                SELECT \(Self.runColumns) FROM runs
                WHERE status = ? AND thread_id IN (SELECT thread_id FROM threads WHERE tenant = ?)
                ORDER BY created_at, run_id LIMIT ?
                """), arguments: [status.rawValue, tenant, limit]).map(Self.runRecord)
        }
    }

    public func searchRuns(_ query: RunQuery) async throws -> [RunRecord] {
        // The tenant is the thread's: a run without a thread belongs to no tenant and is never found.
        var conditions = ["thread_id IN (SELECT thread_id FROM threads WHERE tenant = ?)"]
        var arguments: StatementArguments = [query.tenant]
        if let threadID = query.threadID {
            conditions.append("thread_id = ?")
            arguments += [threadID]
        }
        if let assistantID = query.assistantID {
            conditions.append("assistant_id = ?")
            arguments += [assistantID]
        }
        if let status = query.status {
            conditions.append("status = ?")
            arguments += [status.rawValue]
        }
        Self.appendMetadataConditions(query.metadata, column: "metadata", to: &conditions, &arguments)
        arguments += [query.limit, query.offset]
        return try await reading { [conditions, arguments] db in
            try Row.fetchAll(db, sql: """
                SELECT \(Self.runColumns) FROM runs WHERE \(conditions.joined(separator: " AND "))
                ORDER BY created_at DESC, run_id DESC LIMIT ? OFFSET ?
                """, arguments: arguments).map(Self.runRecord)
        }
    }

    public func runs(thread id: String, afterQueueSeq after: Int64, limit: Int) async throws -> [RunRecord] {
        try await reading { db in
            try Row.fetchAll(db.cached("""
                SELECT \(Self.runColumns) FROM runs WHERE thread_id = ? AND queue_seq > ? ORDER BY queue_seq LIMIT ?
                """), arguments: [id, after, limit]).map(Self.runRecord)
        }
    }

    public func requestCancel(_ id: String, action: CancelAction) async throws -> RunRecord? {
        let now = self.now().milliseconds
        return try await writing { db in
            guard let row = try Self.fetchRunRow(db, id) else { return nil }
            var run = Self.runRecord(row)
            guard run.status.isActive else { return run }
            try Self.cancel(db, runID: id, status: run.status.rawValue, action: action, now: now)
            if let updated = try Self.fetchRunRow(db, id) { return Self.runRecord(updated) }
            // Rolled back before it started: gone, reported as it ended.
            run.status = .interrupted
            run.cancelAction = action
            return run
        }
    }

    public func deleteRun(_ id: String) async throws -> Bool {
        try await writing { db in
            guard let row = try Self.fetchRunRow(db, id) else { return false }
            let run = Self.runRecord(row)
            guard !run.status.isActive else { throw StoreError.runActive(id) }
            try db.run("DELETE FROM runs WHERE run_id = ?", arguments: [id])
            return true
        }
    }

    public func prune(now: Date, eventsBefore: Date) async throws -> (threads: Int, events: Int) {
        try await writing { db in
            try db.run("""
                DELETE FROM threads WHERE expires_at IS NOT NULL AND expires_at < ? AND pending_id IS NULL
                AND NOT EXISTS (SELECT 1 FROM runs WHERE runs.thread_id = threads.thread_id AND status IN ('pending', 'running'))
                """, arguments: [now.milliseconds])
            let threads = db.changesCount
            try db.run("""
                DELETE FROM run_events WHERE run_id IN (SELECT run_id FROM runs WHERE finished_at IS NOT NULL AND finished_at < ?)
                AND run_id NOT IN (SELECT pending_id FROM threads WHERE pending_id IS NOT NULL)
                """, arguments: [eventsBefore.milliseconds])
            let events = db.changesCount
            try db.run("DELETE FROM webhook_deliveries WHERE status != 'pending' AND updated_at < ?",
                           arguments: [eventsBefore.milliseconds])
            return (threads, events)
        }
    }
}
