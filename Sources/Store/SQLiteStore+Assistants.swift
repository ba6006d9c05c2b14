import Foundation
import GRDB

extension SQLiteStore: AssistantStore {
    /// The current version of each assistant: its version row, with the assistant's own times and version.
    static let currentAssistants = """
        SELECT a.assistant_id, a.tenant, v.graph_id, v.name, v.description, v.config, v.context, v.metadata, a.version,
               a.created_at, a.updated_at
        FROM assistants a
        JOIN assistant_versions v ON v.tenant = a.tenant AND v.assistant_id = a.assistant_id AND v.version = a.version
        """

    static func assistantRecord(_ row: Row) -> AssistantRecord {
        AssistantRecord(
            id: row["assistant_id"], tenant: row["tenant"], graphID: row["graph_id"], name: row["name"],
            description: row["description"], config: row["config"], context: row["context"], metadata: row["metadata"],
            version: row["version"], createdAt: Date(milliseconds: row["created_at"]), updatedAt: Date(milliseconds: row["updated_at"]))
    }

    static func fetchAssistant(_ db: Database, tenant: String, id: String) throws -> AssistantRecord? {
        try Row.fetchOne(db.cached("\(currentAssistants) WHERE a.tenant = ? AND a.assistant_id = ?"), arguments: [tenant, id])
            .map(assistantRecord)
    }

    public func createAssistant(_ assistant: NewAssistant, ifExists: IfExists) async throws -> AssistantRecord {
        let now = assistant.now.milliseconds
        return try await writing { db in
            if let existing = try Self.fetchAssistant(db, tenant: assistant.tenant, id: assistant.id) {
                guard ifExists == .doNothing else { throw StoreError.assistantExists(assistant.id) }
                return existing
            }
            // Counted inside the write transaction, which SQLite runs one at a time: no two creations pass together.
            let count = try Int.fetchOne(db.cached("SELECT COUNT(*) FROM assistants WHERE tenant = ?"), arguments: [assistant.tenant]) ?? 0
            guard count < StoreLimits.maxAssistantsPerTenant else {
                throw StoreError.assistantLimit(limit: StoreLimits.maxAssistantsPerTenant)
            }
            try db.run("""
                INSERT INTO assistants (tenant, assistant_id, version, created_at, updated_at) VALUES (?, ?, 1, ?, ?)
                """, arguments: [assistant.tenant, assistant.id, now, now])
            try db.run("""
                INSERT INTO assistant_versions (tenant, assistant_id, version, graph_id, name, description, config, context,
                                                metadata, created_at)
                VALUES (?, ?, 1, ?, ?, ?, json(?), json(?), json(?), ?)
                """, arguments: [assistant.tenant, assistant.id, assistant.graphID, assistant.name, assistant.description,
                                 assistant.config, assistant.context, assistant.metadata, now])
            return try Self.fetchAssistant(db, tenant: assistant.tenant, id: assistant.id)!
        }
    }

    public func assistant(tenant: String, id: String) async throws -> AssistantRecord? {
        try await reading { db in try Self.fetchAssistant(db, tenant: tenant, id: id) }
    }

    public func updateAssistant(tenant: String, id: String, _ change: AssistantChange, now: Date) async throws -> AssistantRecord? {
        let now = now.milliseconds
        return try await writing { db in
            guard let current = try Self.fetchAssistant(db, tenant: tenant, id: id) else { return nil }
            // Above every version so far, not the current one: after a step back to v1, the next is v3, never a second v2.
            let version = (try Int.fetchOne(db.cached("SELECT MAX(version) FROM assistant_versions WHERE tenant = ? AND assistant_id = ?"),
                                            arguments: [tenant, id]) ?? 0) + 1
            let metadata = try change.metadata.map { try Self.mergeTopLevel(db, current.metadata, $0) } ?? current.metadata
            try db.run("""
                INSERT INTO assistant_versions (tenant, assistant_id, version, graph_id, name, description, config, context,
                                                metadata, created_at)
                VALUES (?, ?, ?, ?, ?, ?, json(?), json(?), json(?), ?)
                """, arguments: [tenant, id, version, change.graphID ?? current.graphID, change.name ?? current.name,
                                 change.description ?? current.description, change.config ?? current.config,
                                 change.context ?? current.context, metadata, now])
            try db.run("UPDATE assistants SET version = ?, updated_at = ? WHERE tenant = ? AND assistant_id = ?",
                           arguments: [version, now, tenant, id])
            return try Self.fetchAssistant(db, tenant: tenant, id: id)
        }
    }

    /// `current` with each top-level key of `update` set to its value (PostgreSQL's `||`). Not `json_patch`, which
    /// merges nested objects and deletes keys set to null. Keys are set one by one through `->`, which hands
    /// `json_set` JSON rather than SQL values (true stays true, not 1); it needs SQLite 3.38, Debian 12 has 3.40.
    static func mergeTopLevel(_ db: Database, _ current: JSONText, _ update: JSONText) throws -> JSONText {
        guard try String.fetchOne(db.cached("SELECT json_type(json(?))"), arguments: [update]) == "object" else { return current }
        var merged = current
        for key in try String.fetchAll(db.cached("SELECT key FROM json_each(json(?))"), arguments: [update]) {
            let path = jsonPath(key)
            merged = try String.fetchOne(db.cached("SELECT json_set(json(?), ?, json(?) -> ?)"), arguments: [merged, path, update, path])
                ?? merged
        }
        return merged
    }

    public func deleteAssistant(tenant: String, id: String) async throws -> Bool {
        try await writing { db in
            try db.run("DELETE FROM assistants WHERE tenant = ? AND assistant_id = ?", arguments: [tenant, id])
            return db.changesCount > 0
        }
    }

    public func searchAssistants(_ query: AssistantQuery) async throws -> [AssistantRecord] {
        let (filter, conditions) = Self.assistantFilter(query)
        let direction = query.descending ? "DESC" : "ASC"
        let column = switch query.sortBy {
        case .assistantID: "a.assistant_id"
        case .graphID: "v.graph_id"
        case .name: "v.name"
        case .createdAt: "a.created_at"
        case .updatedAt: "a.updated_at"
        }
        var arguments = conditions
        arguments += [query.limit, query.offset]
        return try await reading { [arguments] db in
            try Row.fetchAll(db, sql: """
                \(Self.currentAssistants) \(filter)
                ORDER BY \(column) \(direction), a.assistant_id LIMIT ? OFFSET ?
                """, arguments: arguments).map(Self.assistantRecord)
        }
    }

    public func countAssistants(_ query: AssistantQuery) async throws -> Int {
        let (filter, arguments) = Self.assistantFilter(query)
        return try await reading { db in
            try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM (\(Self.currentAssistants) \(filter))", arguments: arguments) ?? 0
        }
    }

    /// The WHERE clause of a search: the tenant, the graph, a part of the name, top-level metadata equality.
    static func assistantFilter(_ query: AssistantQuery) -> (String, StatementArguments) {
        var conditions = ["a.tenant = ?"]
        var arguments: StatementArguments = [query.tenant]
        if let graphID = query.graphID {
            conditions.append("v.graph_id = ?")
            arguments += [graphID]
        }
        if let name = query.name {
            // instr, not LIKE: a % or _ in the name asked for is a character, not a wildcard. GRDB's Swift lowercasing
            // folds every script, where SQLite's lower() folds ASCII only.
            conditions.append("instr(swiftLowercaseString(v.name), swiftLowercaseString(?)) > 0")
            arguments += [name]
        }
        appendMetadataConditions(query.metadata, column: "v.metadata", to: &conditions, &arguments)
        return ("WHERE " + conditions.joined(separator: " AND "), arguments)
    }

    /// Top-level equality per key, as thread search does (2 and "2" differ).
    static func appendMetadataConditions(_ metadata: [(key: String, value: JSONText)], column: String, to conditions: inout [String],
                                         _ arguments: inout StatementArguments) {
        for (key, value) in metadata {
            conditions.append("json_extract(\(column), ?) IS json_extract(json(?), '$')")
            arguments += [jsonPath(key), value]
        }
    }

    public func assistantVersions(tenant: String, id: String, metadata: [(key: String, value: JSONText)], limit: Int,
                                  offset: Int) async throws -> [AssistantRecord] {
        var conditions = ["tenant = ?", "assistant_id = ?"]
        var arguments: StatementArguments = [tenant, id]
        Self.appendMetadataConditions(metadata, column: "metadata", to: &conditions, &arguments)
        arguments += [limit, offset]
        return try await reading { [conditions, arguments] db in
            // A version as it was made: both of its times are when it was made.
            try Row.fetchAll(db, sql: """
                SELECT assistant_id, tenant, graph_id, name, description, config, context, metadata, version, created_at,
                       created_at AS updated_at
                FROM assistant_versions WHERE \(conditions.joined(separator: " AND "))
                ORDER BY version DESC LIMIT ? OFFSET ?
                """, arguments: arguments).map(Self.assistantRecord)
        }
    }

    public func setAssistantVersion(tenant: String, id: String, version: Int, now: Date) async throws -> AssistantRecord? {
        let now = now.milliseconds
        return try await writing { db in
            // Only to a version the assistant has; no row changes for a missing assistant or version.
            try db.run("""
                UPDATE assistants SET version = ?, updated_at = ?
                WHERE tenant = ? AND assistant_id = ? AND EXISTS (
                    SELECT 1 FROM assistant_versions WHERE tenant = ? AND assistant_id = ? AND version = ?)
                """, arguments: [version, now, tenant, id, tenant, id, version])
            guard db.changesCount > 0 else { return nil }
            return try Self.fetchAssistant(db, tenant: tenant, id: id)
        }
    }
}
