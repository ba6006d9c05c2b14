import AgentRuntime
import Crypto
import Foundation
import Store

/// Who a run works for: what its agent's memory is keyed by.
public struct RunCaller: Sendable, Equatable {
    public var tenant: String
    /// nil when the server runs without keys.
    public var keyID: String?
    /// The thread's metadata (empty for a stateless run).
    public var threadMetadata: [String: JSONValue]

    public init(tenant: String, keyID: String?, threadMetadata: [String: JSONValue] = [:]) {
        self.tenant = tenant
        self.keyID = keyID
        self.threadMetadata = threadMetadata
    }
}

/// An agent's memory in the store: one item per fact (`{"fact": ...}`), in a namespace of the caller's tenant:
/// `["memories", "key", <key id>]`, or `["memories", "metadata", <field>, <value>]` with `namespace_from: thread_metadata`.
final class StoreMemory: MemoryBackend {
    let store: any ItemStore
    let tenant: String
    let namespace: [String]

    init(store: any ItemStore, tenant: String, namespace: [String]) {
        self.store = store
        self.tenant = tenant
        self.namespace = namespace
    }

    /// Bound to the caller, or a memory that tells the model why there is none for this run.
    static func make(_ settings: MemorySettings, caller: RunCaller, store: any ItemStore) -> any MemoryBackend {
        switch namespace(settings, caller: caller) {
        case .success(let namespace): StoreMemory(store: store, tenant: caller.tenant, namespace: namespace)
        case .failure(let reason): UnboundMemory(reason: reason.message)
        }
    }

    static func namespace(_ settings: MemorySettings, caller: RunCaller) -> Result<[String], ToolError> {
        switch settings.namespaceFrom {
        case .key:
            guard let key = caller.keyID, !key.isEmpty else { return .failure(ToolError("memory is kept per API key, and this run has none")) }
            return .success(["memories", "key", key])
        case .threadMetadata:
            let field = settings.field ?? "user_id"
            let value: String
            switch caller.threadMetadata[field] {
            case .string(let text): value = text
            case .number(let number): value = number.rounded() == number && abs(number) < 1e15 ? String(Int64(number)) : String(number)
            default: return .failure(ToolError("memory is kept per thread metadata '\(field)', and this thread has none"))
            }
            // As the store API's labels: 1 to 256 characters, once `.` and `%` are escaped.
            let escaped = label(value)
            guard !value.isEmpty, escaped.count <= 256 else {
                return .failure(ToolError("the thread's metadata '\(field)' must be 1 to 256 characters (a . or % counts 3) to key memory"))
            }
            return .success(["memories", "metadata", label(field), escaped])
        }
    }

    /// A namespace label from any text: labels hold no `.`, so `%` and `.` are percent-encoded (reversibly).
    static func label(_ text: String) -> String {
        text.replacingOccurrences(of: "%", with: "%25").replacingOccurrences(of: ".", with: "%2E")
    }

    func remember(_ fact: String) async throws -> String {
        // The key is the fact's hash: the same fact is kept once, and a retried run does not add it twice.
        let key = SHA256.hash(data: Array(fact.utf8)).prefix(16).lowercaseHex
        let value = String(decoding: encodeJSON(["fact": fact]), as: UTF8.self)
        try await store.putItem(NewItem(tenant: tenant, namespace: namespace, key: key, value: value))
        return "remembered"
    }

    func recall(_ query: String, limit: Int) async throws -> [String] {
        let found = try await store.searchItems(ItemQuery(tenant: tenant, namespacePrefix: namespace, query: query, limit: limit,
                                                          refreshTTL: false))
        return found.compactMap { item in
            (try? JSONDecoder().decode([String: JSONValue].self, from: Data(item.value.utf8)))?["fact"].flatMap {
                if case .string(let fact) = $0 { fact } else { nil }
            }
        }
    }
}
