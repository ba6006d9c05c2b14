import GRDB

/// Schema changes as SQL with stable ids. Never edit a migration that has shipped: add a new one.
enum SQLiteMigrations {
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("0001-threads-runs-events") { db in
            try db.execute(sql: """
                CREATE TABLE threads (
                    thread_id TEXT PRIMARY KEY,
                    created_at INTEGER NOT NULL,
                    updated_at INTEGER NOT NULL,
                    metadata TEXT NOT NULL DEFAULT '{}',
                    status TEXT NOT NULL DEFAULT 'idle',
                    ttl_ms INTEGER,
                    expires_at INTEGER
                );
                CREATE INDEX threads_by_update ON threads(updated_at);
                CREATE INDEX threads_by_expiry ON threads(expires_at) WHERE expires_at IS NOT NULL;

                CREATE TABLE messages (
                    thread_id TEXT NOT NULL REFERENCES threads(thread_id) ON DELETE CASCADE,
                    seq INTEGER NOT NULL,
                    run_id TEXT,
                    message_id TEXT NOT NULL,
                    body TEXT NOT NULL,
                    PRIMARY KEY (thread_id, seq)
                ) WITHOUT ROWID;

                CREATE TABLE checkpoints (
                    thread_id TEXT NOT NULL REFERENCES threads(thread_id) ON DELETE CASCADE,
                    seq INTEGER NOT NULL,
                    checkpoint_id TEXT NOT NULL UNIQUE,
                    parent_id TEXT,
                    run_id TEXT,
                    message_count INTEGER NOT NULL,
                    created_at INTEGER NOT NULL,
                    metadata TEXT NOT NULL DEFAULT '{}',
                    PRIMARY KEY (thread_id, seq)
                ) WITHOUT ROWID;

                CREATE TABLE runs (
                    queue_seq INTEGER PRIMARY KEY AUTOINCREMENT,
                    run_id TEXT NOT NULL UNIQUE,
                    thread_id TEXT REFERENCES threads(thread_id) ON DELETE CASCADE,
                    assistant_id TEXT NOT NULL,
                    status TEXT NOT NULL,
                    created_at INTEGER NOT NULL,
                    updated_at INTEGER NOT NULL,
                    metadata TEXT NOT NULL DEFAULT '{}',
                    kwargs TEXT NOT NULL DEFAULT '{}',
                    multitask_strategy TEXT NOT NULL,
                    on_disconnect TEXT NOT NULL,
                    worker_id TEXT,
                    lease_until INTEGER,
                    attempts INTEGER NOT NULL DEFAULT 0,
                    cancel_action TEXT,
                    finished_at INTEGER,
                    result TEXT
                );
                CREATE INDEX runs_by_thread ON runs(thread_id, queue_seq);
                CREATE INDEX runs_active ON runs(status, lease_until) WHERE status IN ('pending', 'running');
                CREATE INDEX runs_by_finish ON runs(finished_at) WHERE finished_at IS NOT NULL;

                CREATE TABLE run_events (
                    run_id TEXT NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE,
                    seq INTEGER NOT NULL,
                    event TEXT NOT NULL,
                    data BLOB NOT NULL,
                    created_at INTEGER NOT NULL,
                    PRIMARY KEY (run_id, seq)
                ) WITHOUT ROWID;
                """)
        }
        migrator.registerMigration("0002-background-runs-webhooks-idempotency") { db in
            try db.execute(sql: """
                ALTER TABLE runs ADD COLUMN background INTEGER NOT NULL DEFAULT 0;
                ALTER TABLE runs ADD COLUMN not_before INTEGER;
                ALTER TABLE runs ADD COLUMN webhook TEXT;
                ALTER TABLE runs ADD COLUMN side_effects TEXT;
                ALTER TABLE runs ADD COLUMN attempt_log TEXT NOT NULL DEFAULT '[]';
                CREATE INDEX runs_queue ON runs(queue_seq) WHERE status = 'pending' AND worker_id IS NULL;

                CREATE TABLE webhook_deliveries (
                    delivery_id TEXT PRIMARY KEY,
                    run_id TEXT NOT NULL,
                    thread_id TEXT,
                    url TEXT NOT NULL,
                    event_type TEXT NOT NULL,
                    payload BLOB NOT NULL,
                    status TEXT NOT NULL DEFAULT 'pending',
                    attempts INTEGER NOT NULL DEFAULT 0,
                    next_attempt_at INTEGER NOT NULL,
                    created_at INTEGER NOT NULL,
                    updated_at INTEGER NOT NULL,
                    worker_id TEXT,
                    lease_until INTEGER
                );
                CREATE INDEX webhook_deliveries_due ON webhook_deliveries(next_attempt_at) WHERE status = 'pending';
                CREATE INDEX webhook_deliveries_by_run ON webhook_deliveries(run_id);

                CREATE TABLE webhook_attempts (
                    delivery_id TEXT NOT NULL REFERENCES webhook_deliveries(delivery_id) ON DELETE CASCADE,
                    attempt INTEGER NOT NULL,
                    at INTEGER NOT NULL,
                    status_code INTEGER,
                    error TEXT,
                    duration_ms INTEGER NOT NULL,
                    PRIMARY KEY (delivery_id, attempt)
                ) WITHOUT ROWID;

                CREATE TABLE idempotency_keys (
                    scope TEXT NOT NULL,
                    key TEXT NOT NULL,
                    request_hash TEXT NOT NULL,
                    status INTEGER,
                    headers TEXT,
                    body BLOB,
                    created_at INTEGER NOT NULL,
                    PRIMARY KEY (scope, key)
                ) WITHOUT ROWID;
                """)
        }
        migrator.registerMigration("0003-api-keys-tenants-usage") { db in
            try db.execute(sql: """
                CREATE TABLE api_keys (
                    key_id TEXT PRIMARY KEY,
                    key_hash TEXT NOT NULL UNIQUE,
                    name TEXT NOT NULL,
                    tenant TEXT NOT NULL,
                    scopes TEXT NOT NULL,
                    max_concurrent_runs INTEGER,
                    daily_token_budget INTEGER,
                    created_at INTEGER NOT NULL,
                    revoked_at INTEGER
                );
                CREATE TABLE key_usage (
                    key_id TEXT NOT NULL,
                    day TEXT NOT NULL,
                    tokens INTEGER NOT NULL DEFAULT 0,
                    runs INTEGER NOT NULL DEFAULT 0,
                    PRIMARY KEY (key_id, day)
                ) WITHOUT ROWID;
                ALTER TABLE threads ADD COLUMN tenant TEXT NOT NULL DEFAULT '';
                CREATE INDEX threads_by_tenant ON threads(tenant, created_at);
                ALTER TABLE runs ADD COLUMN key_id TEXT;
                CREATE INDEX runs_active_by_key ON runs(key_id) WHERE status IN ('pending', 'running');
                """)
        }
        migrator.registerMigration("0004-run-jobs") { db in
            // The run engine's typed job; rows queued before it are given one when a worker starts.
            try db.execute(sql: "ALTER TABLE runs ADD COLUMN job TEXT")
        }
        migrator.registerMigration("0005-thread-values") { db in
            // State keys beside the messages (LangGraph's open state).
            try db.execute(sql: "ALTER TABLE threads ADD COLUMN state_values TEXT NOT NULL DEFAULT '{}'")
        }
        migrator.registerMigration("0006-call-handles") { db in
            // MCP calls in flight by (key, JSON-RPC request id): a cancel may reach any worker.
            try db.execute(sql: """
                CREATE TABLE call_handles (
                    scope TEXT NOT NULL,
                    handle TEXT NOT NULL,
                    run_id TEXT NOT NULL,
                    created_at INTEGER NOT NULL,
                    PRIMARY KEY (scope, handle)
                ) WITHOUT ROWID;
                CREATE INDEX call_handles_by_age ON call_handles(created_at);
                """)
        }
        migrator.registerMigration("0007-assistants") { db in
            // A tenant's assistants and every version of each; the current one is a pointer, so choosing an older
            // version copies nothing. No index beyond the keys: a tenant has at most StoreLimits.maxAssistantsPerTenant.
            try db.execute(sql: """
                CREATE TABLE assistants (
                    tenant TEXT NOT NULL,
                    assistant_id TEXT NOT NULL,
                    version INTEGER NOT NULL,
                    created_at INTEGER NOT NULL,
                    updated_at INTEGER NOT NULL,
                    PRIMARY KEY (tenant, assistant_id)
                ) WITHOUT ROWID;

                CREATE TABLE assistant_versions (
                    tenant TEXT NOT NULL,
                    assistant_id TEXT NOT NULL,
                    version INTEGER NOT NULL,
                    graph_id TEXT NOT NULL,
                    name TEXT NOT NULL,
                    description TEXT,
                    config TEXT NOT NULL DEFAULT '{}',
                    context TEXT NOT NULL DEFAULT '{}',
                    metadata TEXT NOT NULL DEFAULT '{}',
                    created_at INTEGER NOT NULL,
                    PRIMARY KEY (tenant, assistant_id, version),
                    FOREIGN KEY (tenant, assistant_id) REFERENCES assistants(tenant, assistant_id) ON DELETE CASCADE
                ) WITHOUT ROWID;
                """)
        }
        migrator.registerMigration("0008-store-items") { db in
            // LangGraph's store. A rowid table (not WITHOUT ROWID): the FTS5 index refers to its rows by rowid, and
            // holds only the index (external content), kept in step by the triggers. porter: "colours" finds "colour".
            // FTS5 comes with the system SQLite that GRDB links (Debian 12: libsqlite3 3.40, built with FTS5).
            try db.execute(sql: """
                CREATE TABLE store_items (
                    tenant TEXT NOT NULL,
                    namespace TEXT NOT NULL,
                    key TEXT NOT NULL,
                    value TEXT NOT NULL,
                    search_text TEXT NOT NULL DEFAULT '',
                    created_at INTEGER NOT NULL,
                    updated_at INTEGER NOT NULL,
                    ttl_ms INTEGER,
                    expires_at INTEGER,
                    PRIMARY KEY (tenant, namespace, key)
                );
                CREATE INDEX store_items_by_expiry ON store_items(expires_at) WHERE expires_at IS NOT NULL;
                CREATE INDEX store_items_by_update ON store_items(tenant, updated_at);

                CREATE VIRTUAL TABLE store_items_fts USING fts5(
                    search_text, content = 'store_items', content_rowid = 'rowid', tokenize = 'porter unicode61');
                CREATE TRIGGER store_items_ai AFTER INSERT ON store_items BEGIN
                    INSERT INTO store_items_fts(rowid, search_text) VALUES (new.rowid, new.search_text);
                END;
                CREATE TRIGGER store_items_ad AFTER DELETE ON store_items BEGIN
                    INSERT INTO store_items_fts(store_items_fts, rowid, search_text) VALUES ('delete', old.rowid, old.search_text);
                END;
                CREATE TRIGGER store_items_au AFTER UPDATE OF search_text ON store_items BEGIN
                    INSERT INTO store_items_fts(store_items_fts, rowid, search_text) VALUES ('delete', old.rowid, old.search_text);
                    INSERT INTO store_items_fts(rowid, search_text) VALUES (new.rowid, new.search_text);
                END;
                """)
        }
        migrator.registerMigration("0009-crons") { db in
            // A tenant's schedules, and one row per firing: its key (cron, time) is what makes a scheduled time run
            // once whichever worker gets there first. Firings outlive their cron: a thread still to clean up after
            // its run stays known.
            try db.execute(sql: """
                CREATE TABLE crons (
                    tenant TEXT NOT NULL,
                    cron_id TEXT NOT NULL,
                    key_id TEXT,
                    thread_id TEXT,
                    assistant_id TEXT NOT NULL,
                    schedule TEXT NOT NULL,
                    timezone TEXT,
                    end_time INTEGER,
                    enabled INTEGER NOT NULL,
                    on_run_completed TEXT NOT NULL,
                    payload TEXT NOT NULL,
                    metadata TEXT NOT NULL DEFAULT '{}',
                    job TEXT NOT NULL,
                    run_metadata TEXT NOT NULL DEFAULT '{}',
                    thread_metadata TEXT,
                    next_run_date INTEGER,
                    disabled_reason TEXT,
                    created_at INTEGER NOT NULL,
                    updated_at INTEGER NOT NULL,
                    PRIMARY KEY (tenant, cron_id)
                ) WITHOUT ROWID;
                CREATE UNIQUE INDEX crons_by_id ON crons(cron_id);
                CREATE INDEX crons_due ON crons(next_run_date) WHERE enabled = 1;

                CREATE TABLE cron_firings (
                    cron_id TEXT NOT NULL,
                    scheduled_at INTEGER NOT NULL,
                    tenant TEXT NOT NULL,
                    run_id TEXT NOT NULL,
                    thread_id TEXT,
                    status TEXT NOT NULL,
                    worker TEXT NOT NULL,
                    detail TEXT,
                    updated_at INTEGER NOT NULL,
                    PRIMARY KEY (cron_id, scheduled_at)
                ) WITHOUT ROWID;
                CREATE INDEX cron_firings_by_status ON cron_firings(status, updated_at);
                """)
        }
        // Stateless runs are not stored, yet count under their key's max_concurrent_runs on every worker: each holds a
        // place here while it runs, renewed by its worker, lapsing when that worker dies.
        migrator.registerMigration("0010-run-places") { db in
            try db.execute(sql: """
                CREATE TABLE run_places (
                    place_id TEXT PRIMARY KEY,
                    key_id TEXT NOT NULL,
                    expires_at INTEGER NOT NULL
                ) WITHOUT ROWID;
                CREATE INDEX run_places_by_key ON run_places(key_id, expires_at);
                """)
        }
        // A run paused for a person's approval leaves it on its thread until a run answers it.
        migrator.registerMigration("0011-pending-approvals") { db in
            try db.execute(sql: """
                ALTER TABLE threads ADD COLUMN pending_id TEXT;
                ALTER TABLE threads ADD COLUMN pending TEXT;
                """)
        }
        // Secrets every worker shares, made by the first that needs one.
        migrator.registerMigration("0012-secrets") { db in
            try db.execute(sql: "CREATE TABLE secrets (name TEXT PRIMARY KEY, value BLOB NOT NULL) WITHOUT ROWID")
        }
        // The pruning's reads had no index and read whole tables that grow with use (`SQLiteQueryPlanTests`).
        migrator.registerMigration("0013-pruning-indexes") { db in
            try db.execute(sql: """
                CREATE INDEX idempotency_keys_by_age ON idempotency_keys(created_at);
                CREATE INDEX threads_pending ON threads(pending_id) WHERE pending_id IS NOT NULL;
                CREATE INDEX webhook_deliveries_done ON webhook_deliveries(updated_at) WHERE status != 'pending';
                """)
        }
        return migrator
    }
}
