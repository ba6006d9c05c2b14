import AgentRuntime
import Foundation
@testable import Handlers
import Runs
import Store
import TestSupport
import Testing

/// Tools a person approves before they run: the run pauses before the turn's calls, the thread waits with LangChain's
/// interrupt, and a run with `command.resume` carries out the decisions (approve, edit, reject), once.
@Suite struct ApprovalTests {
    static let config = """
        agents:
          - id: guarded
            model: {provider: builtin, token_delay_ms: 0}
            tools: [calculator, current_time]
            approvals:
              calculator: {decisions: [approve, edit, reject]}
          - id: free
            model: {provider: builtin, token_delay_ms: 0}
            tools: [calculator, current_time]
          - id: strict
            model: {provider: builtin, token_delay_ms: 0}
            tools: [calculator]
            approvals:
              calculator: {timeout_seconds: 1, decisions: [approve, reject]}
        """

    static func harness() throws -> ThreadHarness {
        try ThreadHarness(agents: AgentConfigLoader.parse(config, file: "agents.yaml").agents)
    }

    static func ask(_ text: String, agent: String = "guarded") -> String {
        #"{"assistant_id":"\#(agent)","input":{"messages":[{"role":"user","content":"\#(text)"}]}}"#
    }

    static func resume(_ decisions: String, agent: String = "guarded") -> String {
        #"{"assistant_id":"\#(agent)","command":{"resume":{"decisions":[\#(decisions)]}}}"#
    }

    func state(_ h: ThreadHarness, _ thread: String) async throws -> [String: Any] {
        try await h.json("GET", "/threads/\(thread)/state")
    }

    /// Pauses a new thread at `what is 12*(3+4)?`: the calculator call waits.
    func paused(_ h: ThreadHarness, agent: String = "guarded", text: String = "what is 12*(3+4)?") async throws -> (thread: String, waited: [String: Any]) {
        let thread = try await h.newThread()
        let waited = try await h.json("POST", "/threads/\(thread)/runs/wait", Self.ask(text, agent: agent))
        return (thread, waited)
    }

    @Test func aCallThatNeedsApprovalPausesTheRunAndTheThreadShowsWhy() async throws {
        let h = try Self.harness()
        let (thread, waited) = try await paused(h)
        // The wait answers the state it paused in, with LangChain's interrupt.
        let interrupts = try #require(waited["__interrupt__"] as? [[String: Any]])
        #expect(interrupts.count == 1)
        let value = try #require(interrupts[0]["value"] as? [String: Any])
        let actions = try #require(value["action_requests"] as? [[String: Any]])
        #expect(actions.count == 1)
        #expect(actions[0]["name"] as? String == "calculator")
        #expect((actions[0]["args"] as? [String: Any])?["expression"] as? String == "12*(3+4)")
        let configs = try #require(value["review_configs"] as? [[String: Any]])
        #expect(configs.first?["action_name"] as? String == "calculator")
        #expect(configs.first?["allowed_decisions"] as? [String] == ["approve", "edit", "reject"])
        // Nothing ran: the last message is the request, without a result.
        #expect(!messageContents(waited).contains { $0.contains("84") })
        let state = try await state(h, thread)
        #expect(state["next"] as? [String] == ["tools"])
        #expect((state["interrupts"] as? [[String: Any]])?.first?["id"] as? String == interrupts[0]["id"] as? String)
        let tasks = try #require(state["tasks"] as? [[String: Any]])
        #expect(tasks.first?["name"] as? String == "tools")
        #expect((tasks.first?["interrupts"] as? [[String: Any]])?.count == 1)
        let threadObject = try await h.json("GET", "/threads/\(thread)")
        #expect(threadObject["status"] as? String == "interrupted")
        #expect((threadObject["interrupts"] as? [String: Any])?.count == 1)
        let runs = try #require(try JSONSerialization.jsonObject(with: Data(try await bodyText(h.call("GET", "/threads/\(thread)/runs")).utf8)) as? [[String: Any]])
        #expect(runs.first?["status"] as? String == "interrupted")
        // A new input is refused while the approval waits.
        let other = await h.call("POST", "/threads/\(thread)/runs/wait", Self.ask("hello"))
        #expect(other.status.code == 409)
        #expect(try await jsonObject(other)["code"] as? String == "approval_pending")
    }

    @Test func approveRunsTheCallOnceWithTheModelsArguments() async throws {
        let h = try Self.harness()
        let (thread, _) = try await paused(h)
        // As RemoteGraph sends a Command: every field, the unused ones empty.
        let done = try await h.json("POST", "/threads/\(thread)/runs/wait",
                                    #"{"assistant_id":"guarded","command":{"graph":null,"update":null,"goto":[],"resume":{"decisions":[{"type":"approve"}]}}}"#)
        #expect(done["__interrupt__"] == nil)
        let contents = messageContents(done)
        #expect(contents.contains("84"), "\(contents)")
        #expect(contents.last?.contains("calculator returned 84") == true, "\(contents)")
        #expect(try await h.json("GET", "/threads/\(thread)")["status"] as? String == "idle")
        let state = try await state(h, thread)
        #expect((state["next"] as? [String])?.isEmpty == true)
        // Who decided, and when, is on the run that carried the decision out.
        let runs = try #require(try JSONSerialization.jsonObject(with: Data(try await bodyText(h.call("GET", "/threads/\(thread)/runs")).utf8)) as? [[String: Any]])
        let decision = try #require((runs.first?["metadata"] as? [String: Any])?["approval"] as? [String: Any])
        #expect(decision["answers"] as? String == runs.last?["run_id"] as? String)
        #expect(decision["decided_at"] is String)
        // Answered: a second answer finds nothing to resume.
        let again = await h.call("POST", "/threads/\(thread)/runs/wait", Self.resume(#"{"type":"approve"}"#))
        #expect(again.status.code == 409)
        #expect(try await jsonObject(again)["code"] as? String == "nothing_to_resume")
        let values = try await self.state(h, thread)["values"] as? [String: Any] ?? [:]
        #expect(messageContents(values).filter { $0 == "84" }.count == 1)
    }

    @Test func editRunsTheCallWithTheEditedArgumentsAndRejectNotAtAll() async throws {
        let h = try Self.harness()
        let (edited, _) = try await paused(h)
        let afterEdit = try await h.json("POST", "/threads/\(edited)/runs/wait", Self.resume(
            #"{"type":"edit","edited_action":{"name":"calculator","args":{"expression":"2+2"}}}"#))
        let editContents = messageContents(afterEdit)
        #expect(editContents.contains("4") && !editContents.contains("84"), "\(editContents)")

        let (rejected, _) = try await paused(h)
        let afterReject = try await h.json("POST", "/threads/\(rejected)/runs/wait", Self.resume(#"{"type":"reject","message":"not today"}"#))
        let rejectContents = messageContents(afterReject)
        #expect(!rejectContents.contains("84"), "\(rejectContents)")
        #expect(rejectContents.contains { $0.contains("rejected") && $0.contains("not today") }, "\(rejectContents)")
        #expect(try await h.json("GET", "/threads/\(rejected)")["status"] as? String == "idle")
    }

    @Test func answersThatDoNotFitAreRefusedAndTheApprovalStillWaits() async throws {
        let h = try Self.harness()
        let (thread, _) = try await paused(h)
        let cases: [(String, Int, String?)] = [
            (Self.resume(#"{"type":"approve"},{"type":"approve"}"#), 422, "command.resume.decisions"),
            (Self.resume(#"{"type":"maybe"}"#), 422, "command.resume.decisions[0].type"),
            (Self.resume(#"{"type":"edit","edited_action":{"name":"current_time","args":{}}}"#), 422, "command.resume.decisions[0].edited_action.name"),
            (Self.resume(#"{"type":"edit","edited_action":{"name":"calculator","args":{"expression":7}}}"#), 422, "command.resume.decisions[0].edited_action.args"),
            (#"{"assistant_id":"guarded","command":{"goto":"tools"}}"#, 422, "command.goto"),
            (#"{"assistant_id":"guarded","command":{"resume":{"decisions":[{"type":"approve"}]}},"input":{"messages":[{"role":"user","content":"x"}]}}"#, 422, "command"),
            (#"{"assistant_id":"guarded","command":{"resume":{"nope-id":{"decisions":[{"type":"approve"}]}}}}"#, 409, nil),
        ]
        for (body, status, field) in cases {
            let response = await h.call("POST", "/threads/\(thread)/runs/wait", body)
            #expect(response.status.code == status, "\(body)")
            if let field { #expect(try await jsonObject(response)["field"] as? String == field, "\(body)") }
        }
        // Not allowed for this tool (strict allows approve and reject only).
        let (strict, _) = try await paused(h, agent: "strict")
        let edit = await h.call("POST", "/threads/\(strict)/runs/wait", Self.resume(
            #"{"type":"edit","edited_action":{"name":"calculator","args":{"expression":"1"}}}"#, agent: "strict"))
        #expect(edit.status.code == 422)
        // Still waiting after every refusal.
        #expect(try await self.state(h, thread)["next"] as? [String] == ["tools"])
        // Without a thread a run pauses too, says so, and has nothing to resume.
        let once = try await h.json("POST", "/runs/wait", Self.ask("what is 12*(3+4)?"))
        #expect((once["__interrupt__"] as? [Any])?.count == 1)
        let streamed = try await bodyText(h.call("POST", "/runs/stream", Self.ask("what is 12*(3+4)?")))
        #expect(streamed.contains("__interrupt__") && streamed.contains("event: end"))
        let stateless = await h.call("POST", "/runs/wait", Self.resume(#"{"type":"approve"}"#))
        #expect(stateless.status.code == 422)
    }

    @Test func twoRacingAnswersMakeOneRun() async throws {
        let h = try Self.harness()
        let (thread, _) = try await paused(h)
        async let first = h.call("POST", "/threads/\(thread)/runs", Self.resume(#"{"type":"approve"}"#))
        async let second = h.call("POST", "/threads/\(thread)/runs", Self.resume(#"{"type":"approve"}"#))
        let statuses = await [first.status.code, second.status.code].sorted()
        #expect(statuses == [200, 409])
        try await eventually("the answer ran") {
            try await h.json("GET", "/threads/\(thread)")["status"] as? String == "idle"
        }
        let values = try #require(try await self.state(h, thread)["values"] as? [String: Any])
        #expect(messageContents(values).filter { $0 == "84" }.count == 1)
    }

    @Test func twoCallsInOneTurnAreOneInterruptAndTheOtherCallRunsOnResume() async throws {
        let h = try Self.harness()
        let (thread, waited) = try await paused(h, text: #"calculator {\"expression\": \"1+1\"} current_time {\"timezone\": \"UTC\"} calculator {\"expression\": \"2*3\"}"#)
        let interrupts = try #require(waited["__interrupt__"] as? [[String: Any]])
        let actions = try #require((interrupts.first?["value"] as? [String: Any])?["action_requests"] as? [[String: Any]])
        // The two calculator calls wait; current_time needs no approval.
        #expect(actions.map { $0["name"] as? String } == ["calculator", "calculator"])
        let done = try await h.json("POST", "/threads/\(thread)/runs/wait", Self.resume(#"{"type":"approve"},{"type":"reject"}"#))
        let tools = ((done["messages"] as? [[String: Any]]) ?? []).filter { $0["type"] as? String == "tool" }
        #expect(tools.count == 3)
        #expect(tools.map { $0["name"] as? String } == ["calculator", "current_time", "calculator"])
        #expect(tools[0]["content"] as? String == "2")
        #expect((tools[2]["content"] as? String)?.contains("rejected") == true)
    }

    @Test func anExpiredApprovalCountsAsRejected() async throws {
        let h = try Self.harness()
        let (thread, _) = try await paused(h, agent: "strict")
        try await Task.sleep(for: .milliseconds(1100))
        // An answer after the deadline is a rejection, whatever it says.
        let done = try await h.json("POST", "/threads/\(thread)/runs/wait", Self.resume(#"{"type":"approve"}"#, agent: "strict"))
        let contents = messageContents(done)
        #expect(!contents.contains("84"), "\(contents)")
        #expect(contents.contains { $0.contains("expired") }, "\(contents)")
        // And new input after the deadline is taken, the calls answered as rejected first.
        let (other, _) = try await paused(h, agent: "strict")
        try await Task.sleep(for: .milliseconds(1100))
        let next = await h.call("POST", "/threads/\(other)/runs/wait", Self.ask("hello", agent: "strict"))
        #expect(next.status.code == 200)
        let values = try await jsonObject(next)
        let messages = (values["messages"] as? [[String: Any]]) ?? []
        #expect(messages.map { $0["type"] as? String }.suffix(3) == ["tool", "human", "ai"], "\(messages)")
    }

    @Test func aCancelledRunLeavesItsThreadIdleAndAPausedOneInterrupted() async throws {
        let h = try ThreadHarness()
        let thread = try await h.newThread()
        let run = try await h.json("POST", "/threads/\(thread)/runs", ThreadHarness.input("one two three four five six seven", agent: "slow"))
        let runID = try #require(run["run_id"] as? String)
        try await Task.sleep(for: .milliseconds(60))
        _ = await h.call("POST", "/threads/\(thread)/runs/\(runID)/cancel?wait=true")
        try await eventually("the run ended") {
            try await h.json("GET", "/threads/\(thread)/runs/\(runID)")["status"] as? String == "interrupted"
        }
        let status = try await h.json("GET", "/threads/\(thread)")["status"] as? String
        #expect(status == "idle")
        #expect((try await h.json("GET", "/threads/\(thread)/state")["interrupts"] as? [Any])?.isEmpty == true)
    }

    @Test func theInvokeRouteRunsAToolThatNeedsApprovalForAdminKeysOnly() async throws {
        let h = try ThreadHarness(agents: AgentConfigLoader.parse(Self.config, file: "agents.yaml").agents, requireKeys: true)
        let user = try await h.makeKey(tenant: "a", scopes: ["runs:write"])
        let admin = try await h.makeKey(tenant: "a", scopes: ["admin"])
        let body = #"{"arguments":{"expression":"6*7"}}"#
        let refused = await h.call("POST", "/agents/guarded/tools/calculator/invoke", body, headers: [("X-Api-Key", user)])
        #expect(refused.status.code == 409)
        #expect(try await jsonObject(refused)["code"] as? String == "approval_required")
        let free = await h.call("POST", "/agents/guarded/tools/current_time/invoke", #"{"arguments":{}}"#, headers: [("X-Api-Key", user)])
        #expect(free.status.code == 200)
        let allowed = await h.call("POST", "/agents/guarded/tools/calculator/invoke", body, headers: [("X-Api-Key", admin)])
        #expect(allowed.status.code == 200)
        #expect(try await jsonObject(allowed)["result"] as? String == "42")
    }

    @Test func aChatCompletionThatHitsAnApprovalSaysSoAndHowToAnswer() async throws {
        let h = try Self.harness()
        let body = #"{"model":"guarded","messages":[{"role":"user","content":"what is 12*(3+4)?"}]"#
        let stateless = try await h.json("POST", "/v1/chat/completions", body + "}")
        let choice = try #require((stateless["choices"] as? [[String: Any]])?.first)
        let text = try #require((choice["message"] as? [String: Any])?["content"] as? String)
        #expect(text.contains("Waiting for approval before running: calculator"), "\(text)")
        #expect(text.contains("metadata.thread_id"), "\(text)")
        #expect(choice["finish_reason"] as? String == "stop")
        // Kept on a thread: the answer names the thread's resume, which works.
        let onThread = try await h.json("POST", "/v1/chat/completions", body + #","metadata":{"thread_id":"chat-1"}}"#)
        let threadText = try #require(((onThread["choices"] as? [[String: Any]])?.first?["message"] as? [String: Any])?["content"] as? String)
        #expect(threadText.contains("POST /threads/chat-1/runs"), "\(threadText)")
        let done = try await h.json("POST", "/threads/chat-1/runs/wait", Self.resume(#"{"type":"approve"}"#))
        #expect(messageContents(done).contains("84"))
        // Streamed, the same words arrive as content.
        let streamed = try await bodyText(h.call("POST", "/v1/chat/completions", body + #","stream":true}"#))
        #expect(streamed.contains("Waiting for approval before running: calculator"))
        #expect(streamed.contains("[DONE]"))
    }

    @Test func aResponseAsksForApprovalAndAnMCPApprovalResponseAnswersIt() async throws {
        let h = try Self.harness()
        // The server's tools declared as the MCP server they appear as (the Agents SDK sends this): accepted, never connected to.
        let mcp = #"{"type":"mcp","server_label":"agentfcgi","server_url":"https://example.invalid/mcp","require_approval":"always"}"#
        let first = try await h.json("POST", "/v1/responses", #"{"model":"guarded","input":"what is 12*(3+4)?","tools":[\#(mcp)]}"#)
        #expect(first["status"] as? String == "completed")
        let output = try #require(first["output"] as? [[String: Any]])
        let request = try #require(output.first { $0["type"] as? String == "mcp_approval_request" })
        #expect(request["server_label"] as? String == "agentfcgi")
        #expect(request["name"] as? String == "calculator")
        #expect(request["arguments"] as? String == #"{"expression":"12*(3+4)"}"#)
        let requestID = try #require(request["id"] as? String)
        let responseID = try #require(first["id"] as? String)
        // Retrieved later, it is the same.
        let again = try await h.json("GET", "/v1/responses/\(responseID)")
        #expect((again["output"] as? [[String: Any]])?.contains { $0["type"] as? String == "mcp_approval_request" } == true)
        // An answer to a request it did not make, and new input alone, are refused.
        let unknown = await h.call("POST", "/v1/responses", #"{"model":"guarded","previous_response_id":"\#(responseID)","input":[{"type":"mcp_approval_response","approval_request_id":"mcpr_nope","approve":true}]}"#)
        #expect(unknown.status.code == 400)
        let plain = await h.call("POST", "/v1/responses", #"{"model":"guarded","previous_response_id":"\#(responseID)","input":"hello"}"#)
        #expect(plain.status.code == 409)
        let answered = try await h.json("POST", "/v1/responses", #"{"model":"guarded","previous_response_id":"\#(responseID)","input":[{"type":"mcp_approval_response","approval_request_id":"\#(requestID)","approve":true}]}"#)
        #expect(answered["status"] as? String == "completed")
        let answeredOutput = try #require(answered["output"] as? [[String: Any]])
        let call = try #require(answeredOutput.first { $0["type"] as? String == "mcp_call" })
        #expect(call["output"] as? String == "84")
        #expect(call["status"] as? String == "completed")

        // Rejected with a reason: the model reads it; nothing ran. Streamed: the completed response asks for approval.
        let streamed = try await bodyText(h.call("POST", "/v1/responses", #"{"model":"guarded","input":"what is 12*(3+4)?","stream":true}"#))
        let completed = try #require(parseSSE(streamed).last { $0.event == "response.completed" })
        #expect(completed.data.contains("mcp_approval_request"))
        let id = try #require(completed.data.firstMatch(of: /"id":"(resp_[^"]+)"/).map { String($0.1) })
        let callID = try #require(completed.data.firstMatch(of: /"id":"(mcpr_[^"]+)"/).map { String($0.1) })
        let rejected = try await h.json("POST", "/v1/responses", #"{"model":"guarded","previous_response_id":"\#(id)","input":[{"type":"mcp_approval_response","approval_request_id":"\#(callID)","approve":false,"reason":"too risky"}]}"#)
        let rejectedCall = try #require((rejected["output"] as? [[String: Any]])?.first { $0["type"] as? String == "mcp_call" })
        #expect(rejectedCall["output"] as? String != "84")
        #expect("\(rejectedCall)".contains("too risky"))
    }

    @Test func aResumedRunStartsInItsToolsStep() async throws {
        let h = try Self.harness()
        let (thread, _) = try await paused(h)
        let body = #"{"assistant_id":"guarded","stream_mode":["tasks"],"command":{"resume":{"decisions":[{"type":"approve"}]}}}"#
        let frames = parseSSE(try await bodyText(h.call("POST", "/threads/\(thread)/runs/stream", body)))
        let tasks = frames.filter { $0.event == "tasks" }.compactMap { frame -> String? in
            guard let object = try? JSONSerialization.jsonObject(with: Data(frame.data.utf8)) as? [String: Any],
                  let name = object["name"] as? String else { return nil }
            return name + (object["result"] != nil || object["error"] != nil ? " done" : " start")
        }
        #expect(tasks == ["tools start", "tools done", "agent start", "agent done"], "\(tasks)")
    }

    @Test func anMCPToolCallThatHitsAnApprovalSaysWhereToAnswerIt() async throws {
        let h = try Self.harness()
        let body = #"{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"guarded","arguments":{"message":"what is 12*(3+4)?"}}}"#
        let answer = try await jsonObject(h.call("POST", "/mcp", body))
        let result = try #require(answer["result"] as? [String: Any], "\(answer)")
        #expect(result["isError"] as? Bool == false)
        let structured = try #require(result["structuredContent"] as? [String: Any])
        #expect(structured["status"] as? String == "waiting_for_approval")
        let thread = try #require(structured["thread_id"] as? String)
        let text = try #require(((result["content"] as? [[String: Any]])?.first)?["text"] as? String)
        #expect(text.contains("calculator") && text.contains(thread))
        // Answered there, as the text says.
        let done = try await h.json("POST", "/threads/\(thread)/runs/wait", Self.resume(#"{"type":"approve"}"#))
        #expect(messageContents(done).contains("84"))
    }

    /// LangGraph's static breakpoints: the run stops before the step named, and a run without input goes on.
    @Test func breakpointsStopTheRunAndARunWithoutInputGoesOn() async throws {
        let h = try Self.harness()
        func ask(_ extra: String) -> String {
            #"{"assistant_id":"free","input":{"messages":[{"role":"user","content":"what is 12*(3+4)?"}]},\#(extra)}"#
        }
        let goOn = #"{"assistant_id":"free"}"#
        // Before the tools (the same as after the agent): the call waits; no interrupt object, as LangGraph shows one.
        for extra in [#""interrupt_before":["tools"]"#, #""interrupt_after":["agent"]"#, #""interrupt_before":"*""#] {
            let thread = try await h.newThread()
            let waited = try await h.json("POST", "/threads/\(thread)/runs/wait", ask(extra))
            #expect(waited["__interrupt__"] == nil, "\(extra)")
            let state = try await state(h, thread)
            let expected = extra.contains("*") ? ["agent"] : ["tools"]
            if !extra.contains("*") {
                #expect(state["next"] as? [String] == expected, "\(extra)")
                #expect((state["interrupts"] as? [Any])?.isEmpty == true)
                #expect(!messageContents(waited).contains("84"))
            }
            #expect(try await h.json("GET", "/threads/\(thread)")["status"] as? String == "interrupted")
            // "*" stops before the first model call too: go on until the answer.
            var done = try await h.json("POST", "/threads/\(thread)/runs/wait", goOn)
            for _ in 0..<3 where try await h.json("GET", "/threads/\(thread)")["status"] as? String == "interrupted" {
                done = try await h.json("POST", "/threads/\(thread)/runs/wait", goOn)
            }
            #expect(messageContents(done).filter { $0 == "84" }.count == 1, "\(extra): \(messageContents(done))")
            #expect(messageContents(done).last?.contains("calculator returned 84") == true)
        }
        // After the tools: the result is there, the answer is not; before the agent: nothing has run.
        let after = try await h.newThread()
        let stopped = try await h.json("POST", "/threads/\(after)/runs/wait", ask(#""interrupt_after":["tools"]"#))
        #expect(messageContents(stopped).last == "84")
        #expect(try await state(h, after)["next"] as? [String] == ["agent"])
        let finished = try await h.json("POST", "/threads/\(after)/runs/wait", goOn)
        #expect(messageContents(finished).last?.contains("calculator returned 84") == true)
        let before = try await h.newThread()
        let first = try await h.json("POST", "/threads/\(before)/runs/wait", ask(#""interrupt_before":["agent"]"#))
        #expect(messageContents(first) == ["what is 12*(3+4)?"])
        // Bad steps, and a run without input where nothing waits, are refused.
        let bad = await h.call("POST", "/threads/\(before)/runs/wait", ask(#""interrupt_before":["nope"]"#))
        #expect(bad.status.code == 422)
        #expect(try await jsonObject(bad)["field"] as? String == "interrupt_before[0]")
        let idle = try await h.newThread()
        let nothing = await h.call("POST", "/threads/\(idle)/runs/wait", goOn)
        #expect(nothing.status.code == 422)
        #expect(try await jsonObject(nothing)["field"] as? String == "input")
        // An approval needs its decisions: going on without them is refused.
        let (waiting, _) = try await paused(h)
        let noDecision = await h.call("POST", "/threads/\(waiting)/runs/wait", #"{"assistant_id":"guarded"}"#)
        #expect(noDecision.status.code == 422)
        #expect(try await jsonObject(noDecision)["field"] as? String == "command")
        // Stateless runs have no thread to go on: input stays required.
        #expect(await h.call("POST", "/runs/wait", goOn).status.code == 422)
    }

    @Test func aPausedRunHoldsNoConcurrencySlot() async throws {
        let h = try ThreadHarness(agents: AgentConfigLoader.parse(Self.config, file: "agents.yaml").agents, requireKeys: true)
        let key = try await h.makeKey(tenant: "a", scopes: ["runs:write", "threads:write", "threads:read", "runs:read"], maxConcurrentRuns: 1)
        let headers = [("X-Api-Key", key)]
        for _ in 0..<3 {
            // Each pause ends its run: the key's one slot is free for the next.
            let thread = try #require(try await jsonObject(h.call("POST", "/threads", "{}", headers: headers))["thread_id"] as? String)
            let paused = await h.call("POST", "/threads/\(thread)/runs/wait", Self.ask("what is 12*(3+4)?"), headers: headers)
            #expect(paused.status.code == 200)
            #expect(try await jsonObject(paused)["__interrupt__"] != nil)
        }
    }

    /// Requests without a thread of their own to pause on take neither a command nor a run without input, and a batch
    /// refuses before it makes any run (schemathesis found a cron update that stored no input).
    @Test func batchesAndCronsNeedInput() async throws {
        let h = try Self.harness()
        let batch = await h.call("POST", "/runs/batch", "[\(Self.ask("hi", agent: "free")),\(Self.resume(#"{"type":"approve"}"#))]")
        #expect(batch.status.code == 422)
        #expect(try await jsonObject(batch)["field"] as? String == "[1].command")
        let noInput = await h.call("POST", "/runs/batch", #"[{"assistant_id":"free"}]"#)
        #expect(noInput.status.code == 422)
        #expect(try await h.store.searchRuns(RunQuery(tenant: "")).isEmpty)
        let cron = #"{"assistant_id":"free","schedule":"0 9 * * *","input":{"messages":[{"role":"user","content":"x"}]}}"#
        let made = try #require(try await h.json("POST", "/runs/crons", cron)["cron_id"] as? String)
        let emptied = await h.call("PATCH", "/runs/crons/\(made)", #"{"messages":null}"#)
        #expect(emptied.status.code == 422)
        let commanded = await h.call("POST", "/runs/crons", #"{"assistant_id":"free","schedule":"0 9 * * *","command":{"resume":{"decisions":[{"type":"approve"}]}}}"#)
        #expect(commanded.status.code == 422)
    }

    @Test func configurationErrorsNameTheField() throws {
        let bad: [(String, String)] = [
            ("approvals: {nope: always}", "(a).approvals.nope"),
            ("approvals: {calculator: sometimes}", "agents[0].approvals"),
            ("approvals: {calculator: {decisions: [reject]}}", "(a).approvals.calculator.decisions"),
            ("approvals: {calculator: {timeout_seconds: 0}}", "(a).approvals.calculator.timeout_seconds"),
        ]
        for (line, field) in bad {
            let text = "agents:\n  - id: a\n    model: {provider: builtin}\n    tools: [calculator]\n    " + line + "\n"
            #expect(throws: (any Error).self) { try AgentConfigLoader.parse(text, file: "agents.yaml") }
            do { _ = try AgentConfigLoader.parse(text, file: "agents.yaml") } catch {
                #expect("\(error)".contains(field), "\(line): \(error)")
            }
        }
    }
}
