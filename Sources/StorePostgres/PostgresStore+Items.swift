import Foundation
import PostgresNIO
import Store

extension PostgresStore: ItemStore {
    static func item(_ row: PostgresRandomAccessRow) throws -> ItemRecord {
        ItemRecord(namespace: ItemText.labels(try row.string("namespace")), key: try row.string("key"), value: try row.string("value"),
                   createdAt: Date(ms: try row.int64("created_at")), updatedAt: Date(ms: try row.int64("updated_at")),
                   score: try row["score"].decode(Double?.self))
    }

    public func putItem(_ item: NewItem) async throws {
        let (now, ttl) = (self.now().ms, item.ttl?.ms)
        let (namespace, searchText) = (ItemText.namespace(item.namespace), item.searchText)
        // An expired item the prune has not reached yet is replaced as a new one, its created_at too.
        _ = try await rows("""
            INSERT INTO store_items AS s (tenant, namespace, key, value, search_text, created_at, updated_at, ttl_ms, expires_at)
            VALUES (\(item.tenant), \(namespace), \(item.key), \(item.value)::jsonb, \(searchText), \(now), \(now), \(ttl),
                    \(ttl.map { now + $0 }))
            ON CONFLICT (tenant, namespace, key) DO UPDATE SET
                value = excluded.value, search_text = excluded.search_text, updated_at = excluded.updated_at,
                ttl_ms = excluded.ttl_ms, expires_at = excluded.expires_at,
                created_at = CASE WHEN s.expires_at <= excluded.updated_at THEN excluded.created_at ELSE s.created_at END
            """)
    }

    public func item(tenant: String, namespace: [String], key: String, refreshTTL: Bool) async throws -> ItemRecord? {
        let (namespace, now) = (ItemText.namespace(namespace), self.now().ms)
        // One statement: the item as it was read, and its time to live started again when asked.
        return try await rows("""
            WITH found AS (
                SELECT namespace, key, value::text AS value, created_at, updated_at, NULL::float8 AS score
                FROM store_items
                WHERE tenant = \(tenant) AND namespace = \(namespace) AND key = \(key) AND (expires_at IS NULL OR expires_at > \(now))),
            refreshed AS (
                UPDATE store_items s SET expires_at = \(now) + s.ttl_ms FROM found
                WHERE \(refreshTTL) AND s.tenant = \(tenant) AND s.namespace = found.namespace AND s.key = found.key
                    AND s.ttl_ms IS NOT NULL
                RETURNING 1)
            SELECT * FROM found
            """).first.map(Self.item)
    }

    public func deleteItem(tenant: String, namespace: [String], key: String) async throws -> Bool {
        let namespace = ItemText.namespace(namespace)
        return !(try await rows("DELETE FROM store_items WHERE tenant = \(tenant) AND namespace = \(namespace) AND key = \(key) RETURNING key")
            .isEmpty)
    }

    public func searchItems(_ query: ItemQuery) async throws -> [ItemRecord] {
        let terms = query.terms
        if query.query != nil, terms.isEmpty { return [] }
        // Any of the words (letters and digits only, never tsquery syntax), ranked by ts_rank.
        let words: String? = query.query == nil ? nil : terms.joined(separator: " | ")
        let (prefix, now) = (ItemText.namespace(query.namespacePrefix), self.now().ms)
        // The filters as one bound JSON array, each row a condition that must hold: a query has a fixed text, whatever
        // the number of filters. Ranges compare numbers with numbers and strings with strings only.
        return try await rows("""
            WITH found AS (
                SELECT namespace, key, value::text AS value, created_at, updated_at,
                       CASE WHEN \(words)::text IS NULL THEN NULL
                            ELSE ts_rank(search_vector, to_tsquery('english'::regconfig, \(words)::text))::float8 END AS score
                FROM store_items i
                WHERE tenant = \(query.tenant) AND (expires_at IS NULL OR expires_at > \(now))
                    AND (\(prefix)::text = '' OR namespace = \(prefix)::text
                         OR (namespace >= (\(prefix)::text || '.') AND namespace < (\(prefix)::text || '/')))
                    AND (\(words)::text IS NULL OR search_vector @@ to_tsquery('english'::regconfig, \(words)::text))
                    AND NOT EXISTS (
                        SELECT 1 FROM jsonb_to_recordset(\(Self.filterJSON(query.filters))::jsonb) AS f(k text, op text, v jsonb)
                        WHERE NOT COALESCE(CASE f.op
                            WHEN 'eq' THEN (i.value -> f.k) = f.v
                            WHEN 'ne' THEN (i.value -> f.k) IS DISTINCT FROM f.v
                            ELSE jsonb_typeof(i.value -> f.k) = jsonb_typeof(f.v) AND CASE f.op
                                WHEN 'gt' THEN (i.value -> f.k) > f.v
                                WHEN 'gte' THEN (i.value -> f.k) >= f.v
                                WHEN 'lt' THEN (i.value -> f.k) < f.v
                                ELSE (i.value -> f.k) <= f.v END
                            END, false))
                ORDER BY score DESC NULLS LAST, updated_at DESC, namespace, key COLLATE "C"
                LIMIT \(Int64(query.limit)) OFFSET \(Int64(query.offset))),
            refreshed AS (
                UPDATE store_items s SET expires_at = \(now) + s.ttl_ms FROM found
                WHERE \(query.refreshTTL) AND s.tenant = \(query.tenant) AND s.namespace = found.namespace AND s.key = found.key
                    AND s.ttl_ms IS NOT NULL
                RETURNING 1)
            SELECT * FROM found ORDER BY score DESC NULLS LAST, updated_at DESC, namespace, key COLLATE "C"
            """).map(Self.item)
    }

    /// `[{"k": key, "op": "eq", "v": value}, ...]`: the operands are JSON already.
    static func filterJSON(_ filters: [ItemFilter]) -> String {
        let entries = filters.map { filter in
            let key = String(decoding: (try? JSONEncoder().encode(filter.key)) ?? Data("\"\"".utf8), as: UTF8.self)
            return #"{"k":\#(key),"op":"\#(filter.op.rawValue)","v":\#(filter.value)}"#
        }
        return "[" + entries.joined(separator: ",") + "]"
    }

    public func listNamespaces(_ query: NamespaceQuery) async throws -> [[String]] {
        let prefix = ItemText.namespace(query.fixedPrefix)
        let stored = try await rows("""
            SELECT DISTINCT namespace FROM store_items
            WHERE tenant = \(query.tenant) AND (expires_at IS NULL OR expires_at > \(now().ms))
                AND (\(prefix)::text = '' OR namespace = \(prefix)::text
                     OR (namespace >= (\(prefix)::text || '.') AND namespace < (\(prefix)::text || '/')))
            """).map { try $0.string("namespace") }
        return query.page(of: stored)
    }

    public func pruneItems(now: Date) async throws -> Int {
        try await rows("""
            WITH gone AS (DELETE FROM store_items WHERE expires_at IS NOT NULL AND expires_at <= \(now.ms) RETURNING 1)
            SELECT COUNT(*) AS n FROM gone
            """).first.map { try $0.int("n") } ?? 0
    }
}
