import HTTPTypes
import AgentRuntime
import Foundation
@testable import Handlers
import Testing
import TestSupport

@Suite struct ToolTests {
    let app = makeTestApp(agents: [
        AgentDefinition(id: "calc", tools: [ConfiguredTool(CalculatorTool(), timeout: .seconds(2)), ConfiguredTool(CurrentTimeTool())],
                        limits: RunLimits(maxTurns: 4)),
        AgentDefinition(id: "one-turn", tools: [ConfiguredTool(CalculatorTool())], limits: RunLimits(maxTurns: 1)),
        AgentDefinition(id: "small", instructions: "be brief", limits: RunLimits(maxInputCharacters: 20, maxContextTokens: 5)),
    ])

    @Test func inputLimitsAreEnforcedBeforeTheRun() async throws {
        let long = await app.respond(to: jsonRequest("POST", "/runs/wait",
            #"{"assistant_id":"small","input":{"messages":[{"role":"user","content":"xxxxxxxxxxxxxxxxxxxxxxxxx"}]}}"#))
        #expect(long.status == 422)
        #expect(try await jsonObject(long)["code"] as? String == "input_too_large")
        let wordy = await app.respond(to: jsonRequest("POST", "/runs/stream",
            #"{"assistant_id":"small","input":{"messages":[{"role":"user","content":"a b c d"}]}}"#))
        #expect(wordy.status == 422)
        let problem = try await jsonObject(wordy)
        #expect(problem["code"] as? String == "context_too_large")
        #expect(problem["field"] as? String == "input.messages")
        let fits = await app.respond(to: jsonRequest("POST", "/runs/wait",
            #"{"assistant_id":"small","input":{"messages":[{"role":"user","content":"a b"}]}}"#))
        #expect(fits.status == 200)
    }

    @Test func listsToolsWithSchemas() async throws {
        let response = await app.respond(to: Request(method: .get, path: "/agents/calc/tools"))
        let tools = try #require(try JSONSerialization.jsonObject(with: Data(try await bodyText(response).utf8)) as? [[String: Any]])
        #expect(tools.map { $0["name"] as? String } == ["calculator", "current_time"])
        #expect(tools[0]["timeout_ms"] as? Int == 2000)
        #expect((tools[0]["parameters"] as? [String: Any])?["required"] as? [String] == ["expression"])
    }

    @Test func invokesAToolDirectly() async throws {
        let response = await app.respond(to: jsonRequest("POST", "/agents/calc/tools/calculator/invoke", #"{"arguments":{"expression":"12*(3+4)"}}"#))
        #expect(response.status == 200)
        let body = try await jsonObject(response)
        #expect(body["result"] as? String == "84")
        #expect(body["tool"] as? String == "calculator")
    }

    @Test(arguments: [
        (#"{"arguments":{"expression":7}}"#, 422, "validation_error", "arguments.expression"),
        (#"{"arguments":{}}"#, 422, "validation_error", "arguments.expression"),
        (#"{"arguments":{"expression":"1+1","x":1}}"#, 422, "validation_error", "arguments.x"),
        (#"{"args":{}}"#, 422, "validation_error", "args"),
        (#"{"arguments":{"expression":"1/0"}}"#, 422, "tool_error", nil),
    ])
    func invalidInvocationsNameTheField(body: String, status: Int, code: String, field: String?) async throws {
        let response = await app.respond(to: jsonRequest("POST", "/agents/calc/tools/calculator/invoke", body))
        #expect(response.status.code == status)
        let problem = try await jsonObject(response)
        #expect(problem["code"] as? String == code, "\(problem)")
        #expect(problem["field"] as? String == field, "\(problem)")
    }

    @Test func unknownToolOrAgentIs404() async throws {
        let tool = await app.respond(to: jsonRequest("POST", "/agents/calc/tools/shell/invoke", "{}"))
        #expect(tool.status == 404)
        #expect(try await jsonObject(tool)["code"] as? String == "tool_not_found")
        let agent = await app.respond(to: Request(method: .get, path: "/agents/nobody/tools"))
        #expect(agent.status == 404)
    }

    @Test func streamShowsToolCallsResultsAndUsage() async throws {
        let body = #"{"assistant_id":"calc","input":{"messages":[{"role":"user","content":"what is 12*(3+4)?"}]}}"#
        let frames = parseSSE(try await bodyText(await app.respond(to: jsonRequest("POST", "/runs/stream", body))))
        let custom = frames.filter { $0.event == "custom" }.compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.data.utf8)) as? [String: Any]
        }
        #expect(custom.map { $0["type"] as? String } == ["usage", "tool_call_started", "tool_call_finished", "usage", "run_completed"])
        #expect(custom[2]["result"] as? String == "84")
        #expect((custom[1]["tool_call"] as? [String: Any])?["args"] as? [String: String] == ["expression": "12*(3+4)"])
        let total = try #require(custom[4]["usage"] as? [String: Int])
        #expect(total["total_tokens"] == (total["input_tokens"] ?? 0) + (total["output_tokens"] ?? 0))
        // The tool's answer reaches messages-tuple clients too, tagged with the tools node.
        #expect(frames.contains { $0.event == "messages" && $0.data.contains(#""type":"tool""#) && $0.data.contains(#""langgraph_node":"tools""#) })
        let final = try #require(frames.last { $0.event == "values" })
        #expect(final.data.contains(#""content":"calculator returned 84.""#))
        #expect(frames.last?.event == "end")
    }

    @Test func maxTurnsIsAProblemForWaitAndAnErrorEventForStream() async throws {
        let body = #"{"assistant_id":"one-turn","input":{"messages":[{"role":"user","content":"what is 1+1"}]}}"#
        let wait = await app.respond(to: jsonRequest("POST", "/runs/wait", body))
        #expect(wait.status == 422)
        #expect(try await jsonObject(wait)["code"] as? String == "max_turns_exceeded")
        let frames = parseSSE(try await bodyText(await app.respond(to: jsonRequest("POST", "/runs/stream", body))))
        let error = try #require(frames.first { $0.event == "error" })
        #expect(error.data.contains("max_turns_exceeded"))
        #expect(frames.last?.event == "end")
    }
}
