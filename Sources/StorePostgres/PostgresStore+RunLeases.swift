import Foundation
import NIOCore
import PostgresNIO
import Store

extension PostgresStore {
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
        // A look outside any transaction first (one round trip, where the claim is three and locks rows): a worker
        // looks after each run it ends, and the queue is mostly empty.
        let queued = try await rows("""
            SELECT EXISTS (SELECT 1 FROM runs WHERE status = 'pending' AND worker_id IS NULL AND background
                                              AND (not_before IS NULL OR not_before <= \(nowMS))) AS queued
            """).first?.bool("queued") ?? false
        guard queued else { return nil }
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
        // One statement is its own transaction: BEGIN and COMMIT around it were two more round trips.
        _ = try await rows("""
            UPDATE runs SET lease_until = \(until.ms)
            WHERE worker_id = \(worker) AND status IN ('pending', 'running') AND run_id = ANY(\(ids))
            """)
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
            if let usage = completion.usage { try await self.addUsage(key: usage.key, day: usage.day, tokens: usage.tokens, on: connection) }
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
            // The notice is delivered at commit, with the run's new status.
            if !completion.closingEvents.isEmpty {
                try await self.insertEvents(run: id, completion.closingEvents, now: now, on: connection)
            }
            guard let threadID = run.threadID else { return true }
            _ = try await self.fetchThread(threadID, on: connection, lock: true)
            // Each statement is a round trip: the messages go in one, numbered after the thread's last (the thread's
            // lock, above, keeps the numbers), and the checkpoint in one, after the last checkpoint.
            if !completion.messages.isEmpty {
                let ids = completion.messages.map(\.id), bodies = completion.messages.map(\.body)
                try await self.execute("""
                    INSERT INTO messages (thread_id, seq, run_id, message_id, body)
                    SELECT \(threadID), base.n + m.ord, \(id), m.message_id, m.body
                    FROM (SELECT COALESCE(MAX(seq), 0) AS n FROM messages WHERE thread_id = \(threadID)) AS base,
                         unnest(\(ids)::text[], \(bodies)::text[]) WITH ORDINALITY AS m(message_id, body, ord)
                    """, on: connection)
            }
            try await self.execute("""
                INSERT INTO checkpoints (thread_id, seq, checkpoint_id, parent_id, run_id, message_count, created_at, metadata)
                SELECT \(threadID), COALESCE(last.seq, 0) + 1, \(checkpointID), last.checkpoint_id, \(id),
                       (SELECT COALESCE(MAX(seq), 0) FROM messages WHERE thread_id = \(threadID)), \(now),
                       jsonb_build_object('run_id', \(id)::text, 'status', \(completion.status.rawValue)::text)
                FROM (SELECT 1) AS one LEFT JOIN LATERAL (
                    SELECT seq, checkpoint_id FROM checkpoints WHERE thread_id = \(threadID) ORDER BY seq DESC LIMIT 1
                ) AS last ON true
                """, on: connection)
            let threadStatus: ThreadStatus = switch completion.status {
            case .success, .pending, .running: .idle
            case .interrupted: completion.pendingApproval == nil ? .idle : .interrupted
            case .error, .timeout: .error
            }
            try await self.execute("""
                UPDATE threads SET status = \(threadStatus.rawValue), updated_at = \(now),
                    expires_at = CASE WHEN ttl_ms IS NULL THEN NULL ELSE \(now) + ttl_ms END,
                    pending_id = \(completion.pendingApproval?.id), pending = \(completion.pendingApproval?.body) WHERE thread_id = \(threadID)
                """, on: connection)
            return true
        }
    }

    public func expireLeases(now: Date, maxAttempts: Int, ending: @escaping @Sendable (RunRecord) -> LostRunEnding,
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
                let (result, closing) = { ($0.result, $0.closing) }(ending(run))
                try await self.execute("""
                    UPDATE runs SET status = \(status), result = \(result)::jsonb, finished_at = \(nowMS), updated_at = \(nowMS),
                        lease_until = NULL, attempt_log = \(unescaped: endLast) WHERE run_id = \(run.id)
                    """, on: connection)
                if run.status == .running, let threadID = run.threadID {
                    try await self.execute("UPDATE threads SET status = \(status == "error" ? "error" : "idle"), updated_at = \(nowMS) WHERE thread_id = \(threadID)", on: connection)
                }
                var seq = try await self.rows("SELECT COALESCE(MAX(seq), 0) AS n FROM run_events WHERE run_id = \(run.id)", on: connection)[0].int64("n")
                for event in closing {
                    seq += 1
                    try await self.execute("""
                        INSERT INTO run_events (run_id, seq, event, data, created_at)
                        VALUES (\(run.id), \(seq), \(event.event), \(ByteBuffer(bytes: event.data)), \(nowMS))
                        """, on: connection)
                }
                // Delivered at commit: readers on other hosts find the closing events at once.
                if !closing.isEmpty { _ = try await self.rows("SELECT pg_notify('agentfcgi_events', \(run.id))", on: connection) }
                let closed = try await self.fetchRun(run.id, on: connection)!.0
                try await self.insertDeliveries(deliveries(closed), now: nowMS, on: connection)
                expired.append(ExpiredRun(run: closed, requeued: false))
            }
            return expired
        }
    }
}
