import Foundation
import GRDB

extension SQLiteStore: WebhookStore {
    static func insertDeliveries(_ db: Database, _ deliveries: [NewDelivery], now: Int64) throws {
        for delivery in deliveries {
            try db.run("""
                INSERT OR IGNORE INTO webhook_deliveries
                    (delivery_id, run_id, thread_id, url, event_type, payload, next_attempt_at, created_at, updated_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                """, arguments: [delivery.id, delivery.runID, delivery.threadID, delivery.url, delivery.eventType,
                                 Data(delivery.payload), now, now, now])
        }
    }

    static let deliveryColumns = """
        delivery_id, run_id, thread_id, url, event_type, payload, status, attempts, next_attempt_at, created_at, updated_at
        """

    static func deliveryRecord(_ row: Row) -> DeliveryRecord {
        DeliveryRecord(
            id: row["delivery_id"], runID: row["run_id"], threadID: row["thread_id"], url: row["url"],
            eventType: row["event_type"], payload: Array(row["payload"] as Data),
            status: DeliveryStatus(rawValue: row["status"]) ?? .pending, attempts: row["attempts"],
            nextAttemptAt: Date(milliseconds: row["next_attempt_at"]), createdAt: Date(milliseconds: row["created_at"]),
            updatedAt: Date(milliseconds: row["updated_at"]))
    }

    public func nextDeliveryDue() async throws -> Date? {
        try await reading { db in
            try Int64.fetchOne(db.cached("""
                SELECT MIN(MAX(next_attempt_at, COALESCE(lease_until, 0))) FROM webhook_deliveries WHERE status = 'pending'
                """)).map { Date(milliseconds: $0) }
        }
    }

    public func claimDueDeliveries(worker: String, now: Date, leaseUntil: Date, limit: Int) async throws -> [DeliveryRecord] {
        let nowMS = now.milliseconds
        return try await writing { db in
            let rows = try Row.fetchAll(db.cached("""
                SELECT \(Self.deliveryColumns) FROM webhook_deliveries
                WHERE status = 'pending' AND next_attempt_at <= ? AND (lease_until IS NULL OR lease_until < ?)
                ORDER BY next_attempt_at LIMIT ?
                """), arguments: [nowMS, nowMS, limit])
            for row in rows {
                try db.run("UPDATE webhook_deliveries SET worker_id = ?, lease_until = ? WHERE delivery_id = ?",
                               arguments: [worker, leaseUntil.milliseconds, row["delivery_id"] as String])
            }
            return rows.map(Self.deliveryRecord)
        }
    }

    public func recordDeliveryAttempt(_ id: String, worker: String, _ attempt: DeliveryAttempt, delivered: Bool, next: Date?) async throws {
        let now = self.now().milliseconds
        try await writing { db in
            try db.run("""
                INSERT OR REPLACE INTO webhook_attempts (delivery_id, attempt, at, status_code, error, duration_ms)
                VALUES (?, ?, ?, ?, ?, ?)
                """, arguments: [id, attempt.attempt, attempt.at.milliseconds, attempt.statusCode, attempt.error,
                                 attempt.durationMilliseconds])
            let status: DeliveryStatus = delivered ? .delivered : (next == nil ? .failed : .pending)
            try db.run("""
                UPDATE webhook_deliveries SET attempts = ?, status = ?, next_attempt_at = COALESCE(?, next_attempt_at),
                    updated_at = ?, worker_id = NULL, lease_until = NULL
                WHERE delivery_id = ?
                """, arguments: [attempt.attempt, status.rawValue, next?.milliseconds, now, id])
        }
    }

    public func deliveries(run id: String) async throws -> [DeliveryRecord] {
        try await reading { db in
            var records = try Row.fetchAll(db.cached("""
                SELECT \(Self.deliveryColumns) FROM webhook_deliveries WHERE run_id = ? ORDER BY created_at, delivery_id
                """), arguments: [id]).map(Self.deliveryRecord)
            for index in records.indices {
                records[index].log = try Row.fetchAll(db.cached("""
                    SELECT attempt, at, status_code, error, duration_ms FROM webhook_attempts WHERE delivery_id = ? ORDER BY attempt
                    """), arguments: [records[index].id]).map {
                    DeliveryAttempt(attempt: $0["attempt"], at: Date(milliseconds: $0["at"]), statusCode: $0["status_code"],
                                    error: $0["error"], durationMilliseconds: $0["duration_ms"])
                }
            }
            return records
        }
    }
}

extension SQLiteStore: IdempotencyStore {
    public func claimIdempotency(scope: String, key: String, requestHash: String, now: Date) async throws -> IdempotencyClaim {
        try await writing { db in
            if let row = try Row.fetchOne(db.cached("""
                SELECT request_hash, status, headers, body FROM idempotency_keys WHERE scope = ? AND key = ?
                """), arguments: [scope, key]) {
                guard row["request_hash"] as String == requestHash else { return .mismatch }
                guard let status: Int = row["status"] else { return .inProgress }
                return .replay(IdempotentResponse(status: status, headers: row["headers"] ?? "[]", body: Array((row["body"] as Data?) ?? Data())))
            }
            try db.run("INSERT INTO idempotency_keys (scope, key, request_hash, created_at) VALUES (?, ?, ?, ?)",
                           arguments: [scope, key, requestHash, now.milliseconds])
            return .new
        }
    }

    public func completeIdempotency(scope: String, key: String, _ response: IdempotentResponse) async throws {
        try await writing { db in
            try db.run("UPDATE idempotency_keys SET status = ?, headers = ?, body = ? WHERE scope = ? AND key = ?",
                           arguments: [response.status, response.headers, Data(response.body), scope, key])
        }
    }

    public func releaseIdempotency(scope: String, key: String) async throws {
        try await writing { db in
            try db.run("DELETE FROM idempotency_keys WHERE scope = ? AND key = ? AND status IS NULL", arguments: [scope, key])
        }
    }

    public func pruneIdempotency(before: Date) async throws -> Int {
        try await writing { db in
            try db.run("DELETE FROM idempotency_keys WHERE created_at < ?", arguments: [before.milliseconds])
            return db.changesCount
        }
    }
}
