import Logging
import PostgresNIO

/// Schema changes as SQL with stable ids, applied under an advisory lock so that many workers starting at once
/// migrate exactly once. Never edit a migration that has shipped: add one.
enum PostgresMigrations {
    static let lockKey: Int64 = 0x6167_656E_7466_6367  // "agentfcg"

    static let migrations: [(id: String, sql: [String])] = [
        ("0001-threads-runs-events-background-webhooks-keys", [
            """
            CREATE TABLE threads (
                thread_id TEXT PRIMARY KEY, created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL,
                metadata JSONB NOT NULL DEFAULT '{}', status TEXT NOT NULL DEFAULT 'idle', ttl_ms BIGINT, expires_at BIGINT,
                tenant TEXT NOT NULL DEFAULT '')
            """,
            "CREATE INDEX threads_by_tenant ON threads(tenant, created_at)",
            "CREATE INDEX threads_by_expiry ON threads(expires_at) WHERE expires_at IS NOT NULL",
            """
            CREATE TABLE messages (
                thread_id TEXT NOT NULL REFERENCES threads(thread_id) ON DELETE CASCADE, seq BIGINT NOT NULL, run_id TEXT,
                message_id TEXT NOT NULL, body TEXT NOT NULL, PRIMARY KEY (thread_id, seq))
            """,
            """
            CREATE TABLE checkpoints (
                thread_id TEXT NOT NULL REFERENCES threads(thread_id) ON DELETE CASCADE, seq BIGINT NOT NULL,
                checkpoint_id TEXT NOT NULL UNIQUE, parent_id TEXT, run_id TEXT, message_count BIGINT NOT NULL,
                created_at BIGINT NOT NULL, metadata JSONB NOT NULL DEFAULT '{}', PRIMARY KEY (thread_id, seq))
            """,
            """
            CREATE TABLE runs (
                queue_seq BIGSERIAL PRIMARY KEY, run_id TEXT NOT NULL UNIQUE,
                thread_id TEXT REFERENCES threads(thread_id) ON DELETE CASCADE, assistant_id TEXT NOT NULL, status TEXT NOT NULL,
                created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL, metadata JSONB NOT NULL DEFAULT '{}',
                kwargs JSONB NOT NULL DEFAULT '{}', multitask_strategy TEXT NOT NULL, on_disconnect TEXT NOT NULL,
                worker_id TEXT, lease_until BIGINT, attempts BIGINT NOT NULL DEFAULT 0, cancel_action TEXT, finished_at BIGINT,
                result JSONB, background BOOLEAN NOT NULL DEFAULT false, not_before BIGINT, webhook TEXT, side_effects JSONB,
                attempt_log JSONB NOT NULL DEFAULT '[]', key_id TEXT)
            """,
            "CREATE INDEX runs_by_thread ON runs(thread_id, queue_seq)",
            "CREATE INDEX runs_active ON runs(status, lease_until) WHERE status IN ('pending', 'running')",
            "CREATE INDEX runs_queue ON runs(queue_seq) WHERE status = 'pending' AND worker_id IS NULL",
            "CREATE INDEX runs_active_by_key ON runs(key_id) WHERE status IN ('pending', 'running')",
            "CREATE INDEX runs_by_finish ON runs(finished_at) WHERE finished_at IS NOT NULL",
            """
            CREATE TABLE run_events (
                run_id TEXT NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE, seq BIGINT NOT NULL, event TEXT NOT NULL,
                data BYTEA NOT NULL, created_at BIGINT NOT NULL, PRIMARY KEY (run_id, seq))
            """,
            """
            CREATE TABLE webhook_deliveries (
                delivery_id TEXT PRIMARY KEY, run_id TEXT NOT NULL, thread_id TEXT, url TEXT NOT NULL, event_type TEXT NOT NULL,
                payload BYTEA NOT NULL, status TEXT NOT NULL DEFAULT 'pending', attempts BIGINT NOT NULL DEFAULT 0,
                next_attempt_at BIGINT NOT NULL, created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL, worker_id TEXT,
                lease_until BIGINT)
            """,
            "CREATE INDEX webhook_deliveries_due ON webhook_deliveries(next_attempt_at) WHERE status = 'pending'",
            "CREATE INDEX webhook_deliveries_by_run ON webhook_deliveries(run_id)",
            """
            CREATE TABLE webhook_attempts (
                delivery_id TEXT NOT NULL REFERENCES webhook_deliveries(delivery_id) ON DELETE CASCADE, attempt BIGINT NOT NULL,
                at BIGINT NOT NULL, status_code BIGINT, error TEXT, duration_ms BIGINT NOT NULL, PRIMARY KEY (delivery_id, attempt))
            """,
            """
            CREATE TABLE idempotency_keys (
                scope TEXT NOT NULL, key TEXT NOT NULL, request_hash TEXT NOT NULL, status BIGINT, headers TEXT, body BYTEA,
                created_at BIGINT NOT NULL, PRIMARY KEY (scope, key))
            """,
            """
            CREATE TABLE api_keys (
                key_id TEXT PRIMARY KEY, key_hash TEXT NOT NULL UNIQUE, name TEXT NOT NULL, tenant TEXT NOT NULL,
                scopes TEXT NOT NULL, max_concurrent_runs BIGINT, daily_token_budget BIGINT, created_at BIGINT NOT NULL,
                revoked_at BIGINT)
            """,
            """
            CREATE TABLE key_usage (
                key_id TEXT NOT NULL, day TEXT NOT NULL, tokens BIGINT NOT NULL DEFAULT 0, runs BIGINT NOT NULL DEFAULT 0,
                PRIMARY KEY (key_id, day))
            """,
        ]),
        // The run engine's typed job; rows queued before it are given one when a worker starts.
        ("0002-run-jobs", ["ALTER TABLE runs ADD COLUMN job TEXT"]),
        // State keys beside the messages (LangGraph's open state).
        ("0003-thread-values", ["ALTER TABLE threads ADD COLUMN state_values JSONB NOT NULL DEFAULT '{}'::jsonb"]),
        // MCP calls in flight by (key, JSON-RPC request id): a cancel may reach any worker.
        ("0004-call-handles", [
            """
            CREATE TABLE call_handles (
                scope TEXT NOT NULL, handle TEXT NOT NULL, run_id TEXT NOT NULL, created_at BIGINT NOT NULL,
                PRIMARY KEY (scope, handle))
            """,
            "CREATE INDEX call_handles_by_age ON call_handles(created_at)",
        ]),
        // A tenant's assistants and every version of each; the current one is a pointer, so choosing an older version
        // copies nothing. No index beyond the keys: a tenant has at most StoreLimits.maxAssistantsPerTenant.
        ("0005-assistants", [
            """
            CREATE TABLE assistants (
                tenant TEXT NOT NULL, assistant_id TEXT NOT NULL, version BIGINT NOT NULL, created_at BIGINT NOT NULL,
                updated_at BIGINT NOT NULL, PRIMARY KEY (tenant, assistant_id))
            """,
            """
            CREATE TABLE assistant_versions (
                tenant TEXT NOT NULL, assistant_id TEXT NOT NULL, version BIGINT NOT NULL, graph_id TEXT NOT NULL,
                name TEXT NOT NULL, description TEXT, config JSONB NOT NULL DEFAULT '{}', context JSONB NOT NULL DEFAULT '{}',
                metadata JSONB NOT NULL DEFAULT '{}', created_at BIGINT NOT NULL, PRIMARY KEY (tenant, assistant_id, version),
                FOREIGN KEY (tenant, assistant_id) REFERENCES assistants(tenant, assistant_id) ON DELETE CASCADE)
            """,
        ]),
        // LangGraph's store. Namespaces in byte order (COLLATE "C"), so that a prefix is a range of the key, as in SQLite.
        // The text search's vector is generated from the value's strings; 'english' stems as SQLite's porter does.
        ("0006-store-items", [
            """
            CREATE TABLE store_items (
                tenant TEXT NOT NULL, namespace TEXT COLLATE "C" NOT NULL, key TEXT NOT NULL, value JSONB NOT NULL,
                search_text TEXT NOT NULL DEFAULT '',
                search_vector TSVECTOR GENERATED ALWAYS AS (to_tsvector('english'::regconfig, search_text)) STORED,
                created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL, ttl_ms BIGINT, expires_at BIGINT,
                PRIMARY KEY (tenant, namespace, key))
            """,
            "CREATE INDEX store_items_search ON store_items USING GIN (search_vector)",
            "CREATE INDEX store_items_by_expiry ON store_items(expires_at) WHERE expires_at IS NOT NULL",
            "CREATE INDEX store_items_by_update ON store_items(tenant, updated_at)",
        ]),
        // A tenant's schedules, and one row per firing: its key (cron, time) is what makes a scheduled time run once
        // whichever worker of whichever host gets there first. Firings outlive their cron (a thread to clean up).
        ("0007-crons", [
            """
            CREATE TABLE crons (
                tenant TEXT NOT NULL, cron_id TEXT NOT NULL UNIQUE, key_id TEXT, thread_id TEXT, assistant_id TEXT NOT NULL,
                schedule TEXT NOT NULL, timezone TEXT, end_time BIGINT, enabled BOOLEAN NOT NULL, on_run_completed TEXT NOT NULL,
                payload JSONB NOT NULL, metadata JSONB NOT NULL DEFAULT '{}', job TEXT NOT NULL, run_metadata TEXT NOT NULL DEFAULT '{}',
                thread_metadata TEXT, next_run_date BIGINT, disabled_reason TEXT, created_at BIGINT NOT NULL,
                updated_at BIGINT NOT NULL, PRIMARY KEY (tenant, cron_id))
            """,
            "CREATE INDEX crons_due ON crons(next_run_date) WHERE enabled",
            """
            CREATE TABLE cron_firings (
                cron_id TEXT NOT NULL, scheduled_at BIGINT NOT NULL, tenant TEXT NOT NULL, run_id TEXT NOT NULL, thread_id TEXT,
                status TEXT NOT NULL, worker TEXT NOT NULL, detail TEXT, updated_at BIGINT NOT NULL,
                PRIMARY KEY (cron_id, scheduled_at))
            """,
            "CREATE INDEX cron_firings_by_status ON cron_firings(status, updated_at)",
        ]),
        // Places of stateless runs (not stored) under their key's max_concurrent_runs, on every host; a place lapses
        // when its worker stops renewing it.
        ("0008-run-places", [
            "CREATE TABLE run_places (place_id TEXT PRIMARY KEY, key_id TEXT NOT NULL, expires_at BIGINT NOT NULL)",
            "CREATE INDEX run_places_by_key ON run_places(key_id, expires_at)",
        ]),
        // A run paused for a person's approval leaves it on its thread until a run answers it.
        ("0009-pending-approvals", [
            "ALTER TABLE threads ADD COLUMN pending_id TEXT",
            "ALTER TABLE threads ADD COLUMN pending TEXT",
        ]),
        // Secrets every worker shares, made by the first that needs one.
        ("0010-secrets", [
            "CREATE TABLE secrets (name TEXT PRIMARY KEY, value TEXT NOT NULL)",
        ]),
        // The pruning's reads had no index and read whole tables that grow with use.
        ("0011-pruning-indexes", [
            "CREATE INDEX idempotency_keys_by_age ON idempotency_keys(created_at)",
            "CREATE INDEX threads_pending ON threads(pending_id) WHERE pending_id IS NOT NULL",
            "CREATE INDEX webhook_deliveries_done ON webhook_deliveries(updated_at) WHERE status <> 'pending'",
        ]),
    ]

    static func migrate(_ client: PostgresClient, logger: Logger) async throws {
        try await client.withTransaction(logger: logger) { connection in
            // Held until the transaction ends: a second worker waits here, then finds the work done.
            _ = try await connection.query("SELECT pg_advisory_xact_lock(\(lockKey))", logger: logger).collect()
            _ = try await connection.query(
                "CREATE TABLE IF NOT EXISTS schema_migrations (id TEXT PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())",
                logger: logger).collect()
            var applied: Set<String> = []
            for row in try await connection.query("SELECT id FROM schema_migrations", logger: logger).collect() {
                applied.insert(try row.decode(String.self))
            }
            for migration in migrations where !applied.contains(migration.id) {
                for statement in migration.sql {
                    _ = try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger).collect()
                }
                _ = try await connection.query("INSERT INTO schema_migrations (id) VALUES (\(migration.id))", logger: logger).collect()
            }
        }
    }
}
