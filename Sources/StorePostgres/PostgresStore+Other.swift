import Foundation
import NIOCore
import PostgresNIO
import Store

extension PostgresStore: EventLog {
    public func appendEvents(run id: String, _ events: [EventRecord]) async throws {
        guard !events.isEmpty else { return }
        do {
            try await insertEvents(run: id, events, now: self.now().ms, on: nil)
        } catch let error as PSQLError {
            switch error.serverInfo?[.sqlState] {
            case "23503": throw StoreError.runNotFound(id)
            case "23505": throw StoreError.eventConflict(runID: id, seq: events[0].seq)
            default: throw error
            }
        }
    }

    /// One round trip for any number of a run's events, with the notice to readers on other hosts (in a transaction,
    /// sent at its commit).
    func insertEvents(run id: String, _ events: [EventRecord], now: Int64, on connection: PostgresConnection?) async throws {
        _ = try await rows("""
            WITH appended AS (
                INSERT INTO run_events (run_id, seq, event, data, created_at)
                SELECT \(id), e.seq, e.event, e.data, \(now)
                FROM unnest(\(events.map { Int64($0.seq) })::bigint[], \(events.map(\.event))::text[],
                            \(events.map { ByteBuffer(bytes: $0.data) })::bytea[]) AS e(seq, event, data)
                RETURNING run_id)
            SELECT pg_notify('agentfcgi_events', \(id)) WHERE EXISTS (SELECT 1 FROM appended)
            """, on: connection, "appendEvents")
    }

    public func events(run id: String, after seq: Int, limit: Int) async throws -> [EventRecord] {
        try await rows("""
            SELECT seq, event, data FROM run_events WHERE run_id = \(id) AND seq > \(Int64(seq)) ORDER BY seq LIMIT \(Int64(limit))
            """).map { EventRecord(seq: try $0.int("seq"), event: try $0.string("event"), data: try $0.bytes("data")) }
    }

    public func lastEventSeq(run id: String) async throws -> Int {
        try await rows("SELECT COALESCE(MAX(seq), 0) AS n FROM run_events WHERE run_id = \(id)")[0].int("n")
    }
}

extension PostgresStore: StoreNotifying {
    public var notifies: Bool { true }

    public func follow(_ handler: @escaping @Sendable (StoreNotice) -> Void) async throws {
        // One connection of the pool stays in LISTEN for as long as the worker runs.
        try await client.withConnection { connection in
            try await connection.listen(on: "agentfcgi_events") { notifications in
                for try await notification in notifications { StoreNotice(payload: notification.payload).map(handler) }
            }
        }
    }

    public func notify(_ notice: StoreNotice) async {
        // Best effort, like every notice: a lost one is found by the next look.
        _ = try? await rows("SELECT pg_notify('agentfcgi_events', \(notice.payload))")
    }
}

extension PostgresStore: WebhookStore {
    func insertDeliveries(_ deliveries: [NewDelivery], now: Int64, on connection: PostgresConnection) async throws {
        for delivery in deliveries {
            try await execute("""
                INSERT INTO webhook_deliveries (delivery_id, run_id, thread_id, url, event_type, payload, next_attempt_at, created_at, updated_at)
                VALUES (\(delivery.id), \(delivery.runID), \(delivery.threadID), \(delivery.url), \(delivery.eventType),
                        \(ByteBuffer(bytes: delivery.payload)), \(now), \(now), \(now))
                ON CONFLICT (delivery_id) DO NOTHING
                """, on: connection)
        }
    }

    static let deliveryColumns = "delivery_id, run_id, thread_id, url, event_type, payload, status, attempts, next_attempt_at, created_at, updated_at"

    static func delivery(_ row: PostgresRandomAccessRow) throws -> DeliveryRecord {
        DeliveryRecord(
            id: try row.string("delivery_id"), runID: try row.string("run_id"), threadID: try row.optionalString("thread_id"),
            url: try row.string("url"), eventType: try row.string("event_type"), payload: try row.bytes("payload"),
            status: DeliveryStatus(rawValue: try row.string("status")) ?? .pending, attempts: try row.int("attempts"),
            nextAttemptAt: Date(ms: try row.int64("next_attempt_at")), createdAt: Date(ms: try row.int64("created_at")),
            updatedAt: Date(ms: try row.int64("updated_at")))
    }

    public func nextDeliveryDue() async throws -> Date? {
        try await rows("""
            SELECT MIN(GREATEST(next_attempt_at, COALESCE(lease_until, 0))) AS due FROM webhook_deliveries WHERE status = 'pending'
            """).first.flatMap { try $0.optionalInt64("due") }.map { Date(ms: $0) }
    }

    public func claimDueDeliveries(worker: String, now: Date, leaseUntil: Date, limit: Int) async throws -> [DeliveryRecord] {
        try await rows("""
            UPDATE webhook_deliveries SET worker_id = \(worker), lease_until = \(leaseUntil.ms)
            WHERE delivery_id IN (
                SELECT delivery_id FROM webhook_deliveries
                WHERE status = 'pending' AND next_attempt_at <= \(now.ms) AND (lease_until IS NULL OR lease_until < \(now.ms))
                ORDER BY next_attempt_at LIMIT \(Int64(limit)) FOR UPDATE SKIP LOCKED)
            RETURNING \(unescaped: Self.deliveryColumns)
            """).map(Self.delivery).sorted { $0.nextAttemptAt < $1.nextAttemptAt }
    }

    public func recordDeliveryAttempt(_ id: String, worker: String, _ attempt: DeliveryAttempt, delivered: Bool, next: Date?) async throws {
        let now = self.now().ms
        let status: DeliveryStatus = delivered ? .delivered : (next == nil ? .failed : .pending)
        try await transaction { connection in
            try await self.execute("""
                INSERT INTO webhook_attempts (delivery_id, attempt, at, status_code, error, duration_ms)
                VALUES (\(id), \(Int64(attempt.attempt)), \(attempt.at.ms), \(attempt.statusCode.map(Int64.init)), \(attempt.error),
                        \(Int64(attempt.durationMilliseconds)))
                ON CONFLICT (delivery_id, attempt) DO UPDATE SET at = excluded.at, status_code = excluded.status_code,
                    error = excluded.error, duration_ms = excluded.duration_ms
                """, on: connection)
            try await self.execute("""
                UPDATE webhook_deliveries SET attempts = \(Int64(attempt.attempt)), status = \(status.rawValue),
                    next_attempt_at = COALESCE(\(next?.ms), next_attempt_at), updated_at = \(now), worker_id = NULL, lease_until = NULL
                WHERE delivery_id = \(id)
                """, on: connection)
        }
    }

    public func deliveries(run id: String) async throws -> [DeliveryRecord] {
        var records = try await rows("""
            SELECT \(unescaped: Self.deliveryColumns) FROM webhook_deliveries WHERE run_id = \(id) ORDER BY created_at, delivery_id
            """).map(Self.delivery)
        for index in records.indices {
            records[index].log = try await rows("""
                SELECT attempt, at, status_code, error, duration_ms FROM webhook_attempts WHERE delivery_id = \(records[index].id) ORDER BY attempt
                """).map {
                DeliveryAttempt(attempt: try $0.int("attempt"), at: Date(ms: try $0.int64("at")), statusCode: try $0.optionalInt("status_code"),
                                error: try $0.optionalString("error"), durationMilliseconds: try $0.int("duration_ms"))
            }
        }
        return records
    }
}

extension PostgresStore: IdempotencyStore {
    public func claimIdempotency(scope: String, key: String, requestHash: String, now: Date) async throws -> IdempotencyClaim {
        try await transaction { connection in
            let inserted = try await self.rows("""
                INSERT INTO idempotency_keys (scope, key, request_hash, created_at) VALUES (\(scope), \(key), \(requestHash), \(now.ms))
                ON CONFLICT (scope, key) DO NOTHING RETURNING key
                """, on: connection)
            if !inserted.isEmpty { return .new }
            guard let row = try await self.rows("""
                SELECT request_hash, status, headers, body FROM idempotency_keys WHERE scope = \(scope) AND key = \(key)
                """, on: connection).first else { return .inProgress }
            guard try row.string("request_hash") == requestHash else { return .mismatch }
            guard let status = try row.optionalInt("status") else { return .inProgress }
            let body: [UInt8] = (try? row.bytes("body")) ?? []
            return .replay(IdempotentResponse(status: status, headers: try row.optionalString("headers") ?? "[]", body: body))
        }
    }

    public func completeIdempotency(scope: String, key: String, _ response: IdempotentResponse) async throws {
        _ = try await rows("""
            UPDATE idempotency_keys SET status = \(Int64(response.status)), headers = \(response.headers), body = \(ByteBuffer(bytes: response.body))
            WHERE scope = \(scope) AND key = \(key)
            """)
    }

    public func releaseIdempotency(scope: String, key: String) async throws {
        _ = try await rows("DELETE FROM idempotency_keys WHERE scope = \(scope) AND key = \(key) AND status IS NULL")
    }

    public func pruneIdempotency(before: Date) async throws -> Int {
        try await rows("DELETE FROM idempotency_keys WHERE created_at < \(before.ms) RETURNING key").count
    }
}

extension PostgresStore: KeyStore {
    static func key(_ row: PostgresRandomAccessRow) throws -> APIKeyRecord {
        let scopes = (try? JSONDecoder().decode([String].self, from: Data(try row.string("scopes").utf8))) ?? []
        return APIKeyRecord(id: try row.string("key_id"), hash: try row.string("key_hash"), name: try row.string("name"),
                            tenant: try row.string("tenant"), scopes: scopes, maxConcurrentRuns: try row.optionalInt("max_concurrent_runs"),
                            dailyTokenBudget: try row.optionalInt("daily_token_budget"), createdAt: Date(ms: try row.int64("created_at")),
                            revokedAt: try row.optionalInt64("revoked_at").map(Date.init(ms:)))
    }

    public func createKey(_ key: APIKeyRecord) async throws {
        let scopes = String(decoding: try JSONEncoder().encode(key.scopes), as: UTF8.self)
        _ = try await rows("""
            INSERT INTO api_keys (key_id, key_hash, name, tenant, scopes, max_concurrent_runs, daily_token_budget, created_at)
            VALUES (\(key.id), \(key.hash), \(key.name), \(key.tenant), \(scopes), \(key.maxConcurrentRuns.map(Int64.init)),
                    \(key.dailyTokenBudget.map(Int64.init)), \(key.createdAt.ms))
            """)
    }

    public func key(hash: String) async throws -> APIKeyRecord? {
        try await rows("SELECT * FROM api_keys WHERE key_hash = \(hash) AND revoked_at IS NULL").first.map(Self.key)
    }

    public func key(id: String) async throws -> APIKeyRecord? {
        try await rows("SELECT * FROM api_keys WHERE key_id = \(id)").first.map(Self.key)
    }

    public func keys() async throws -> [APIKeyRecord] {
        try await rows("SELECT * FROM api_keys ORDER BY created_at, key_id").map(Self.key)
    }

    public func revokeKey(_ id: String) async throws -> Bool {
        !(try await rows("UPDATE api_keys SET revoked_at = \(now().ms) WHERE key_id = \(id) AND revoked_at IS NULL RETURNING key_id").isEmpty)
    }

    public func addUsage(key id: String, day: String, tokens: Int, runs: Int) async throws {
        try await addUsage(key: id, day: day, tokens: tokens, runs: runs, on: nil)
    }

    func addUsage(key id: String, day: String, tokens: Int, runs: Int = 1, on connection: PostgresConnection?) async throws {
        _ = try await rows("""
            INSERT INTO key_usage (key_id, day, tokens, runs) VALUES (\(id), \(day), \(Int64(tokens)), \(Int64(runs)))
            ON CONFLICT (key_id, day) DO UPDATE SET tokens = key_usage.tokens + excluded.tokens, runs = key_usage.runs + excluded.runs
            """, on: connection, "addUsage")
    }

    public func reserveTokens(key id: String, day: String, tokens: Int, limit: Int) async throws -> Int {
        try await transaction { connection in
            // The row first, then its lock: reservations of one key and day take turns.
            _ = try await self.rows("""
                INSERT INTO key_usage (key_id, day, tokens, runs) VALUES (\(id), \(day), 0, 0) ON CONFLICT (key_id, day) DO NOTHING
                """, on: connection)
            let spent = try await self.rows("SELECT tokens FROM key_usage WHERE key_id = \(id) AND day = \(day) FOR UPDATE", on: connection)
                .first.map { try $0.int("tokens") } ?? 0
            let granted = max(0, min(tokens, limit - spent))
            if granted > 0 {
                _ = try await self.rows("""
                    UPDATE key_usage SET tokens = tokens + \(Int64(granted)) WHERE key_id = \(id) AND day = \(day)
                    """, on: connection)
            }
            return granted
        }
    }

    public func usage(key id: String, day: String) async throws -> Int {
        try await rows("SELECT tokens FROM key_usage WHERE key_id = \(id) AND day = \(day)").first.map { try $0.int("tokens") } ?? 0
    }
}
