import HTTPTypes
import AgentRuntime
import Foundation
@testable import Handlers
import Runs
import Store
import TestSupport
import Testing

/// Stored assistants in-process: what they may hold, versions, the listing beside the configured agents, tenants,
/// and runs through every dialect carrying their settings. langgraph-sdk drives them live (test_langgraph_assistants.py).
@Suite struct AssistantTests {
    static let agents = ThreadHarness.agents + [
        AgentDefinition(id: "calc", instructions: "Use tools.", model: ModelSettings(tokenDelay: .zero, maxTokens: 500),
                        tools: [ConfiguredTool(CalculatorTool()), ConfiguredTool(CurrentTimeTool())]),
    ]

    func call(_ h: ThreadHarness, _ method: String, _ path: String, _ body: String? = nil, key: String) async -> Response {
        await h.call(method, path, body, headers: [("X-Api-Key", key)])
    }

    func array(_ response: Response) async throws -> [[String: Any]] {
        try #require(try JSONSerialization.jsonObject(with: Data(try await bodyText(response).utf8)) as? [[String: Any]])
    }

    @Test func settingsAreCheckedAndOperatorFieldsRefused() async throws {
        let h = try ThreadHarness(agents: Self.agents, requireKeys: true)
        let key = try await h.makeKey(tenant: "a", scopes: ["agents:read", "assistants:write"])
        let cases: [(String, Int, String, String?)] = [
            (#"{}"#, 422, "validation_error", "graph_id"),
            (#"{"graph_id":"ghost"}"#, 404, "agent_not_found", "graph_id"),
            (#"{"graph_id":"calc","context":{"model":"gpt-9"}}"#, 422, "validation_error", "context.model"),
            (#"{"graph_id":"calc","config":{"configurable":{"base_url":"http://169.254.169.254"}}}"#, 422, "validation_error", "config.configurable.base_url"),
            (#"{"graph_id":"calc","context":{"api_key":"sk-x"}}"#, 422, "validation_error", "context.api_key"),
            (#"{"graph_id":"calc","context":{"tools":["http_get"]}}"#, 422, "validation_error", "context.tools[0]"),
            (#"{"graph_id":"calc","context":{"tools":["calculator","calculator"]}}"#, 422, "validation_error", "context.tools[1]"),
            (#"{"graph_id":"calc","context":{"temperature":3}}"#, 422, "validation_error", "context.temperature"),
            (#"{"graph_id":"calc","context":{"max_tokens":501}}"#, 422, "validation_error", "context.max_tokens"),
            (#"{"graph_id":"calc","context":{"top_p":0}}"#, 422, "validation_error", "context.top_p"),
            (#"{"graph_id":"calc","context":{"instructions":"a","system_prompt":"b"}}"#, 422, "validation_error", "context.system_prompt"),
            (#"{"graph_id":"calc","context":{"mood":"happy"}}"#, 422, "validation_error", "context.mood"),
            (#"{"graph_id":"calc","config":{"recursion_limit":5}}"#, 422, "validation_error", "config.recursion_limit"),
            (#"{"graph_id":"calc","assistant_id":"has space"}"#, 422, "validation_error", "assistant_id"),
            (#"{"graph_id":"calc","assistant_id":"echo"}"#, 409, "assistant_exists", "assistant_id"),
            (#"{"graph_id":"calc","name":"\#(String(repeating: "n", count: 201))"}"#, 422, "validation_error", "name"),
            (#"{"graph_id":"calc","metadata":{"x":"\#(String(repeating: "m", count: 17_000))"}}"#, 413, "metadata_too_large", "metadata"),
        ]
        for (body, status, code, field) in cases {
            let response = await call(h, "POST", "/assistants", body, key: key)
            #expect(response.status.code == status, "\(body.prefix(80)): \(response.status)")
            let problem = try await jsonObject(response)
            #expect(problem["code"] as? String == code, "\(body.prefix(80)): \(problem)")
            #expect(problem["field"] as? String == field, "\(body.prefix(80)): \(problem)")
        }
        // Nothing was stored by any of them.
        #expect(try await h.store.countAssistants(AssistantQuery(tenant: "a")) == 0)
        // Changing assistants takes its own scope; reading does not.
        let reader = try await h.makeKey(tenant: "a", scopes: ["agents:read", "runs:write"])
        #expect(await call(h, "POST", "/assistants", #"{"graph_id":"calc"}"#, key: reader).status == 403)
        #expect(await call(h, "POST", "/assistants/search", "{}", key: reader).status == 200)
    }

    @Test func versionsListingAndReadOnlySystemAssistants() async throws {
        let h = try ThreadHarness(agents: Self.agents, requireKeys: true)
        let key = try await h.makeKey(tenant: "a", scopes: ["admin"])
        let created = try await jsonObject(call(h, "POST", "/assistants", #"""
            {"graph_id":"calc","assistant_id":"no-calc","name":"No calculator","description":"Tells the time only",
             "context":{"tools":["current_time"],"temperature":0.2},"metadata":{"team":"blue"}}
            """#, key: key))
        #expect(created["assistant_id"] as? String == "no-calc" && created["graph_id"] as? String == "calc")
        #expect(created["version"] as? Int == 1 && created["tools"] as? [String] == ["current_time"])
        #expect((created["context"] as? [String: Any])?["temperature"] as? Double == 0.2)
        #expect(created["created_at"] is String && created["updated_at"] is String)
        // do_nothing returns the existing one unchanged; raise is a 409.
        let again = try await jsonObject(call(h, "POST", "/assistants", #"{"graph_id":"echo","assistant_id":"no-calc","if_exists":"do_nothing"}"#, key: key))
        #expect(again["graph_id"] as? String == "calc")
        #expect(await call(h, "POST", "/assistants", #"{"graph_id":"echo","assistant_id":"no-calc"}"#, key: key).status == 409)

        let patched = try await jsonObject(call(h, "PATCH", "/assistants/no-calc", #"{"metadata":{"tier":"gold"},"context":{"instructions":"Only times."}}"#, key: key))
        #expect(patched["version"] as? Int == 2)
        #expect(patched["metadata"] as? [String: String] == ["team": "blue", "tier": "gold"])
        #expect(patched["tools"] as? [String] == ["calculator", "current_time"], "the new context keeps every tool")
        // A change that does not fit the agent is refused and makes no version.
        let misfit = await call(h, "PATCH", "/assistants/no-calc", #"{"graph_id":"echo","context":{"tools":["calculator"]}}"#, key: key)
        let misfitProblem = try await jsonObject(misfit)
        #expect(misfit.status == 422 && misfitProblem["field"] as? String == "context.tools[0]")
        // Metadata that would outgrow its bound once merged is refused before anything is written.
        let big = String(repeating: "m", count: 9_000)
        #expect(await call(h, "PATCH", "/assistants/no-calc", #"{"metadata":{"a":"\#(big)"}}"#, key: key).status == 200)
        #expect(await call(h, "PATCH", "/assistants/no-calc", #"{"metadata":{"b":"\#(big)"}}"#, key: key).status == 413)
        #expect(await call(h, "PATCH", "/assistants/no-calc", #"{"metadata":{"a":null}}"#, key: key).status == 200)
        let versions = try await array(call(h, "POST", "/assistants/no-calc/versions", "{}", key: key))
        #expect(versions.map { $0["version"] as? Int } == [4, 3, 2, 1])
        #expect(try await array(call(h, "POST", "/assistants/no-calc/versions", #"{"metadata":{"tier":"gold"}}"#, key: key)).count == 3)
        let back = try await jsonObject(call(h, "POST", "/assistants/no-calc/latest", #"{"version":1}"#, key: key))
        #expect(back["version"] as? Int == 1 && back["tools"] as? [String] == ["current_time"])
        #expect(await call(h, "POST", "/assistants/no-calc/latest", #"{"version":9}"#, key: key).status == 404)

        // Listed with the configured agents: those first, read-only, marked as the system's.
        let all = try await array(call(h, "POST", "/assistants/search", #"{"limit":100}"#, key: key))
        #expect(all.compactMap { $0["assistant_id"] as? String } == Self.agents.map(\.id) + ["no-calc"])
        #expect((all[0]["metadata"] as? [String: Any])?["created_by"] as? String == "system")
        let byName = try await array(call(h, "POST", "/assistants/search", #"{"name":"calcul","select":["assistant_id","name"]}"#, key: key))
        #expect(byName.count == 1 && byName[0].keys.sorted() == ["assistant_id", "name"])
        let sorted = try await array(call(h, "POST", "/agents/search", #"{"sort_by":"assistant_id","sort_order":"desc","limit":2}"#, key: key))
        #expect(sorted.compactMap { $0["agent_id"] as? String } == ["tiny", "slow"])
        let page = await call(h, "POST", "/assistants/search", #"{"limit":2}"#, key: key)
        #expect(page.headers[.xPaginationNext] == "2")
        let counted = try await bodyText(call(h, "POST", "/assistants/count", #"{"graph_id":"calc"}"#, key: key))
        #expect(counted == "2", "\(counted)")
        #expect(try await bodyText(call(h, "POST", "/assistants/count", #"{"metadata":{"team":"blue"}}"#, key: key)) == "1")
        #expect(await call(h, "PATCH", "/assistants/echo", #"{"name":"x"}"#, key: key).status == 409)
        #expect(await call(h, "DELETE", "/assistants/echo", key: key).status == 409)
        #expect(try await array(call(h, "POST", "/assistants/echo/versions", "{}", key: key)).count == 1)
        let graph = try await jsonObject(call(h, "GET", "/assistants/no-calc/graph", key: key))
        let toolsNode = (graph["nodes"] as? [[String: Any]])?.first { $0["id"] as? String == "tools" }
        #expect((toolsNode?["data"] as? [String: Any])?["tools"] as? [String] == ["current_time"])
        #expect(try await array(call(h, "GET", "/agents/no-calc/tools", key: key)).compactMap { $0["name"] as? String } == ["current_time"])

        #expect(await call(h, "DELETE", "/assistants/no-calc", key: key).status == 204)
        #expect(await call(h, "GET", "/assistants/no-calc", key: key).status == 404)
        #expect(await call(h, "DELETE", "/assistants/no-calc", key: key).status == 404)
    }

    /// The assistant's settings reach the run in every dialect: its tool subset (no calculator: the built-in model
    /// answers 12*3 without a call), its id on the run and the thread; another tenant can neither see nor use it.
    @Test func runsThroughEveryDialectAndStayInTheTenant() async throws {
        let h = try ThreadHarness(agents: Self.agents, requireKeys: true)
        let a = try await h.makeKey(tenant: "a", scopes: ["admin"])
        let b = try await h.makeKey(tenant: "b", scopes: ["admin"])
        #expect(await call(h, "POST", "/assistants", #"{"graph_id":"calc","assistant_id":"times","context":{"tools":["current_time"]}}"#, key: a).status == 200)

        let withTools = try await jsonObject(call(h, "POST", "/runs/wait", ThreadHarness.input("what is 12*3?", agent: "calc"), key: a))
        #expect((withTools["messages"] as? [[String: Any]])?.contains { $0["type"] as? String == "tool" } == true)
        let without = try await jsonObject(call(h, "POST", "/runs/wait", ThreadHarness.input("what is 12*3?", agent: "times"), key: a))
        #expect(messageContents(without) == ["what is 12*3?", "You said: what is 12*3?"])

        // A stored run: the assistant's id on the run and on its thread; the job carries the settings (version 2).
        #expect(await call(h, "POST", "/threads", #"{"thread_id":"t1"}"#, key: a).status == 200)
        let run = try await jsonObject(call(h, "POST", "/threads/t1/runs", ThreadHarness.input("what is 12*3?", agent: "times"), key: a))
        #expect(run["assistant_id"] as? String == "times")
        let runID = try #require(run["run_id"] as? String)
        _ = await call(h, "GET", "/threads/t1/runs/\(runID)/join", key: a)
        let record = try #require(try await h.store.run(runID))
        let job = try RunJob.decode(try #require(record.job))
        #expect(job.version == 2 && job.agentID == "calc" && job.assistant?.tools == ["current_time"])
        let thread = try await jsonObject(call(h, "GET", "/threads/t1", key: a))
        #expect((thread["metadata"] as? [String: Any])?["assistant_id"] as? String == "times")
        #expect((thread["metadata"] as? [String: Any])?["graph_id"] as? String == "calc")
        #expect(messageContents(thread["values"] as? [String: Any] ?? [:]).last == "You said: what is 12*3?")

        // OpenAI: a model; MCP: a tool.
        let models = try await jsonObject(call(h, "GET", "/v1/models", key: a))
        #expect((models["data"] as? [[String: Any]])?.compactMap { $0["id"] as? String }.contains("times") == true)
        let chat = try await jsonObject(call(h, "POST", "/v1/chat/completions", #"{"model":"times","messages":[{"role":"user","content":"what is 12*3?"}]}"#, key: a))
        #expect(chat["model"] as? String == "times")
        #expect(((chat["choices"] as? [[String: Any]])?.first?["message"] as? [String: Any])?["content"] as? String == "You said: what is 12*3?")
        let response = try await jsonObject(call(h, "POST", "/v1/responses", #"{"model":"times","input":"what is 12*3?","store":false}"#, key: a))
        #expect(response["model"] as? String == "times")
        let listed = try await jsonObject(call(h, "POST", "/mcp", #"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#, key: a))
        #expect(((listed["result"] as? [String: Any])?["tools"] as? [[String: Any]])?.compactMap { $0["name"] as? String }.contains("times") == true)
        let called = try await jsonObject(call(h, "POST", "/mcp", #"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"times","arguments":{"message":"what is 12*3?"}}}"#, key: a))
        let text = (((called["result"] as? [String: Any])?["content"] as? [[String: Any]])?.first?["text"] as? String)
        #expect(text == "You said: what is 12*3?")

        // Tenant b: not listed, not found, not runnable anywhere; b may make its own "times".
        #expect(try await array(call(h, "POST", "/assistants/search", #"{"limit":100}"#, key: b)).compactMap { $0["assistant_id"] as? String } == Self.agents.map(\.id))
        for (method, path, body) in [("GET", "/assistants/times", nil), ("GET", "/assistants/times/graph", nil), ("PATCH", "/assistants/times", "{}"),
                                     ("POST", "/assistants/times/versions", "{}"), ("POST", "/assistants/times/latest", #"{"version":1}"#),
                                     ("GET", "/agents/times/tools", nil), ("DELETE", "/assistants/times", nil),
                                     ("POST", "/runs/wait", ThreadHarness.input("x", agent: "times"))] {
            #expect(await call(h, method, path, body, key: b).status == 404, "\(method) \(path)")
        }
        #expect(await call(h, "POST", "/v1/chat/completions", #"{"model":"times","messages":[{"role":"user","content":"x"}]}"#, key: b).status == 404)
        let refused = try await jsonObject(call(h, "POST", "/mcp", #"{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"times","arguments":{"message":"x"}}}"#, key: b))
        #expect((refused["error"] as? [String: Any])?["code"] as? Int == -32602)
        #expect(await call(h, "POST", "/assistants", #"{"graph_id":"echo","assistant_id":"times"}"#, key: b).status == 200)
        #expect(try await jsonObject(call(h, "GET", "/assistants/times", key: a))["graph_id"] as? String == "calc")

        // Deleted with its threads (delete_threads=true): runs already made keep what they were made with.
        #expect(await call(h, "DELETE", "/assistants/times?delete_threads=true", key: a).status == 204)
        #expect(await call(h, "GET", "/threads/t1", key: a).status == 404)
        #expect(await call(h, "POST", "/runs/wait", ThreadHarness.input("x", agent: "times"), key: a).status == 404)
    }

    @Test func anAssistantWhoseAgentLostItsToolCannotRun() async throws {
        // Made while "calc" had the calculator; the configuration then drops it.
        let first = try ThreadHarness(agents: Self.agents)
        let made = await first.call("POST", "/assistants", #"{"graph_id":"calc","assistant_id":"calc-only","context":{"tools":["calculator"]}}"#)
        #expect(made.status == 200)
        let record = try #require(try await first.store.assistant(tenant: "", id: "calc-only"))
        let shrunk = AgentCatalog(agents: [AgentDefinition(id: "calc", tools: [ConfiguredTool(CurrentTimeTool())])])
        #expect(throws: APIError.self) { try AgentResolver.resolved(record, catalog: shrunk) }
        let listed = AssistantWire.object(AssistantWire.listed(record, catalog: shrunk))
        #expect(listed["tools"] == nil && listed["assistant_id"] == .string("calc-only"))
        // Read by id it is still shown, as stored, so that it can be fixed; a run of it is a 409.
        let later = try ThreadHarness(agents: [AgentDefinition(id: "calc", tools: [ConfiguredTool(CurrentTimeTool())])])
        _ = try await later.store.createAssistant(NewAssistant(id: "calc-only", tenant: "", graphID: "calc", name: "n",
                                                               context: #"{"tools":["calculator"]}"#), ifExists: .raise)
        let shown = try await later.json("GET", "/assistants/calc-only")
        #expect(shown["assistant_id"] as? String == "calc-only" && shown["tools"] == nil, "\(shown)")
        let refused = await later.call("POST", "/runs/wait", ThreadHarness.input("x", agent: "calc-only"))
        let refusal = try await jsonObject(refused)
        #expect(refused.status == 409 && refusal["code"] as? String == "assistant_unusable", "\(refusal)")
        // The binding keeps only tools the agent still has, and never raises the agent's max_tokens.
        let binding = AssistantBinding(id: "x", version: 3, instructions: "New.", temperature: 0.5, maxTokens: 900, topP: 0.9, tools: ["calculator"])
        let applied = binding.apply(to: Self.agents.last!)
        #expect(applied.instructions == "New." && applied.model.temperature == 0.5 && applied.model.topP == 0.9)
        #expect(applied.model.maxTokens == 500 && applied.tools.map(\.spec.name) == ["calculator"])
    }
}
