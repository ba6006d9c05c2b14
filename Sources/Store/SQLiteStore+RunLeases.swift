import Foundation
import GRDB

extension SQLiteStore {
    public func claimRun(_ id: String, worker: String, leaseUntil: Date) async throws -> ClaimResult {
        let now = self.now().milliseconds
        return try await writing { db in
            guard let row = try Self.fetchRunRow(db, id) else { return .cancelled(nil) }
            let run = Self.runRecord(row)
            switch run.status {
            case .pending: break
            case .running where run.workerID == worker: return .claimed(run)
            default: return .cancelled(run)
            }
            if let threadID = run.threadID {
                let queueSeq: Int64 = row["queue_seq"]
                let ahead = try Bool.fetchOne(db.cached("""
                    SELECT EXISTS (SELECT 1 FROM runs WHERE thread_id = ? AND queue_seq < ? AND status IN ('pending', 'running'))
                    """), arguments: [threadID, queueSeq]) ?? false
                if ahead { return .waiting }
                try db.run("UPDATE threads SET status = 'busy', updated_at = ? WHERE thread_id = ?",
                               arguments: [now, threadID])
            }
            try Self.start(db, runID: id, worker: worker, leaseUntil: leaseUntil, now: now)
            return .claimed(Self.runRecord(try Self.fetchRunRow(db, id)!))
        }
    }

    /// Marks a run running on `worker`, counting and logging the attempt.
    static func start(_ db: Database, runID: String, worker: String, leaseUntil: Date, now: Int64) throws {
        try db.run("""
            UPDATE runs SET status = 'running', worker_id = ?, lease_until = ?, attempts = attempts + 1, updated_at = ?,
                attempt_log = json_insert(attempt_log, '$[#]', json_object('attempt', attempts + 1, 'worker', ?, 'started_at', ?))
            WHERE run_id = ?
            """, arguments: [worker, leaseUntil.milliseconds, now, worker, now, runID])
        try db.run("""
            UPDATE threads SET status = 'busy', updated_at = ? WHERE thread_id = (SELECT thread_id FROM runs WHERE run_id = ?)
            """, arguments: [now, runID])
    }

    public func claimNextRun(worker: String, leaseUntil: Date, now: Date) async throws -> RunRecord? {
        let nowMS = now.milliseconds
        // A look without the write lock first: a worker looks after each run it ends, and the queue is mostly empty.
        let queued = try await reading("peekQueue") { db in
            try Bool.fetchOne(db.cached("""
                SELECT EXISTS (SELECT 1 FROM runs WHERE status = 'pending' AND worker_id IS NULL AND background = 1
                                                  AND (not_before IS NULL OR not_before <= ?))
                """), arguments: [nowMS]) ?? false
        }
        guard queued else { return nil }
        return try await writing { db in
            // Fair across tenants: the tenant running the fewest runs goes first, then the oldest run; one tenant's long
            // queue does not hold back another's. The status IN term is the partial index `runs_active`'s condition:
            // SQLite uses that index only if the query repeats it, and would read every run ever made otherwise.
            guard let id = try String.fetchOne(db.cached("""
                WITH busy AS (
                    SELECT t.tenant AS tenant, COUNT(*) AS running FROM runs x JOIN threads t ON t.thread_id = x.thread_id
                    WHERE x.status IN ('pending', 'running') AND x.status = 'running' GROUP BY t.tenant)
                SELECT r.run_id FROM runs r
                LEFT JOIN threads rt ON rt.thread_id = r.thread_id
                LEFT JOIN busy b ON b.tenant = rt.tenant
                WHERE r.status = 'pending' AND r.worker_id IS NULL AND r.background = 1
                  AND (r.not_before IS NULL OR r.not_before <= ?)
                  AND (r.thread_id IS NULL OR NOT EXISTS (
                      SELECT 1 FROM runs e WHERE e.thread_id = r.thread_id AND e.queue_seq < r.queue_seq
                                             AND e.status IN ('pending', 'running')))
                ORDER BY COALESCE(b.running, 0), r.queue_seq LIMIT 1
                """), arguments: [nowMS]) else { return nil }
            try Self.start(db, runID: id, worker: worker, leaseUntil: leaseUntil, now: nowMS)
            return Self.runRecord(try Self.fetchRunRow(db, id)!)
        }
    }

    public func releaseRun(_ id: String, worker: String) async throws -> Bool {
        let now = self.now().milliseconds
        return try await writing { db in
            try db.run("""
                UPDATE runs SET status = 'pending', worker_id = NULL, lease_until = NULL, background = 1, updated_at = ?,
                    attempt_log = CASE WHEN json_array_length(attempt_log) > 0
                        THEN json_set(attempt_log, '$[#-1].ended', 'released') ELSE attempt_log END
                WHERE run_id = ? AND worker_id = ? AND status = 'running' AND side_effects IS NULL AND cancel_action IS NULL
                """, arguments: [now, id, worker])
            return db.changesCount == 1
        }
    }

    public func recordSideEffect(run id: String, worker: String, call: JSONText) async throws {
        try await writing { db in
            try db.run("""
                UPDATE runs SET side_effects = json_insert(COALESCE(side_effects, '[]'), '$[#]', json(?))
                WHERE run_id = ? AND worker_id = ? AND status = 'running'
                """, arguments: [call, id, worker])
            guard db.changesCount == 1 else { throw StoreError.runNotFound(id) }
        }
    }

    public func renewLeases(worker: String, runs ids: [String], until: Date) async throws -> [String: RunControl] {
        guard !ids.isEmpty else { return [:] }
        let marks = Array(repeating: "?", count: ids.count).joined(separator: ", ")
        return try await writing { db in
            try db.execute(sql: """
                UPDATE runs SET lease_until = ? WHERE worker_id = ? AND status IN ('pending', 'running') AND run_id IN (\(marks))
                """, arguments: StatementArguments([until.milliseconds, worker] as [any DatabaseValueConvertible]) + StatementArguments(ids))
            var control = Dictionary(uniqueKeysWithValues: ids.map { ($0, RunControl.gone) })
            for row in try Row.fetchAll(db, sql: """
                SELECT run_id, status, worker_id, cancel_action FROM runs WHERE run_id IN (\(marks))
                """, arguments: StatementArguments(ids)) {
                let status = RunStatus(rawValue: row["status"]) ?? .error
                let owner: String? = row["worker_id"]
                guard owner == worker, status.isActive else { continue }
                let action: String? = row["cancel_action"]
                control[row["run_id"]] = action.flatMap(CancelAction.init(rawValue:)).map(RunControl.cancel) ?? .proceed
            }
            return control
        }
    }

    public func finishRun(_ id: String, worker: String, _ completion: RunCompletion) async throws -> Bool {
        let now = self.now().milliseconds
        let checkpointID = UUID().uuidString.lowercased()
        let finished = try await writing { db in
            guard let row = try Self.fetchRunRow(db, id) else { return false }
            let run = Self.runRecord(row)
            guard run.status == .running, run.workerID == worker else { return false }
            if let usage = completion.usage { try Self.addUsage(db, key: usage.key, day: usage.day, tokens: usage.tokens) }
            if completion.rollback {
                try Self.insertDeliveries(db, completion.deliveries, now: now)
                try db.run("DELETE FROM runs WHERE run_id = ?", arguments: [id])
                if let threadID = run.threadID {
                    try db.run("UPDATE threads SET status = 'idle', updated_at = ? WHERE thread_id = ?",
                                   arguments: [now, threadID])
                }
                return true
            }
            try db.run("""
                UPDATE runs SET status = ?, result = json(?), finished_at = ?, updated_at = ?, lease_until = NULL WHERE run_id = ?
                """, arguments: [completion.status.rawValue, completion.result, now, now, id])
            for event in completion.closingEvents {
                try db.run("INSERT INTO run_events (run_id, seq, event, data, created_at) VALUES (?, ?, ?, ?, ?)",
                               arguments: [id, event.seq, event.event, Data(event.data), now])
            }
            try Self.insertDeliveries(db, completion.deliveries, now: now)
            guard let threadID = run.threadID else { return true }
            var seq = try Int.fetchOne(db.cached("SELECT COALESCE(MAX(seq), 0) FROM messages WHERE thread_id = ?"),
                                       arguments: [threadID]) ?? 0
            for message in completion.messages {
                seq += 1
                try db.run("""
                    INSERT INTO messages (thread_id, seq, run_id, message_id, body) VALUES (?, ?, ?, ?, ?)
                    """, arguments: [threadID, seq, id, message.id, message.body])
            }
            let last = try Row.fetchOne(db.cached("""
                SELECT seq, checkpoint_id FROM checkpoints WHERE thread_id = ? ORDER BY seq DESC LIMIT 1
                """), arguments: [threadID])
            let checkpointSeq: Int64 = (last?["seq"] ?? 0) + 1
            try db.run("""
                INSERT INTO checkpoints (thread_id, seq, checkpoint_id, parent_id, run_id, message_count, created_at, metadata)
                VALUES (?, ?, ?, ?, ?, ?, ?, json_object('run_id', ?, 'status', ?))
                """, arguments: [threadID, checkpointSeq, checkpointID, last?["checkpoint_id"] as String?, id, seq, now,
                                 id, completion.status.rawValue])
            let threadStatus: ThreadStatus = switch completion.status {
            case .success, .pending, .running: .idle
            case .interrupted: completion.pendingApproval == nil ? .idle : .interrupted
            case .error, .timeout: .error
            }
            try db.run("""
                UPDATE threads SET status = ?, updated_at = ?, expires_at = CASE WHEN ttl_ms IS NULL THEN NULL ELSE ? + ttl_ms END,
                    pending_id = ?, pending = ?
                WHERE thread_id = ?
                """, arguments: [threadStatus.rawValue, now, now, completion.pendingApproval?.id, completion.pendingApproval?.body, threadID])
            return true
        }
        // Readers on other workers find the closing events now (rolled back, there are none to find).
        if finished, !completion.rollback, !completion.closingEvents.isEmpty { bells?.ring(id) }
        return finished
    }

    public func expireLeases(now: Date, maxAttempts: Int, ending: @escaping @Sendable (RunRecord) -> LostRunEnding,
                             deliveries: @escaping @Sendable (RunRecord) -> [NewDelivery]) async throws -> [ExpiredRun] {
        let nowMS = now.milliseconds
        let expired = try await writing { db in
            let rows = try Row.fetchAll(db.cached("""
                SELECT \(Self.runColumns) FROM runs
                WHERE status IN ('pending', 'running') AND lease_until IS NOT NULL AND lease_until < ?
                """), arguments: [nowMS])
            var expired: [ExpiredRun] = []
            for row in rows {
                let run = Self.runRecord(row)
                let retry = run.cancelAction == nil && run.sideEffects == nil && run.attempts < maxAttempts
                if retry {
                    // Back to the queue, first in its thread's line: any worker's executor takes it over.
                    try db.run("""
                        UPDATE runs SET status = 'pending', worker_id = NULL, lease_until = NULL, background = 1, updated_at = ?,
                            attempt_log = CASE WHEN json_array_length(attempt_log) > 0
                                THEN json_set(attempt_log, '$[#-1].ended', 'worker_lost') ELSE attempt_log END
                        WHERE run_id = ?
                        """, arguments: [nowMS, run.id])
                    expired.append(ExpiredRun(run: Self.runRecord(try Self.fetchRunRow(db, run.id)!), requeued: true))
                    continue
                }
                let status = run.cancelAction == nil ? "error" : "interrupted"
                let (result, closing) = { ($0.result, $0.closing) }(ending(run))
                try db.run("""
                    UPDATE runs SET status = ?, result = json(?), finished_at = ?, updated_at = ?, lease_until = NULL,
                        attempt_log = CASE WHEN json_array_length(attempt_log) > 0
                            THEN json_set(attempt_log, '$[#-1].ended', 'worker_lost') ELSE attempt_log END
                    WHERE run_id = ?
                    """, arguments: [status, result, nowMS, nowMS, run.id])
                if run.status == .running, let threadID = run.threadID {
                    try db.run("UPDATE threads SET status = ?, updated_at = ? WHERE thread_id = ?",
                                   arguments: [status == "error" ? "error" : "idle", nowMS, threadID])
                }
                var seq = try Int.fetchOne(db.cached("SELECT COALESCE(MAX(seq), 0) FROM run_events WHERE run_id = ?"),
                                           arguments: [run.id]) ?? 0
                for event in closing {
                    seq += 1
                    try db.run("INSERT INTO run_events (run_id, seq, event, data, created_at) VALUES (?, ?, ?, ?, ?)",
                                   arguments: [run.id, seq, event.event, Data(event.data), nowMS])
                }
                let closed = Self.runRecord(try Self.fetchRunRow(db, run.id)!)
                try Self.insertDeliveries(db, deliveries(closed), now: nowMS)
                expired.append(ExpiredRun(run: closed, requeued: false))
            }
            return expired
        }
        for entry in expired where !entry.requeued { bells?.ring(entry.run.id) }
        return expired
    }
}
