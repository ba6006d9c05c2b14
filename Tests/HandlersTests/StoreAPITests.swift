import HTTPTypes
import AgentRuntime
import Foundation
@testable import Handlers
import Runs
import Store
import Synchronization
import Testing

/// A wall clock the test moves: the store's `now`, so that TTLs expire without sleeping.
final class MovableNow: Sendable {
    private let value = Mutex(Date(timeIntervalSince1970: 1_800_000_000))
    var now: Date { value.withLock { $0 } }
    func advance(_ seconds: TimeInterval) { value.withLock { $0 += seconds } }
}

/// LangGraph's store in-process: validation, tenants, scopes, TTLs, search. langgraph-sdk drives it live
/// (test_langgraph_store.py); the memory tool is in StoreMemoryTests.
@Suite struct StoreAPITests {
    func call(_ h: ThreadHarness, _ method: String, _ path: String, _ body: String? = nil, key: String) async -> Response {
        await h.call(method, path, body, headers: [("X-Api-Key", key)])
    }

    @Test func badInputIsAProblemNamingTheField() async throws {
        let h = try ThreadHarness(requireKeys: true)
        let key = try await h.makeKey(tenant: "a", scopes: ["store:read", "store:write"])
        let eleven = (1...11).map { "\"l\($0)\"" }.joined(separator: ",")
        let big = String(repeating: "x", count: 400_000)
        let cases: [(String, String, String?, Int, String, String)] = [
            ("PUT", "/store/items", "{}", 422, "validation_error", "namespace"),
            ("PUT", "/store/items", #"{"namespace":[],"key":"k","value":{}}"#, 422, "validation_error", "namespace"),
            ("PUT", "/store/items", #"{"namespace":[\#(eleven)],"key":"k","value":{}}"#, 422, "validation_error", "namespace"),
            ("PUT", "/store/items", #"{"namespace":["a.b"],"key":"k","value":{}}"#, 422, "validation_error", "namespace[0]"),
            ("PUT", "/store/items", #"{"namespace":["a",""],"key":"k","value":{}}"#, 422, "validation_error", "namespace[1]"),
            ("PUT", "/store/items", #"{"namespace":"a","key":"k","value":{}}"#, 422, "validation_error", "namespace"),
            ("PUT", "/store/items", #"{"namespace":["a"],"value":{}}"#, 422, "validation_error", "key"),
            ("PUT", "/store/items", #"{"namespace":["a"],"key":"","value":{}}"#, 422, "validation_error", "key"),
            ("PUT", "/store/items", #"{"namespace":["a"],"key":"k"}"#, 422, "validation_error", "value"),
            ("PUT", "/store/items", #"{"namespace":["a"],"key":"k","value":[1]}"#, 422, "validation_error", "value"),
            ("PUT", "/store/items", #"{"namespace":["a"],"key":"k","value":"text"}"#, 422, "validation_error", "value"),
            ("PUT", "/store/items", #"{"namespace":["a"],"key":"k","value":{"a":"\#(big)","b":"\#(big)","c":"\#(big)"}}"#,
             413, "value_too_large", "value"),
            ("PUT", "/store/items", #"{"namespace":["a"],"key":"k","value":{},"ttl":0}"#, 422, "validation_error", "ttl"),
            ("PUT", "/store/items", #"{"namespace":["a"],"key":"k","value":{},"ttl":"soon"}"#, 422, "validation_error", "ttl"),
            ("PUT", "/store/items", #"{"namespace":["a"],"key":"k","value":{},"index":"yes"}"#, 422, "validation_error", "index"),
            ("GET", "/store/items?key=k", nil, 422, "validation_error", "namespace"),
            ("GET", "/store/items?namespace=a..b&key=k", nil, 422, "validation_error", "namespace[1]"),
            ("GET", "/store/items?namespace=a", nil, 422, "validation_error", "key"),
            ("GET", "/store/items?namespace=a&key=k&refresh_ttl=maybe", nil, 422, "validation_error", "refresh_ttl"),
            ("DELETE", "/store/items", #"{"key":"k"}"#, 422, "validation_error", "namespace"),
            ("DELETE", "/store/items", #"{"namespace":["a"]}"#, 422, "validation_error", "key"),
            ("POST", "/store/items/search", #"{"limit":0}"#, 422, "validation_error", "limit"),
            ("POST", "/store/items/search", #"{"offset":-1}"#, 422, "validation_error", "offset"),
            ("POST", "/store/items/search", #"{"namespace_prefix":["a.b"]}"#, 422, "validation_error", "namespace_prefix[0]"),
            ("POST", "/store/items/search", #"{"filter":{"n":{"$regex":"x"}}}"#, 422, "validation_error", "filter.n.$regex"),
            ("POST", "/store/items/search", #"{"filter":{"n":{"$gt":[1]}}}"#, 422, "validation_error", "filter.n.$gt"),
            ("POST", "/store/items/search", #"{"filter":{"n":{"$gt":1,"other":2}}}"#, 422, "validation_error", "filter.n.other"),
            ("POST", "/store/namespaces", #"{"max_depth":0}"#, 422, "validation_error", "max_depth"),
            ("POST", "/store/namespaces", #"{"limit":1001}"#, 422, "validation_error", "limit"),
            ("POST", "/store/namespaces", #"{"suffix":[""]}"#, 422, "validation_error", "suffix[0]"),
        ]
        for (method, path, body, status, code, field) in cases {
            let response = await call(h, method, path, body, key: key)
            let label = "\(method) \(path) \(body?.prefix(80) ?? "")"
            #expect(response.status.code == status, "\(label): \(response.status)")
            #expect(response.headers[.contentType] == "application/problem+json", "\(label)")
            let problem = try await jsonObject(response)
            #expect(problem["code"] as? String == code, "\(label): \(problem)")
            #expect(problem["field"] as? String == field, "\(label): \(problem)")
        }
        let missing = await call(h, "GET", "/store/items?namespace=a&key=k", key: key)
        #expect(missing.status == 404)
        #expect(try await jsonObject(missing)["code"] as? String == "item_not_found")
        // Nothing was stored by any of them.
        #expect(try await h.store.searchItems(ItemQuery(tenant: "a")).isEmpty)
    }

    @Test func itemsBelongToTheirTenantAndTheScopesGuardThem() async throws {
        let h = try ThreadHarness(requireKeys: true)
        let a = try await h.makeKey(tenant: "a", scopes: ["store:read", "store:write"])
        let b = try await h.makeKey(tenant: "b", scopes: ["store:read", "store:write"])
        let reader = try await h.makeKey(tenant: "a", scopes: ["store:read"])
        let other = try await h.makeKey(tenant: "a", scopes: ["threads:read", "threads:write", "runs:write"])
        let put = #"{"namespace":["users","u1"],"key":"prefs","value":{"colour":"teal","n":3},"index":false}"#
        #expect(await call(h, "PUT", "/store/items", put, key: a).status == 204)
        let item = try await jsonObject(call(h, "GET", "/store/items?namespace=users.u1&key=prefs", key: a))
        #expect(item["namespace"] as? [String] == ["users", "u1"] && item["key"] as? String == "prefs")
        #expect(item["value"] as? NSDictionary == ["colour": "teal", "n": 3] as NSDictionary)
        #expect((item["created_at"] as? String)?.hasSuffix("Z") == true && item["updated_at"] is String && item["score"] == nil)

        // Tenant b sees nothing of a's, and its own item of the same name is another.
        #expect(await call(h, "GET", "/store/items?namespace=users.u1&key=prefs", key: b).status == 404)
        #expect(try await jsonObject(call(h, "POST", "/store/items/search", "{}", key: b))["items"] as? [Any] != nil)
        #expect((try await jsonObject(call(h, "POST", "/store/items/search", "{}", key: b))["items"] as? [Any])?.isEmpty == true)
        #expect((try await jsonObject(call(h, "POST", "/store/namespaces", "{}", key: b))["namespaces"] as? [[String]]) == [])
        #expect(await call(h, "DELETE", "/store/items", #"{"namespace":["users","u1"],"key":"prefs"}"#, key: b).status == 204)
        #expect(await call(h, "GET", "/store/items?namespace=users.u1&key=prefs", key: a).status == 200)
        #expect(await call(h, "PUT", "/store/items", #"{"namespace":["users","u1"],"key":"prefs","value":{"colour":"red"}}"#, key: b).status == 204)
        let theirs = try await jsonObject(call(h, "GET", "/store/items?namespace=users.u1&key=prefs", key: b))
        #expect(theirs["value"] as? [String: String] == ["colour": "red"])
        let ours = try await jsonObject(call(h, "GET", "/store/items?namespace=users.u1&key=prefs", key: a))
        #expect((ours["value"] as? [String: Any])?["colour"] as? String == "teal")
        #expect(try await jsonObject(call(h, "POST", "/store/namespaces", "{}", key: a))["namespaces"] as? [[String]] == [["users", "u1"]])

        // store:read reads and searches, never writes; keys without store scopes get nothing.
        #expect(await call(h, "GET", "/store/items?namespace=users.u1&key=prefs", key: reader).status == 200)
        #expect(await call(h, "POST", "/store/items/search", "{}", key: reader).status == 200)
        #expect(await call(h, "POST", "/store/namespaces", "{}", key: reader).status == 200)
        #expect(await call(h, "PUT", "/store/items", put, key: reader).status == 403)
        #expect(await call(h, "DELETE", "/store/items", #"{"namespace":["users","u1"],"key":"prefs"}"#, key: reader).status == 403)
        for (method, path, body) in [("GET", "/store/items?namespace=users.u1&key=prefs", nil), ("POST", "/store/items/search", "{}"),
                                     ("POST", "/store/namespaces", "{}"), ("PUT", "/store/items", put)] as [(String, String, String?)] {
            let response = await call(h, method, path, body, key: other)
            #expect(response.status == 403, "\(method) \(path)")
        }
        #expect(await call(h, "GET", "/store/items?namespace=users.u1&key=prefs", key: "afk_nope_nope").status == 401)

        // Deleting is idempotent.
        #expect(await call(h, "DELETE", "/store/items", #"{"namespace":["users","u1"],"key":"prefs"}"#, key: a).status == 204)
        #expect(await call(h, "GET", "/store/items?namespace=users.u1&key=prefs", key: a).status == 404)
        #expect(await call(h, "DELETE", "/store/items", #"{"namespace":["users","u1"],"key":"prefs"}"#, key: a).status == 204)
        #expect(await call(h, "GET", "/store/items?namespace=users.u1&key=prefs", key: b).status == 200)
    }

    @Test func ttlIsInMinutesRefreshedByReadsAndExpiredItemsVanish() async throws {
        let clock = MovableNow()
        let h = try ThreadHarness(requireKeys: true, now: { clock.now })
        let key = try await h.makeKey(tenant: "a", scopes: ["store:read", "store:write"])
        #expect(await call(h, "PUT", "/store/items", #"{"namespace":["s"],"key":"k","value":{"text":"short lived"},"ttl":1}"#, key: key).status == 204)
        #expect(await call(h, "PUT", "/store/items", #"{"namespace":["s"],"key":"forever","value":{"text":"long lived"}}"#, key: key).status == 204)
        clock.advance(50)
        #expect(await call(h, "GET", "/store/items?namespace=s&key=k", key: key).status == 200)  // expires at 110 s now
        clock.advance(50)
        #expect(await call(h, "GET", "/store/items?namespace=s&key=k&refresh_ttl=false", key: key).status == 200)
        clock.advance(15)
        #expect(await call(h, "GET", "/store/items?namespace=s&key=k", key: key).status == 404)
        let found = try await jsonObject(call(h, "POST", "/store/items/search", #"{"query":"lived"}"#, key: key))
        #expect((found["items"] as? [[String: Any]])?.map { $0["key"] as? String } == ["forever"])
        #expect(try await h.store.pruneItems(now: clock.now) == 1)
        // A search refreshes what it finds unless told not to.
        #expect(await call(h, "PUT", "/store/items", #"{"namespace":["s"],"key":"k","value":{"text":"again"},"ttl":1}"#, key: key).status == 204)
        clock.advance(50)
        #expect(await call(h, "POST", "/store/items/search", #"{"namespace_prefix":["s"]}"#, key: key).status == 200)
        clock.advance(50)
        #expect(await call(h, "POST", "/store/items/search", #"{"refresh_ttl":false}"#, key: key).status == 200)
        clock.advance(15)
        #expect(await call(h, "GET", "/store/items?namespace=s&key=k", key: key).status == 404)
    }

    @Test func searchRanksByTextAndFilters() async throws {
        let h = try ThreadHarness(requireKeys: true)
        let key = try await h.makeKey(tenant: "a", scopes: ["store:read", "store:write"])
        let items = [("1", #"{"text":"the cat sat","n":1}"#), ("2", #"{"text":"cat and cat and cat","n":2}"#),
                     ("3", #"{"text":"no such animal","n":3}"#), ("4", #"{"text":"cats everywhere","n":"4"}"#)]
        for (id, value) in items {
            #expect(await call(h, "PUT", "/store/items", #"{"namespace":["docs","x"],"key":"\#(id)","value":\#(value)}"#, key: key).status == 204)
        }
        func search(_ body: String) async throws -> [[String: Any]] {
            try #require(try await jsonObject(call(h, "POST", "/store/items/search", body, key: key))["items"] as? [[String: Any]])
        }
        let ranked = try await search(#"{"namespace_prefix":["docs"],"query":"cat"}"#)
        #expect(ranked.map { $0["key"] as? String }.first == "2")
        #expect(Set(ranked.compactMap { $0["key"] as? String }) == ["1", "2", "4"])
        let scores = ranked.compactMap { $0["score"] as? Double }
        #expect(scores.count == 3 && scores == scores.sorted(by: >))
        #expect(try await search(#"{"query":"cat","limit":1,"offset":1}"#).count == 1)
        #expect(try await search("{}").allSatisfy { $0["score"] == nil })
        #expect(try await search(#"{"query":" "}"#).count == 4)  // an empty query lists, a query of no words finds nothing
        #expect(try await search(#"{"query":"?!"}"#).isEmpty)
        #expect(try await search(#"{"filter":{"n":{"$gte":2}}}"#).compactMap { $0["key"] as? String }.sorted() == ["2", "3"])
        #expect(try await search(#"{"filter":{"n":"4"}}"#).compactMap { $0["key"] as? String } == ["4"])
        #expect(try await search(#"{"filter":{"n":{"$ne":1}},"query":"cat"}"#).compactMap { $0["key"] as? String }.sorted() == ["2", "4"])
        #expect(try await search(#"{"namespace_prefix":["doc"]}"#).isEmpty)
        let namespaces = try await jsonObject(call(h, "POST", "/store/namespaces", #"{"prefix":["docs"],"max_depth":1}"#, key: key))
        #expect(namespaces["namespaces"] as? [[String]] == [["docs"]])
    }
}
