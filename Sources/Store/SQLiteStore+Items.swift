import Foundation
import GRDB

extension SQLiteStore: ItemStore {
    /// Not expired at `now` (bound as the next argument): an expired item is invisible before the prune deletes it.
    static let liveItem = "(i.expires_at IS NULL OR i.expires_at > ?)"

    static func itemRecord(_ row: Row) -> ItemRecord {
        ItemRecord(namespace: ItemText.labels(row["namespace"]), key: row["key"], value: row["value"],
                   createdAt: Date(milliseconds: row["created_at"]), updatedAt: Date(milliseconds: row["updated_at"]), score: row["score"])
    }

    public func putItem(_ item: NewItem) async throws {
        let now = self.now().milliseconds
        let ttl = item.ttl?.storedMilliseconds
        let (namespace, searchText) = (ItemText.namespace(item.namespace), item.searchText)
        try await writing { db in
            // An expired item the prune has not reached yet is replaced as a new one, its created_at too.
            try db.run("""
                INSERT INTO store_items (tenant, namespace, key, value, search_text, created_at, updated_at, ttl_ms, expires_at)
                VALUES (?, ?, ?, json(?), ?, ?, ?, ?, ?)
                ON CONFLICT (tenant, namespace, key) DO UPDATE SET
                    value = excluded.value, search_text = excluded.search_text, updated_at = excluded.updated_at,
                    ttl_ms = excluded.ttl_ms, expires_at = excluded.expires_at,
                    created_at = CASE WHEN store_items.expires_at <= excluded.updated_at THEN excluded.created_at
                                      ELSE store_items.created_at END
                """, arguments: [item.tenant, namespace, item.key, item.value, searchText, now, now, ttl, ttl.map { now + $0 }])
        }
    }

    public func item(tenant: String, namespace: [String], key: String, refreshTTL: Bool) async throws -> ItemRecord? {
        let (namespace, now) = (ItemText.namespace(namespace), self.now().milliseconds)
        let found = try await reading { db in
            try Row.fetchOne(db.cached("""
                SELECT i.rowid AS id, i.namespace, i.key, i.value, i.created_at, i.updated_at, i.ttl_ms, NULL AS score
                FROM store_items i WHERE i.tenant = ? AND i.namespace = ? AND i.key = ? AND \(Self.liveItem)
                """), arguments: [tenant, namespace, key, now]).map(Self.found)
        }
        guard let found else { return nil }
        if refreshTTL, let id = found.expiring { try await refresh([id], now: now) }
        return found.record
    }

    /// A row read, and its rowid when it has a time to live (what a refresh updates).
    static func found(_ row: Row) -> (record: ItemRecord, expiring: Int64?) {
        (itemRecord(row), (row["ttl_ms"] as Int64?) == nil ? nil : row["id"])
    }

    /// Starts the time to live of these rows again: a write only when some have one, so that reading items without a
    /// TTL never waits for the write lock. Rows that expired meanwhile stay expired.
    func refresh(_ rowIDs: [Int64], now: Int64) async throws {
        guard !rowIDs.isEmpty else { return }
        try await writing { db in
            let marks = Array(repeating: "?", count: rowIDs.count).joined(separator: ", ")
            try db.execute(sql: """
                UPDATE store_items SET expires_at = ? + ttl_ms
                WHERE rowid IN (\(marks)) AND ttl_ms IS NOT NULL AND expires_at > ?
                """, arguments: StatementArguments([now]) + StatementArguments(rowIDs) + [now])
        }
    }

    public func deleteItem(tenant: String, namespace: [String], key: String) async throws -> Bool {
        let namespace = ItemText.namespace(namespace)
        return try await writing { db in
            try db.run("DELETE FROM store_items WHERE tenant = ? AND namespace = ? AND key = ?", arguments: [tenant, namespace, key])
            return db.changesCount > 0
        }
    }

    public func searchItems(_ query: ItemQuery) async throws -> [ItemRecord] {
        let now = self.now().milliseconds
        var conditions = ["i.tenant = ?", Self.liveItem]
        var arguments: StatementArguments = [query.tenant, now]
        Self.appendPrefix(query.namespacePrefix, to: &conditions, &arguments)
        for filter in query.filters {
            let path = Self.jsonPath(filter.key)
            switch filter.op {
            case .eq:
                conditions.append("json_extract(i.value, ?) IS json_extract(json(?), '$')")
                arguments += [path, filter.value]
            case .ne:
                // A value without the key is not equal to it either (LangGraph's in-memory store does the same).
                conditions.append("json_extract(i.value, ?) IS NOT json_extract(json(?), '$')")
                arguments += [path, filter.value]
            case .gt, .gte, .lt, .lte:
                // Numbers with numbers, text with text: SQLite would otherwise rank every number below every text.
                let op = switch filter.op { case .gt: ">"; case .gte: ">="; case .lt: "<"; default: "<=" }
                conditions.append("""
                    (\(Self.typeClass("json_type(i.value, ?)")) = \(Self.typeClass("json_type(json(?))"))
                     AND json_extract(i.value, ?) \(op) json_extract(json(?), '$'))
                    """)
                arguments += [path, filter.value, path, filter.value]
            }
        }
        let source: String, score: String, order: String
        if query.query != nil {
            let terms = query.terms
            guard !terms.isEmpty else { return [] }
            // Each word quoted: a word is never FTS5 syntax. Any word matches; bm25 ranks (lower is better).
            conditions.insert("store_items_fts MATCH ?", at: 0)
            arguments = StatementArguments([terms.map { "\"\($0)\"" }.joined(separator: " OR ")]) + arguments
            source = "store_items_fts JOIN store_items i ON i.rowid = store_items_fts.rowid"
            (score, order) = ("-bm25(store_items_fts)", "bm25(store_items_fts), i.updated_at DESC, i.namespace, i.key")
        } else {
            source = "store_items i"
            (score, order) = ("NULL", "i.updated_at DESC, i.namespace, i.key")
        }
        arguments += [query.limit, query.offset]
        let rows = try await reading { [conditions, arguments] db in
            try Row.fetchAll(db, sql: """
                SELECT i.rowid AS id, i.namespace, i.key, i.value, i.created_at, i.updated_at, i.ttl_ms, \(score) AS score
                FROM \(source) WHERE \(conditions.joined(separator: " AND "))
                ORDER BY \(order) LIMIT ? OFFSET ?
                """, arguments: arguments).map(Self.found)
        }
        if query.refreshTTL { try await refresh(rows.compactMap(\.expiring), now: now) }
        return rows.map(\.record)
    }

    /// JSON types as comparable classes: integer and real are both numbers. `type` appears once: it holds a placeholder.
    static func typeClass(_ type: String) -> String {
        "replace(replace(\(type), 'integer', 'number'), 'real', 'number')"
    }

    /// The namespace and those below it: a range of the text (`.` + 1 is `/`), which the primary key's index serves.
    static func appendPrefix(_ prefix: [String], to conditions: inout [String], _ arguments: inout StatementArguments) {
        guard !prefix.isEmpty else { return }
        let text = ItemText.namespace(prefix)
        conditions.append("(i.namespace = ? OR (i.namespace >= ? AND i.namespace < ?))")
        arguments += [text, text + ".", text + "/"]
    }

    public func listNamespaces(_ query: NamespaceQuery) async throws -> [[String]] {
        var conditions = ["i.tenant = ?", Self.liveItem]
        var arguments: StatementArguments = [query.tenant, now().milliseconds]
        Self.appendPrefix(query.fixedPrefix, to: &conditions, &arguments)
        let stored = try await reading { [conditions, arguments] db in
            try String.fetchAll(db, sql: "SELECT DISTINCT i.namespace FROM store_items i WHERE \(conditions.joined(separator: " AND "))",
                                arguments: arguments)
        }
        return query.page(of: stored)
    }

    public func pruneItems(now: Date) async throws -> Int {
        try await writing { db in
            try db.run("DELETE FROM store_items WHERE expires_at IS NOT NULL AND expires_at <= ?", arguments: [now.milliseconds])
            return db.changesCount
        }
    }
}
