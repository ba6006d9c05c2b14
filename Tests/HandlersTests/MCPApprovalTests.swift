import AgentRuntime
import Foundation
@testable import Handlers
import Runs
import Store
import TestSupport
import Testing

/// An MCP client of the 2026-07-28 revision that can show forms is asked for an approval with `input_required`: one
/// form per waiting call and a signed request state; its retry with the answers carries them out.
@Suite struct MCPApprovalTests {
    static let capabilities = #"{"elicitation":{"form":{}}}"#

    static func call(_ id: Int, tool: String = "guarded", message: String = "what is 12*(3+4)?", capabilities: String = capabilities,
                     extra: String = "") -> String {
        #"{"jsonrpc":"2.0","id":\#(id),"method":"tools/call","params":{"name":"\#(tool)","arguments":{"message":"\#(message)"},"# +
            #""_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":\#(capabilities)}\#(extra)}}"#
    }

    static func headers(_ tool: String = "guarded") -> [(String, String)] {
        [("MCP-Protocol-Version", "2026-07-28"), ("Mcp-Method", "tools/call"), ("Mcp-Name", tool)]
    }

    /// The retry's extra params: the answers and the state, as the client echoes it.
    static func retry(_ state: String, _ responses: String) -> String {
        #","requestState":"\#(state)","inputResponses":\#(responses)"#
    }

    func rpc(_ h: ThreadHarness, _ body: String, tool: String = "guarded") async throws -> (Int, [String: Any]) {
        let response = await h.call("POST", "/mcp", body, headers: Self.headers(tool))
        return (response.status.code, try await jsonObject(response))
    }

    /// A call that pauses: its input requests and request state.
    func asked(_ h: ThreadHarness, id: Int = 1) async throws -> (requests: [String: Any], state: String) {
        let (status, answer) = try await rpc(h, Self.call(id))
        #expect(status == 200)
        let result = try #require(answer["result"] as? [String: Any], "\(answer)")
        #expect(result["resultType"] as? String == "input_required")
        return (try #require(result["inputRequests"] as? [String: Any]), try #require(result["requestState"] as? String))
    }

    func text(_ answer: [String: Any]) -> String {
        (((answer["result"] as? [String: Any])?["content"] as? [[String: Any]])?.first?["text"] as? String) ?? ""
    }

    func errorCode(_ answer: [String: Any]) -> Int? { (answer["error"] as? [String: Any])?["code"] as? Int }

    @Test func aPausedCallAsksForEachCallsDecisionAndTheRetryCarriesItOut() async throws {
        let h = try ApprovalTests.harness()
        let (requests, state) = try await asked(h)
        #expect(requests.keys.sorted() == ["decision-1"])
        let form = try #require(requests["decision-1"] as? [String: Any])
        #expect(form["method"] as? String == "elicitation/create")
        let params = try #require(form["params"] as? [String: Any])
        #expect((params["message"] as? String)?.contains("calculator") == true)
        let schema = try #require(params["requestedSchema"] as? [String: Any])
        let properties = try #require(schema["properties"] as? [String: Any])
        #expect((properties["decision"] as? [String: Any])?["enum"] as? [String] == ["approve", "edit", "reject"])
        #expect(Set(properties.keys) == ["decision", "message", "arguments"])
        // The state is signed: no part of it can be changed, and it names only the approval.
        let opened = try #require(MCPApprovalState.opened(state, secret: try await h.engine.sharedSecret(named: MCPApprovalState.secretName)))
        #expect(opened.tool == "guarded")
        let thread = opened.thread
        #expect(try await h.json("GET", "/threads/\(thread)")["status"] as? String == "interrupted")
        let approve = #"{"decision-1":{"action":"accept","content":{"decision":"approve"}}}"#
        for forged in [String(state.dropLast()) + (state.last == "A" ? "B" : "A"), "v1.e30.AAAA", "nonsense"] {
            let (status, refused) = try await rpc(h, Self.call(2, extra: Self.retry(forged, approve)))
            #expect(status == 400 && errorCode(refused) == -32602, "\(forged)")
        }
        // The state answers the tool it was given for only.
        let (otherTool, refused) = try await rpc(h, Self.call(3, tool: "free", extra: Self.retry(state, approve)), tool: "free")
        #expect(otherTool == 400 && errorCode(refused) == -32602)
        #expect(try await h.json("GET", "/threads/\(thread)")["status"] as? String == "interrupted")

        let (status, done) = try await rpc(h, Self.call(4, extra: Self.retry(state, approve)))
        #expect(status == 200)
        #expect((done["result"] as? [String: Any])?["resultType"] as? String == "complete")
        #expect(text(done).contains("84"), "\(done)")
        #expect(try await h.json("GET", "/threads/\(thread)")["status"] as? String == "idle")
        let values = try await h.json("GET", "/threads/\(thread)/state")["values"] as? [String: Any] ?? [:]
        #expect(messageContents(values).filter { $0 == "84" }.count == 1)
        // Who decided is on the run that carried it out; the same answer again finds nothing to resume.
        let runs = try #require(try JSONSerialization.jsonObject(with: Data(try await bodyText(h.call("GET", "/threads/\(thread)/runs")).utf8)) as? [[String: Any]])
        #expect(((runs.first?["metadata"] as? [String: Any])?["approval"] as? [String: Any])?["answers"] as? String == opened.approval)
        let (again, nothing) = try await rpc(h, Self.call(5, extra: Self.retry(state, approve)))
        #expect(again == 400 && ((nothing["error"] as? [String: Any])?["data"] as? [String: Any])?["code"] as? String == "nothing_to_resume")
    }

    @Test func declineRejectsEditChangesTheArgumentsAndCancelLeavesItWaiting() async throws {
        let h = try ApprovalTests.harness()
        let (_, declined) = try await asked(h)
        let (_, rejected) = try await rpc(h, Self.call(2, extra: Self.retry(declined, #"{"decision-1":{"action":"decline"}}"#)))
        #expect(text(rejected).contains("rejected") && !text(rejected).contains("84"), "\(rejected)")

        let (_, edited) = try await asked(h, id: 3)
        let (_, ran) = try await rpc(h, Self.call(4, extra: Self.retry(edited,
            #"{"decision-1":{"action":"accept","content":{"decision":"edit","arguments":"{\"expression\":\"2+2\"}"}}}"#)))
        #expect(text(ran).contains("4") && !text(ran).contains("84"), "\(ran)")

        let (_, dismissed) = try await asked(h, id: 5)
        let (_, waiting) = try await rpc(h, Self.call(6, extra: Self.retry(dismissed, #"{"decision-1":{"action":"cancel"}}"#)))
        let structured = try #require((waiting["result"] as? [String: Any])?["structuredContent"] as? [String: Any])
        #expect(structured["status"] as? String == "waiting_for_approval")
        let thread = try #require(structured["thread_id"] as? String)
        #expect(try await h.json("GET", "/threads/\(thread)")["status"] as? String == "interrupted")
        // Answers that do not fit are refused, and the approval still waits.
        for bad in [#"{}"#, #"{"decision-1":{"action":"accept","content":{"decision":"maybe"}}}"#,
                    #"{"decision-1":{"action":"accept","content":{"decision":"edit","arguments":"{\"expression\":7}"}}}"#,
                    #"{"decision-1":{"action":"later"}}"#, #"{"decision-1":{"action":"accept"},"decision-2":{"action":"accept"}}"#, #""x""#] {
            let (status, refused) = try await rpc(h, Self.call(7, extra: Self.retry(dismissed, bad)))
            #expect(status == 400 && errorCode(refused) == -32602, "\(bad): \(refused)")
        }
        #expect(try await h.json("GET", "/threads/\(thread)")["status"] as? String == "interrupted")
    }

    @Test func aClientWithoutFormsOrOfTheHandshakeEraIsToldWhereToAnswer() async throws {
        let h = try ApprovalTests.harness()
        for capabilities in ["{}", #"{"elicitation":{"url":{}}}"#] {
            let (_, answer) = try await rpc(h, Self.call(1, capabilities: capabilities))
            let result = try #require(answer["result"] as? [String: Any])
            #expect(result["resultType"] as? String == "complete")
            #expect((result["structuredContent"] as? [String: Any])?["status"] as? String == "waiting_for_approval")
        }
        // The retry fields belong to the stateless revision.
        let handshake = #"{"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"name":"guarded","arguments":{"message":"hi"},"requestState":"v1.x.y","inputResponses":{}}}"#
        let refused = try await jsonObject(h.call("POST", "/mcp", handshake))
        #expect(errorCode(refused) == -32602)
    }

    @Test func theStateIsBoundToTheKeyThatWasAsked() async throws {
        let h = try ThreadHarness(agents: AgentConfigLoader.parse(ApprovalTests.config, file: "agents.yaml").agents, requireKeys: true)
        let first = try await h.makeKey(tenant: "a", scopes: ["runs:write", "threads:read"])
        let second = try await h.makeKey(tenant: "a", scopes: ["runs:write", "threads:read"])
        let asked = try await jsonObject(h.call("POST", "/mcp", Self.call(1), headers: Self.headers() + [("X-Api-Key", first)]))
        let state = try #require((asked["result"] as? [String: Any])?["requestState"] as? String, "\(asked)")
        let approve = #"{"decision-1":{"action":"accept","content":{"decision":"approve"}}}"#
        let other = try await jsonObject(h.call("POST", "/mcp", Self.call(2, extra: Self.retry(state, approve)), headers: Self.headers() + [("X-Api-Key", second)]))
        #expect(errorCode(other) == -32602)
        let done = try await jsonObject(h.call("POST", "/mcp", Self.call(3, extra: Self.retry(state, approve)), headers: Self.headers() + [("X-Api-Key", first)]))
        #expect(text(done).contains("84"), "\(done)")
    }

    // The handshake era: asked on the call's event stream, answered through any request.

    static let initialize = #"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{"elicitation":{"form":{}}}}}"#

    /// The messages of an event stream's frames so far.
    func messages(_ writer: CollectingWriter) -> [[String: Any]] {
        parseSSE(writer.text).compactMap { try? JSONSerialization.jsonObject(with: Data($0.data.utf8)) as? [String: Any] }
    }

    /// A call on a stream that asks, and the forms it sent.
    func streamedCall(_ h: ThreadHarness, headers: [(String, String)], forms count: Int = 1) async throws -> (CollectingWriter, Task<String, any Error>, [String]) {
        let response = await h.call("POST", "/mcp", #"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"guarded","arguments":{"message":"what is 12*(3+4)?"}}}"#,
                                    headers: headers)
        let writer = CollectingWriter()
        let body = Task { try await bodyText(response, writer: writer) }
        try await waiting(for: "the forms") {
            await writer.written.wait { frames in
                frames.reduce(0) { $0 + String(decoding: $1, as: UTF8.self).components(separatedBy: "elicitation/create").count - 1 } >= count
            }
        }
        let forms = messages(writer).filter { $0["method"] as? String == "elicitation/create" }
        return (writer, body, forms.compactMap { $0["id"] as? String })
    }

    func answer(_ h: ThreadHarness, _ id: String, _ result: String, headers: [(String, String)] = []) async -> Int {
        await h.call("POST", "/mcp", #"{"jsonrpc":"2.0","id":"\#(id)","result":\#(result)}"#, headers: headers).status.code
    }

    @Test func aHandshakeClientThatElicitsIsAskedOnTheCallsStreamAndItsAnswerMayComeThroughAnyRequest() async throws {
        let h = try ApprovalTests.harness()
        let initialized = await h.call("POST", "/mcp", Self.initialize)
        let session = try #require(initialized.headers[.mcpSessionID])
        // A client that cannot show forms gets no session, as before.
        let plain = await h.call("POST", "/mcp", Self.initialize.replacingOccurrences(of: #""elicitation":{"form":{}}"#, with: ""))
        #expect(plain.headers[.mcpSessionID] == nil)
        let headers = [("Mcp-Session-Id", session), ("MCP-Protocol-Version", "2025-11-25"), ("Accept", "application/json, text/event-stream")]
        let (writer, body, forms) = try await streamedCall(h, headers: headers)
        #expect(forms.count == 1 && forms[0].hasPrefix("decision-1@"))
        let form = try #require(messages(writer).first { $0["method"] as? String == "elicitation/create" }?["params"] as? [String: Any])
        #expect(form["mode"] as? String == "form" && (form["message"] as? String)?.contains("calculator") == true)
        // Answers the server did not ask for are refused and change nothing.
        let approve = #"{"action":"accept","content":{"decision":"approve"}}"#
        #expect(await answer(h, "decision-1@v1.e30.AAAA", approve) == 400)
        #expect(await answer(h, "decision-9@" + forms[0].dropFirst("decision-1@".count), approve) == 400)
        #expect(await answer(h, forms[0], #""approve""#) == 400)
        // The answer arrives as its own request (any worker), and the stream carries the approved run's answer.
        #expect(await answer(h, forms[0], approve) == 202)
        let text = try await body.value
        let final = try #require(messages(writer).last)
        #expect(final["id"] as? Int == 7, "\(text)")
        let result = try #require(final["result"] as? [String: Any], "\(text)")
        #expect((((result["content"] as? [[String: Any]])?.first)?["text"] as? String)?.contains("84") == true, "\(text)")
        let thread = try #require((result["structuredContent"] as? [String: Any])?["thread_id"] as? String)
        #expect(try await h.json("GET", "/threads/\(thread)")["status"] as? String == "idle")
    }

    @Test func aDeclinedFormRejectsAndAnErrorAnswerLeavesTheApprovalWaiting() async throws {
        let h = try ApprovalTests.harness()
        let session = try #require(await h.call("POST", "/mcp", Self.initialize).headers[.mcpSessionID])
        let headers = [("Mcp-Session-Id", session), ("MCP-Protocol-Version", "2025-11-25"), ("Accept", "application/json, text/event-stream")]
        let (declinedWriter, declinedBody, declined) = try await streamedCall(h, headers: headers)
        #expect(await answer(h, declined[0], #"{"action":"decline"}"#) == 202)
        _ = try await declinedBody.value
        let rejected = try #require(messages(declinedWriter).last?["result"] as? [String: Any])
        let text = (((rejected["content"] as? [[String: Any]])?.first)?["text"] as? String) ?? ""
        #expect(text.contains("rejected") && !text.contains("84"), "\(text)")

        let (errorWriter, errorBody, errored) = try await streamedCall(h, headers: headers)
        let status = await h.call("POST", "/mcp", #"{"jsonrpc":"2.0","id":"\#(errored[0])","error":{"code":-32601,"message":"no forms here"}}"#).status.code
        #expect(status == 202)
        _ = try await errorBody.value
        let waiting = try #require((messages(errorWriter).last?["result"] as? [String: Any])?["structuredContent"] as? [String: Any])
        #expect(waiting["status"] as? String == "waiting_for_approval")
        let thread = try #require(waiting["thread_id"] as? String)
        #expect(try await h.json("GET", "/threads/\(thread)")["status"] as? String == "interrupted")
    }

    @Test func aSessionIsBoundToItsKeyAndTheOlderVersionIsNotAsked() async throws {
        let h = try ThreadHarness(agents: AgentConfigLoader.parse(ApprovalTests.config, file: "agents.yaml").agents, requireKeys: true)
        let first = try await h.makeKey(tenant: "a", scopes: ["runs:write", "agents:read"])
        let second = try await h.makeKey(tenant: "a", scopes: ["runs:write", "agents:read"])
        let session = try #require(await h.call("POST", "/mcp", Self.initialize, headers: [("X-Api-Key", first)]).headers[.mcpSessionID])
        let call = #"{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"guarded","arguments":{"message":"what is 12*(3+4)?"}}}"#
        // Another key's session, and 2025-03-26 (which has no elicitation), answer where to decide instead of asking.
        for (key, version) in [(second, "2025-11-25"), (first, "2025-03-26")] {
            let answer = try await jsonObject(h.call("POST", "/mcp", call, headers: [
                ("X-Api-Key", key), ("Mcp-Session-Id", session), ("MCP-Protocol-Version", version), ("Accept", "application/json, text/event-stream")]))
            #expect(((answer["result"] as? [String: Any])?["structuredContent"] as? [String: Any])?["status"] as? String == "waiting_for_approval", "\(answer)")
        }
        // A form's answer from another key is refused.
        let (_, _, forms) = try await streamedCall(h, headers: [("X-Api-Key", first), ("Mcp-Session-Id", session), ("MCP-Protocol-Version", "2025-11-25"),
                                                               ("Accept", "application/json, text/event-stream")])
        #expect(await answer(h, forms[0], #"{"action":"accept","content":{"decision":"approve"}}"#, headers: [("X-Api-Key", second)]) == 400)
    }

    @Test func aStreamThatWaitsEndsWhenTheApprovalIsAnsweredAnotherWay() async throws {
        let h = try ApprovalTests.harness()
        let session = try #require(await h.call("POST", "/mcp", Self.initialize).headers[.mcpSessionID])
        let headers = [("Mcp-Session-Id", session), ("MCP-Protocol-Version", "2025-11-25"), ("Accept", "application/json, text/event-stream")]
        let (writer, body, forms) = try await streamedCall(h, headers: headers)
        #expect(forms.count == 1)
        let thread = try #require(try await h.store.searchThreads(ThreadQuery(status: .interrupted, limit: 10)).first?.id)
        // LangGraph's resume answers it; the stream's form no longer counts.
        _ = try await h.json("POST", "/threads/\(thread)/runs/wait", ApprovalTests.resume(#"{"type":"reject","message":"not now"}"#))
        _ = try await waiting(for: "the stream to end") { try await body.value }
        let closed = try #require((messages(writer).last?["result"] as? [String: Any])?["structuredContent"] as? [String: Any])
        #expect(closed["status"] as? String == "approval_closed")
        #expect(await answer(h, forms[0], #"{"action":"accept","content":{"decision":"approve"}}"#) == 400)
    }

    @Test func longArgumentsAreCutSayingSoAndTheStateIsNotKeptWithTheRun() throws {
        var agent = AgentDefinition(id: "a")
        agent.approvals = ["calculator": ApprovalPolicy()]
        let long = #"{"expression":""# + String(repeating: "1+", count: 3000) + #"1"}"#
        let request = ApprovalRequest(runID: "r", agent: agent, calls: [ToolCall(id: "c", name: "calculator", arguments: long)], now: Date())
        let message = MCPApprovals.message(request, request.calls[0], threadID: "t1")
        #expect(message.hasPrefix("The arguments are longer than this form shows (\(long.count) characters"))
        #expect(message.contains("thread t1") && message.contains("[cut]") && message.count < long.count)
        let short = ApprovalRequest(runID: "r", agent: agent, calls: [ToolCall(id: "c", name: "calculator", arguments: #"{"expression":"1+1"}"#)], now: Date())
        #expect(!MCPApprovals.message(short, short.calls[0], threadID: "t1").contains("[cut]"))
        let body = Array(#"{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"x","requestState":"v1.a.b","inputResponses":{}}}"#.utf8)
        #expect(!MCPEndpoints.kept(body).contains("v1.a.b") && MCPEndpoints.kept(body).contains("inputResponses"))
    }

    /// A 32-byte MAC in base64url ends in a character with two spare bits: another spelling of the same bytes is
    /// refused, so a state has one spelling only (an altered last character always fails).
    @Test func aStateHasOneSpellingOnly() throws {
        let secret = [UInt8](repeating: 7, count: 32)
        let token = MCPApprovalState(approval: "a", thread: "t", key: "k", tool: "x").sealed(with: secret)
        #expect(MCPApprovalState.opened(token, secret: secret)?.approval == "a")
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
        let last = try #require(alphabet.firstIndex(of: token.last!))
        let respelled = String(token.dropLast()) + String(alphabet[last ^ 1])
        #expect(MCPSeal.bytes(Substring(respelled.split(separator: ".").last!)) == MCPSeal.bytes(Substring(token.split(separator: ".").last!)))
        #expect(MCPApprovalState.opened(respelled, secret: secret) == nil)
    }
}
