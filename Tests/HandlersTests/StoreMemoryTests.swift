import AgentRuntime
import Foundation
@testable import Handlers
import Runs
import Store
import Testing

/// The `memory:` agent option: `remember` in one thread, `recall` in another, keyed by the API key or by a thread
/// metadata field, never across tenants.
@Suite struct StoreMemoryTests {
    static let agents = ThreadHarness.agents + [
        AgentDefinition(id: "mem", model: ModelSettings(tokenDelay: .zero), memory: MemorySettings()),
        AgentDefinition(id: "mem-user", model: ModelSettings(tokenDelay: .zero),
                        memory: MemorySettings(namespaceFrom: .threadMetadata, field: "user_id")),
    ]

    func call(_ h: ThreadHarness, _ method: String, _ path: String, _ body: String? = nil, key: String) async -> Response {
        await h.call(method, path, body, headers: [("X-Api-Key", key)])
    }

    /// A run on a new thread (with `metadata`), answering with the last message's content.
    func say(_ h: ThreadHarness, _ text: String, agent: String, key: String, metadata: String = "{}") async throws -> String {
        let thread = try #require(try await jsonObject(call(h, "POST", "/threads", #"{"metadata":\#(metadata)}"#, key: key))["thread_id"] as? String)
        let escaped = text.replacingOccurrences(of: "\"", with: "\\\"")
        let values = try await jsonObject(call(h, "POST", "/threads/\(thread)/runs/wait", ThreadHarness.input(escaped, agent: agent), key: key))
        return messageContents(values).last ?? ""
    }

    @Test func rememberedInOneThreadRecalledInAnotherPerKey() async throws {
        let h = try ThreadHarness(agents: Self.agents, requireKeys: true)
        let key = try await h.makeKey(tenant: "a", scopes: ["admin"])
        let otherKey = try await h.makeKey(tenant: "a", scopes: ["admin"])
        let otherTenant = try await h.makeKey(tenant: "b", scopes: ["admin"])
        #expect(try await say(h, #"remember {"fact": "My favourite colour is teal."}"#, agent: "mem", key: key) == "remember returned remembered.")
        _ = try await say(h, #"remember {"fact": "I live in Lisbon."}"#, agent: "mem", key: key)
        let recalled = try await say(h, #"recall {"query": "what is my favourite colour"}"#, agent: "mem", key: key)
        #expect(recalled.hasPrefix("recall returned My favourite colour is teal."), "\(recalled)")
        #expect(try await say(h, #"recall {"query": "Lisbon"}"#, agent: "mem", key: key) == "recall returned I live in Lisbon..")
        // Another key of the tenant, another tenant: their own (empty) memories.
        #expect(try await say(h, #"recall {"query": "colour"}"#, agent: "mem", key: otherKey) == "recall returned nothing remembered about that.")
        #expect(try await say(h, #"recall {"query": "colour"}"#, agent: "mem", key: otherTenant) == "recall returned nothing remembered about that.")
        // The facts are store items of the key's namespace, which the store API lists.
        let listed = try await jsonObject(call(h, "POST", "/store/namespaces", #"{"prefix":["memories"]}"#, key: key))
        let keyID = String(key.dropFirst(4).prefix(12))
        #expect(listed["namespaces"] as? [[String]] == [["memories", "key", keyID]])
        // A stateless run of the same key reaches them too (its key's tenant, no thread).
        let stateless = try await jsonObject(call(h, "POST", "/runs/wait", ThreadHarness.input(#"recall {\"query\": \"Lisbon\"}"#, agent: "mem"),
                                                  key: key))
        #expect(messageContents(stateless).last == "recall returned I live in Lisbon..")
        // Remembering the same fact again keeps it once.
        _ = try await say(h, #"remember {"fact": "I live in Lisbon."}"#, agent: "mem", key: key)
        #expect(try await h.store.searchItems(ItemQuery(tenant: "a", namespacePrefix: ["memories"])).count == 2)
    }

    @Test func keyedByAThreadMetadataField() async throws {
        let h = try ThreadHarness(agents: Self.agents, requireKeys: true)
        let app = try await h.makeKey(tenant: "a", scopes: ["admin"])
        let sameTenant = try await h.makeKey(tenant: "a", scopes: ["admin"])
        let otherTenant = try await h.makeKey(tenant: "b", scopes: ["admin"])
        let ann = #"{"user_id":"ann@example.com"}"#
        _ = try await say(h, #"remember {"fact": "Ann likes green tea."}"#, agent: "mem-user", key: app, metadata: ann)
        // Any key of the tenant that names the user on its thread reaches that user's memories; another user does not.
        #expect(try await say(h, #"recall {"query": "tea"}"#, agent: "mem-user", key: sameTenant, metadata: ann)
            == "recall returned Ann likes green tea..")
        #expect(try await say(h, #"recall {"query": "tea"}"#, agent: "mem-user", key: app, metadata: #"{"user_id":"bob"}"#)
            == "recall returned nothing remembered about that.")
        #expect(try await say(h, #"recall {"query": "tea"}"#, agent: "mem-user", key: otherTenant, metadata: ann)
            == "recall returned nothing remembered about that.")
        // Without the field, the tool says why instead of guessing.
        let refused = try await say(h, #"recall {"query": "tea"}"#, agent: "mem-user", key: app)
        #expect(refused.contains("user_id"), "\(refused)")
        // The dot of the e-mail address is escaped in the label.
        let listed = try await jsonObject(call(h, "POST", "/store/namespaces", #"{"prefix":["memories"]}"#, key: app))
        #expect(listed["namespaces"] as? [[String]] == [["memories", "metadata", "user_id", "ann@example%2Ecom"]])
    }

    @Test func withoutKeysThereIsNoOneToRememberFor() async throws {
        let h = try ThreadHarness(agents: Self.agents)
        let values = try await jsonObject(h.call("POST", "/runs/wait", ThreadHarness.input(#"remember {\"fact\": \"x\"}"#, agent: "mem")))
        #expect(messageContents(values).last?.contains("per API key, and this run has none") == true, "\(values)")
        #expect(try await h.store.searchItems(ItemQuery(tenant: "")).isEmpty)
    }

    @Test func theToolsAreListedAndRefuseOutsideRuns() async throws {
        let h = try ThreadHarness(agents: Self.agents, requireKeys: true)
        let key = try await h.makeKey(tenant: "a", scopes: ["admin"])
        let tools = try #require(try JSONSerialization.jsonObject(with: Data(try await bodyText(call(h, "GET", "/agents/mem/tools", key: key)).utf8))
            as? [[String: Any]])
        #expect(tools.compactMap { $0["name"] as? String } == ["remember", "recall"])
        let invoked = await call(h, "POST", "/agents/mem/tools/recall/invoke", #"{"arguments":{"query":"x"}}"#, key: key)
        #expect(invoked.status == 422)
    }
}
