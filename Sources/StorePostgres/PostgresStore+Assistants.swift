import Foundation
import PostgresNIO
import Store

extension PostgresStore: AssistantStore {
    /// The current version of each assistant: its version row, with the assistant's own times and version.
    static let currentAssistants = """
        SELECT a.assistant_id, a.tenant, v.graph_id, v.name, v.description, v.config::text AS config, v.context::text AS context,
               v.metadata::text AS metadata, a.version, a.created_at, a.updated_at
        FROM assistants a
        JOIN assistant_versions v ON v.tenant = a.tenant AND v.assistant_id = a.assistant_id AND v.version = a.version
        """

    /// The first key of the two-key advisory locks that serialize a tenant's creations (the second is the tenant's
    /// hash); one-key locks, such as a key's run count, live in another space.
    static let assistantLockClass: Int32 = 0x6173_7374  // "asst"

    static func assistant(_ row: PostgresRandomAccessRow) throws -> AssistantRecord {
        AssistantRecord(
            id: try row.string("assistant_id"), tenant: try row.string("tenant"), graphID: try row.string("graph_id"),
            name: try row.string("name"), description: try row.optionalString("description"), config: try row.string("config"),
            context: try row.string("context"), metadata: try row.string("metadata"), version: try row.int("version"),
            createdAt: Date(ms: try row.int64("created_at")), updatedAt: Date(ms: try row.int64("updated_at")))
    }

    func fetchAssistant(tenant: String, id: String, on connection: PostgresConnection? = nil) async throws -> AssistantRecord? {
        try await rows("\(unescaped: Self.currentAssistants) WHERE a.tenant = \(tenant) AND a.assistant_id = \(id)", on: connection)
            .first.map(Self.assistant)
    }

    public func createAssistant(_ assistant: NewAssistant, ifExists: IfExists) async throws -> AssistantRecord {
        let now = assistant.now.ms
        return try await transaction { connection in
            // Row locks cannot stop an insert beside them: without this, two workers could both count 999 and both add.
            try await self.execute("SELECT pg_advisory_xact_lock(\(Self.assistantLockClass), hashtext(\(assistant.tenant)))",
                                   on: connection)
            let tenant = try await self.rows("""
                SELECT COUNT(*) AS n, COALESCE(bool_or(assistant_id = \(assistant.id)), false) AS taken
                FROM assistants WHERE tenant = \(assistant.tenant)
                """, on: connection)[0]
            if try tenant.bool("taken") {
                guard ifExists == .doNothing else { throw StoreError.assistantExists(assistant.id) }
                return try await self.fetchAssistant(tenant: assistant.tenant, id: assistant.id, on: connection)!
            }
            guard try tenant.int("n") < StoreLimits.maxAssistantsPerTenant else {
                throw StoreError.assistantLimit(limit: StoreLimits.maxAssistantsPerTenant)
            }
            // Both rows in one statement: the tenant's lock is held for fewer round trips.
            let made = try await self.rows("""
                WITH made AS (
                    INSERT INTO assistants (tenant, assistant_id, version, created_at, updated_at)
                    VALUES (\(assistant.tenant), \(assistant.id), 1, \(now), \(now))
                    RETURNING tenant, assistant_id, version, created_at)
                INSERT INTO assistant_versions (tenant, assistant_id, version, graph_id, name, description, config, context,
                                                metadata, created_at)
                SELECT tenant, assistant_id, version, \(assistant.graphID)::text, \(assistant.name)::text,
                       \(assistant.description)::text, \(assistant.config)::jsonb, \(assistant.context)::jsonb,
                       \(assistant.metadata)::jsonb, created_at
                FROM made
                RETURNING assistant_id, tenant, graph_id, name, description, config::text AS config, context::text AS context,
                          metadata::text AS metadata, version, created_at, created_at AS updated_at
                """, on: connection)
            return try Self.assistant(made[0])
        }
    }

    public func assistant(tenant: String, id: String) async throws -> AssistantRecord? {
        try await fetchAssistant(tenant: tenant, id: id)
    }

    public func updateAssistant(tenant: String, id: String, _ change: AssistantChange, now: Date) async throws -> AssistantRecord? {
        let now = now.ms
        return try await transaction { connection in
            // Locked so that two updates at once make versions n+1 and n+2, not two n+1. Above every version so far,
            // not the current one: after a step back to v1, the next is v3, never a second v2.
            let locked = try await self.rows("""
                SELECT version, (SELECT MAX(version) FROM assistant_versions WHERE tenant = \(tenant) AND assistant_id = \(id)) AS newest
                FROM assistants WHERE tenant = \(tenant) AND assistant_id = \(id) FOR UPDATE
                """, on: connection)
            guard let row = locked.first else { return nil }
            let (current, next) = (try row.int64("version"), try row.int64("newest") + 1)
            // The current version with each field the change has replaced; metadata merged by top-level key (`||`), and
            // only from an object, as SQLite does.
            try await self.execute("""
                INSERT INTO assistant_versions (tenant, assistant_id, version, graph_id, name, description, config, context,
                                                metadata, created_at)
                SELECT tenant, assistant_id, \(next), COALESCE(\(change.graphID)::text, graph_id), COALESCE(\(change.name)::text, name),
                       COALESCE(\(change.description)::text, description), COALESCE(\(change.config)::jsonb, config),
                       COALESCE(\(change.context)::jsonb, context),
                       CASE WHEN jsonb_typeof(\(change.metadata)::jsonb) = 'object' THEN metadata || \(change.metadata)::jsonb
                            ELSE metadata END,
                       \(now)
                FROM assistant_versions WHERE tenant = \(tenant) AND assistant_id = \(id) AND version = \(current)
                """, on: connection)
            try await self.execute("""
                UPDATE assistants SET version = \(next), updated_at = \(now) WHERE tenant = \(tenant) AND assistant_id = \(id)
                """, on: connection)
            return try await self.fetchAssistant(tenant: tenant, id: id, on: connection)
        }
    }

    public func deleteAssistant(tenant: String, id: String) async throws -> Bool {
        !(try await rows("DELETE FROM assistants WHERE tenant = \(tenant) AND assistant_id = \(id) RETURNING assistant_id").isEmpty)
    }

    public func searchAssistants(_ query: AssistantQuery) async throws -> [AssistantRecord] {
        try await rows(try Self.assistantSearch(query, counting: false)).map(Self.assistant)
    }

    public func countAssistants(_ query: AssistantQuery) async throws -> Int {
        try await rows(try Self.assistantSearch(query, counting: true)).first.map { try $0.int("n") } ?? 0
    }

    /// A search, or its count (the same rows, unlimited: LIMIT NULL is none). One query for both, as queries bind
    /// their values through interpolation and cannot be pieced together from parts.
    static func assistantSearch(_ query: AssistantQuery, counting: Bool) throws -> PostgresQuery {
        // Byte order (COLLATE "C") whatever the database's locale, as SQLite sorts text.
        let column = switch query.sortBy {
        case .assistantID: #"a.assistant_id COLLATE "C""#
        case .graphID: #"v.graph_id COLLATE "C""#
        case .name: #"v.name COLLATE "C""#
        case .createdAt: "a.created_at"
        case .updatedAt: "a.updated_at"
        }
        let filter = try metadataFilter(ThreadQuery(metadata: query.metadata)).0
        let (head, tail) = counting ? ("SELECT COUNT(*) AS n FROM (", ") found") : ("", "")
        // strpos, not LIKE: a % or _ in the name asked for is a character, not a wildcard.
        return """
            \(unescaped: head)\(unescaped: currentAssistants)
            WHERE a.tenant = \(query.tenant) AND (\(query.graphID)::text IS NULL OR v.graph_id = \(query.graphID))
                AND (\(query.name)::text IS NULL OR strpos(lower(v.name), lower(\(query.name)::text)) > 0)
                AND v.metadata @> \(filter)::jsonb
            ORDER BY \(unescaped: column) \(unescaped: query.descending ? "DESC" : "ASC"), a.assistant_id COLLATE "C"
            LIMIT \(counting ? nil : Int64(query.limit)) OFFSET \(counting ? 0 : Int64(query.offset))\(unescaped: tail)
            """
    }

    public func assistantVersions(tenant: String, id: String, metadata: [(key: String, value: JSONText)], limit: Int,
                                  offset: Int) async throws -> [AssistantRecord] {
        // Thread search's containment filter, on each version's own metadata.
        let filter = try Self.metadataFilter(ThreadQuery(metadata: metadata)).0
        // A version as it was made: both of its times are when it was made.
        return try await rows("""
            SELECT assistant_id, tenant, graph_id, name, description, config::text AS config, context::text AS context,
                   metadata::text AS metadata, version, created_at, created_at AS updated_at
            FROM assistant_versions
            WHERE tenant = \(tenant) AND assistant_id = \(id) AND metadata @> \(filter)::jsonb
            ORDER BY version DESC LIMIT \(Int64(limit)) OFFSET \(Int64(offset))
            """).map(Self.assistant)
    }

    public func setAssistantVersion(tenant: String, id: String, version: Int, now: Date) async throws -> AssistantRecord? {
        try await transaction { connection in
            let changed = try await self.rows("""
                UPDATE assistants SET version = \(Int64(version)), updated_at = \(now.ms)
                WHERE tenant = \(tenant) AND assistant_id = \(id) AND EXISTS (
                    SELECT 1 FROM assistant_versions WHERE tenant = \(tenant) AND assistant_id = \(id) AND version = \(Int64(version)))
                RETURNING assistant_id
                """, on: connection)
            guard !changed.isEmpty else { return nil }
            return try await self.fetchAssistant(tenant: tenant, id: id, on: connection)
        }
    }
}
