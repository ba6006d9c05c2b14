import Foundation
import Store

/// Stored assistants: written through the engine, as every write is; the HTTP layer checks what they hold.
extension RunEngine {
    public func createAssistant(_ assistant: NewAssistant, ifExists: IfExists) async throws -> AssistantRecord {
        try await store.createAssistant(assistant, ifExists: ifExists)
    }

    public func updateAssistant(tenant: String, id: String, _ change: AssistantChange) async throws -> AssistantRecord? {
        try await store.updateAssistant(tenant: tenant, id: id, change, now: Date())
    }

    public func deleteAssistant(tenant: String, id: String) async throws -> Bool {
        try await store.deleteAssistant(tenant: tenant, id: id)
    }

    public func setAssistantVersion(tenant: String, id: String, version: Int) async throws -> AssistantRecord? {
        try await store.setAssistantVersion(tenant: tenant, id: id, version: version, now: Date())
    }
}

extension StoreReader {
    /// nil also when no store is configured: then only the configured agents exist.
    public func assistant(tenant: String, id: String) async throws -> AssistantRecord? {
        do {
            return try await store.assistant(tenant: tenant, id: id)
        } catch is UnavailableStore.Unavailable {
            return nil
        }
    }

    /// Empty when no store is configured.
    public func searchAssistants(_ query: AssistantQuery) async throws -> [AssistantRecord] {
        do {
            return try await store.searchAssistants(query)
        } catch is UnavailableStore.Unavailable {
            return []
        }
    }

    public func countAssistants(_ query: AssistantQuery) async throws -> Int {
        do {
            return try await store.countAssistants(query)
        } catch is UnavailableStore.Unavailable {
            return 0
        }
    }

    public func assistantVersions(tenant: String, id: String, metadata: [(key: String, value: JSONText)], limit: Int,
                                  offset: Int) async throws -> [AssistantRecord] {
        try await store.assistantVersions(tenant: tenant, id: id, metadata: metadata, limit: limit, offset: offset)
    }
}
