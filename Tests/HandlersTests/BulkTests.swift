import HTTPTypes
import AgentRuntime
import Foundation
@testable import Handlers
import Runs
import Store
import TestSupport
import Testing

/// The bulk calls in-process: tenants, validation, all-or-nothing batches. langgraph-sdk drives them live
/// (Tests/Python/test_langgraph_bulk.py).
@Suite struct BulkTests {
    @Test func countAndPruneStayInTheTenant() async throws {
        let h = try ThreadHarness(requireKeys: true)
        let a = try await h.makeKey(tenant: "a", scopes: ["threads:read", "threads:write"])
        let b = try await h.makeKey(tenant: "b", scopes: ["threads:read", "threads:write"])
        func call(_ path: String, _ body: String, _ key: String) async -> Response {
            await h.call("POST", path, body, headers: [("Authorization", "Bearer \(key)")])
        }
        for id in ["t1", "t2"] {
            #expect(await call("/threads", #"{"thread_id":"\#(id)","metadata":{"k":"v"}}"#, a).status == 200)
        }
        #expect(try await bodyText(call("/threads/count", #"{"metadata":{"k":"v"}}"#, a)) == "2")
        #expect(try await bodyText(call("/threads/count", #"{"metadata":{"k":"v"}}"#, b)) == "0")
        #expect(try await bodyText(call("/threads/count", "", a)) == "2")
        #expect(await call("/threads/count", #"{"values":{"x":1}}"#, a).status == 422)
        // b cannot prune a's threads, not even by their ids.
        #expect(try await jsonObject(call("/threads/prune", #"{"thread_ids":["t1","t2"]}"#, b))["pruned_count"] as? Int == 0)
        #expect(try await jsonObject(call("/threads/prune", #"{"thread_ids":["t1","t1","nope"]}"#, a))["pruned_count"] as? Int == 1)
        #expect(try await h.store.thread(Tenancy.internalID("t1", tenant: "a")) == nil)
        #expect(try await h.store.thread(Tenancy.internalID("t2", tenant: "a")) != nil)
        for (body, field) in [(#"{"thread_ids":["a/b"]}"#, "thread_ids[0]"), (#"{"thread_ids":["t2"],"strategy":"all"}"#, "strategy"),
                              (#"{}"#, "thread_ids")] {
            let response = await call("/threads/prune", body, a)
            let problem = try await jsonObject(response)
            #expect((400...422).contains(response.status.code) && problem["field"] as? String == field, "\(body): \(problem)")
        }
    }

    /// Agent Protocol's run search: the caller's runs only, newest first, by agent, thread, status and metadata.
    @Test func runSearchFiltersWithinTheTenant() async throws {
        let h = try ThreadHarness(requireKeys: true)
        let a = try await h.makeKey(tenant: "a", scopes: ["admin"])
        let b = try await h.makeKey(tenant: "b", scopes: ["admin"])
        func call(_ path: String, _ body: String, _ key: String) async -> Response {
            await h.call("POST", path, body, headers: [("X-Api-Key", key)])
        }
        func ids(_ body: String, _ key: String) async throws -> [String] {
            let response = await call("/runs/search", body, key)
            #expect(response.status == 200, "\(body)")
            let runs = try JSONSerialization.jsonObject(with: Data(try await bodyText(response).utf8)) as? [[String: Any]] ?? []
            return runs.compactMap { $0["run_id"] as? String }
        }
        var made: [String] = []
        for (thread, agent, tag) in [("t1", "echo", "x"), ("t1", "slow", "y"), ("t2", "echo", "x")] {
            let body = ThreadHarness.input("hi", agent: agent, extra: #","metadata":{"tag":"\#(tag)"},"if_not_exists":"create""#)
            #expect(await call("/threads/\(thread)/runs/wait", body, a).status == 200)
            let listed = try JSONSerialization.jsonObject(with: Data(try await bodyText(h.call("GET", "/threads/\(thread)/runs", headers: [("X-Api-Key", a)])).utf8)) as? [[String: Any]]
            made.append(try #require(listed?.first?["run_id"] as? String))
            try await Task.sleep(for: .milliseconds(5))
        }
        _ = try await jsonObject(call("/threads/t3/runs/wait", ThreadHarness.input("b's", extra: #","if_not_exists":"create""#), b))
        #expect(try await ids("{}", a) == made.reversed())
        #expect(try await ids(#"{"agent_id":"echo"}"#, a) == [made[2], made[0]])
        #expect(try await ids(#"{"assistant_id":"slow"}"#, a) == [made[1]])
        #expect(try await ids(#"{"thread_id":"t1","metadata":{"tag":"x"}}"#, a) == [made[0]])
        #expect(try await ids(#"{"status":"success","limit":1,"offset":1}"#, a) == [made[1]])
        #expect(try await ids(#"{"status":"pending"}"#, a).isEmpty)
        #expect(try await ids("{}", b).count == 1)
        #expect(try await ids(#"{"thread_id":"t1"}"#, b).isEmpty)
        for (body, field) in [(#"{"limit":0}"#, "limit"), (#"{"status":"done"}"#, "status"), (#"{"agent_id":"a","assistant_id":"b"}"#, "agent_id"),
                              (#"{"agent_id":"a","assistant_id":"a"}"#, "agent_id"),
                              (#"{"thread_id":"a/b"}"#, "thread_id")] {
            let problem = try await jsonObject(call("/runs/search", body, a))
            #expect(problem["field"] as? String == field, "\(body): \(problem)")
        }
    }

    @Test func aBatchIsCheckedWholeBeforeAnythingIsQueued() async throws {
        let h = try ThreadHarness()
        let refused = await h.call("POST", "/runs/batch", #"[{"assistant_id":"echo","input":{"messages":[{"role":"user","content":"x"}]}},{"assistant_id":"echo","input":{},"multitask_strategy":"sideways"}]"#)
        let problem = try await jsonObject(refused)
        #expect(refused.status == 422 && (problem["field"] as? String)?.hasPrefix("[1].") == true, "\(problem)")
        #expect(try await h.store.searchThreads(ThreadQuery(limit: 10)).isEmpty)
        #expect(await h.call("POST", "/runs/batch", "[]").status == 422)
        let one = #"{"assistant_id":"echo","input":{"messages":[{"role":"user","content":"x"}]}}"#
        let tooMany = "[" + Array(repeating: one, count: 101).joined(separator: ",") + "]"
        #expect(await h.call("POST", "/runs/batch", tooMany).status == 422)
        let queued = await h.call("POST", "/runs/batch", "[\(one),\(one)]")
        let runs = try #require(try JSONSerialization.jsonObject(with: Data(try await bodyText(queued).utf8)) as? [[String: Any]])
        #expect(queued.status == 200 && runs.count == 2 && Set(runs.compactMap { $0["thread_id"] as? String }).count == 2)
    }

    @Test func cancelManyTakesIdsOfAThreadOrAStatus() async throws {
        let h = try ThreadHarness()
        for (body, status) in [(#"{"status":"all","thread_id":"t"}"#, 422), (#"{"run_ids":["x"]}"#, 422), (#"{"thread_id":"t"}"#, 422),
                               (#"{"status":"sleeping"}"#, 422), (#"{"thread_id":"missing","run_ids":["r"]}"#, 404)] {
            #expect(await h.call("POST", "/runs/cancel", body).status.code == status, "\(body)")
        }
        #expect(await h.call("POST", "/runs/cancel?action=explode", #"{"status":"all"}"#).status == 422)
        #expect(await h.call("POST", "/runs/cancel", #"{"status":"all"}"#).status == 204)
    }
}
