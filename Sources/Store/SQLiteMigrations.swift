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
        return migrator
    }
}
