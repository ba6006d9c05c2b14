import Foundation
import Store

/// Items of LangGraph's store: written through the engine, as every write is; the HTTP layer checks what they hold.
extension RunEngine {
    public func putItem(_ item: NewItem) async throws {
        try await store.putItem(item)
    }

    public func deleteItem(tenant: String, namespace: [String], key: String) async throws -> Bool {
        try await store.deleteItem(tenant: tenant, namespace: namespace, key: key)
    }
}

extension StoreReader {
    /// A read that may start the item's time to live again (`refreshTTL`), as LangGraph's reads do by default.
    public func item(tenant: String, namespace: [String], key: String, refreshTTL: Bool) async throws -> ItemRecord? {
        try await store.item(tenant: tenant, namespace: namespace, key: key, refreshTTL: refreshTTL)
    }

    public func searchItems(_ query: ItemQuery) async throws -> [ItemRecord] { try await store.searchItems(query) }
    public func listNamespaces(_ query: NamespaceQuery) async throws -> [[String]] { try await store.listNamespaces(query) }
}
