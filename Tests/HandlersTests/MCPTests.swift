import HTTPTypes
import AgentRuntime
import Foundation
@testable import Handlers
import Runs
import Store
import TestSupport
import Testing

/// `POST /mcp` in-process: the eras, the header checks, scopes and tenants, progress and cancel by request id. MCP's
/// own clients drive it live through nginx and three workers (Tests/Python/test_mcp.py).
@Suite struct MCPTests {
    static let modern: [(String, String)] = [("MCP-Protocol-Version", "2026-07-28"), ("Accept", "application/json, text/event-stream")]
    static let meta = #""_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}"#

    func rpc(_ h: ThreadHarness, _ body: String, headers: [(String, String)] = []) async throws -> (Int, [String: Any]) {
        let response = await h.call("POST", "/mcp", body, headers: headers)
        #expect(response.headers[.contentType] == "application/json", "\(body)")
        return (response.status.code, try await jsonObject(response))
    }

    func errorCode(_ object: [String: Any]) -> Int? { (object["error"] as? [String: Any])?["code"] as? Int }

    @Test func handshakeEraListsAndCallsAgents() async throws {
        let h = try ThreadHarness()
        for version in ["2025-03-26", "2025-06-18", "2025-11-25"] {
            let (_, answer) = try await rpc(h, #"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"\#(version)","capabilities":{}}}"#)
            #expect((answer["result"] as? [String: Any])?["protocolVersion"] as? String == version)
        }
        let (_, older) = try await rpc(h, #"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2024-11-05"}}"#)
        #expect((older["result"] as? [String: Any])?["protocolVersion"] as? String == "2025-11-25")
        #expect(await h.call("POST", "/mcp", #"{"jsonrpc":"2.0","method":"notifications/initialized"}"#).status == 202)
        let (_, list) = try await rpc(h, #"{"jsonrpc":"2.0","id":"l","method":"tools/list"}"#)
        let tools = try #require((list["result"] as? [String: Any])?["tools"] as? [[String: Any]])
        #expect(tools.compactMap { $0["name"] as? String } == ThreadHarness.agents.map(\.id))
        #expect((list["result"] as? [String: Any])?["ttlMs"] == nil, "the 2026 fields are not sent to the handshake era")
        let (status, called) = try await rpc(h, #"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"echo","arguments":{"message":"hello tools"}}}"#)
        #expect(status == 200 && called["id"] as? Int == 7)
        let result = try #require(called["result"] as? [String: Any])
        #expect(((result["content"] as? [[String: Any]])?.first?["text"] as? String)?.contains("hello tools") == true)
        let structured = try #require(result["structuredContent"] as? [String: Any])
        let threadID = try #require(structured["thread_id"] as? String)
        let runID = try #require(structured["run_id"] as? String)
        #expect(try await h.store.run(runID)?.status == .success)
        // The thread continues: both exchanges are on it.
        _ = try await rpc(h, #"{"jsonrpc":"2.0","id":8,"method":"tools/call","params":{"name":"echo","arguments":{"message":"again","thread_id":"\#(threadID)"}}}"#)
        #expect(try await h.store.messages(thread: threadID, limit: nil).count == 4)
    }

    @Test func modernRevisionChecksHeadersAgainstTheBody() async throws {
        let h = try ThreadHarness()
        let (_, discovered) = try await rpc(h, #"{"jsonrpc":"2.0","id":1,"method":"server/discover","params":{\#(Self.meta)}}"#,
                                            headers: Self.modern + [("Mcp-Method", "server/discover")])
        let result = try #require(discovered["result"] as? [String: Any])
        #expect(result["supportedVersions"] as? [String] == ["2026-07-28"] && result["resultType"] as? String == "complete")
        #expect(result["ttlMs"] as? Int == 0 && result["cacheScope"] as? String == "private")
        let (_, list) = try await rpc(h, #"{"jsonrpc":"2.0","id":2,"method":"tools/list","params":{\#(Self.meta)}}"#,
                                      headers: Self.modern + [("Mcp-Method", "tools/list")])
        #expect((list["result"] as? [String: Any])?["cacheScope"] as? String == "private")
        let call = #"{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"echo","arguments":{"message":"hi"},\#(Self.meta)}}"#
        for (headers, code) in [([("Mcp-Method", "tools/list"), ("Mcp-Name", "echo")], -32020),
                                ([("Mcp-Method", "tools/call"), ("Mcp-Name", "other")], -32020),
                                ([("Mcp-Method", "tools/call")], -32020)] {
            let (status, answer) = try await rpc(h, call, headers: Self.modern + headers)
            #expect(status == 400 && errorCode(answer) == code, "\(headers)")
        }
        let (ok, answer) = try await rpc(h, call, headers: Self.modern + [("Mcp-Method", "tools/call"), ("Mcp-Name", "echo")])
        #expect(ok == 200 && (answer["result"] as? [String: Any])?["resultType"] as? String == "complete")
        // No _meta: invalid params; an unknown method: 404; an unknown version: -32022.
        let (bare, noMeta) = try await rpc(h, #"{"jsonrpc":"2.0","id":4,"method":"tools/list"}"#, headers: Self.modern + [("Mcp-Method", "tools/list")])
        #expect(bare == 400 && errorCode(noMeta) == -32602)
        let (missing, unknown) = try await rpc(h, #"{"jsonrpc":"2.0","id":5,"method":"nope/nothing","params":{\#(Self.meta)}}"#,
                                               headers: Self.modern + [("Mcp-Method", "nope/nothing")])
        #expect(missing == 404 && errorCode(unknown) == -32601)
        let future = Self.meta.replacingOccurrences(of: "2026-07-28", with: "2099-01-01")
        let (unsupported, version) = try await rpc(h, #"{"jsonrpc":"2.0","id":6,"method":"tools/list","params":{\#(future)}}"#,
                                                   headers: [("MCP-Protocol-Version", "2099-01-01"), ("Mcp-Method", "tools/list")])
        #expect(unsupported == 400 && errorCode(version) == -32022)
        // A handshake-era request with a version header nobody agreed on.
        let (legacy, legacyVersion) = try await rpc(h, #"{"jsonrpc":"2.0","id":7,"method":"tools/list"}"#, headers: [("MCP-Protocol-Version", "1999-01-01")])
        #expect(legacy == 400 && errorCode(legacyVersion) == -32022)
    }

    @Test func malformedMessagesAreJSONRPCErrorsAndStoreNothing() async throws {
        let h = try ThreadHarness()
        for (body, status, code) in [("{not json", 400, -32700), (#"[{"jsonrpc":"2.0","id":1,"method":"ping"}]"#, 400, -32600),
                                     (#"{"jsonrpc":"1.0","id":1,"method":"ping"}"#, 400, -32600), (#"{"jsonrpc":"2.0","id":null,"method":"ping"}"#, 400, -32600),
                                     (#"{"jsonrpc":"2.0","id":1,"method":"nope"}"#, 200, -32601),
                                     (#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"nope","arguments":{"message":"x"}}}"#, 200, -32602),
                                     (#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":"x"}}}"#, 200, -32602),
                                     (#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"message":""}}}"#, 200, -32602),
                                     (#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"message":"x","thread_id":"a/b"}}}"#, 200, -32602),
                                     (#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"message":"x","thread_id":"missing"}}}"#, 200, -32602)] {
            let (got, answer) = try await rpc(h, body)
            #expect(got == status && errorCode(answer) == code, "\(body): \(answer)")
        }
        // The agent's input limits hold here as on every route (tiny has a 40-token context).
        let long = Array(repeating: "word", count: 100).joined(separator: " ")
        let (limited, tooLarge) = try await rpc(h, #"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"tiny","arguments":{"message":"\#(long)"}}}"#)
        #expect(limited == 200 && errorCode(tooLarge) == -32602
                && ((tooLarge["error"] as? [String: Any])?["data"] as? [String: Any])?["code"] as? String == "context_too_large", "\(tooLarge)")
        #expect(try await h.store.searchThreads(ThreadQuery(limit: 100)).isEmpty)
        let wrongMethod = await h.call("GET", "/mcp")
        #expect(wrongMethod.status == 405 && wrongMethod.headers[.allow] == "POST")
    }

    @Test func scopesPerMethodAndTenantsApply() async throws {
        let h = try ThreadHarness(requireKeys: true)
        let reader = try await h.makeKey(tenant: "a", scopes: ["agents:read"])
        let writerA = try await h.makeKey(tenant: "a", scopes: ["runs:write"])
        let writerB = try await h.makeKey(tenant: "b", scopes: ["runs:write", "agents:read"])
        let (noKey, unauthorized) = try await rpc(h, #"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#)
        #expect(noKey == 401 && errorCode(unauthorized) == -32600)
        let (listed, _) = try await rpc(h, #"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#, headers: [("Authorization", "Bearer \(reader)")])
        #expect(listed == 200)
        let call = #"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"echo","arguments":{"message":"mine"}}}"#
        let (forbidden, lacks) = try await rpc(h, call, headers: [("Authorization", "Bearer \(reader)")])
        #expect(forbidden == 403 && ((lacks["error"] as? [String: Any])?["data"] as? [String: Any])?["code"] as? String == "forbidden")
        let (_, made) = try await rpc(h, call, headers: [("Authorization", "Bearer \(writerA)")])
        let threadID = try #require(((made["result"] as? [String: Any])?["structuredContent"] as? [String: Any])?["thread_id"] as? String)
        let other = #"{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"echo","arguments":{"message":"theirs","thread_id":"\#(threadID)"}}}"#
        let (_, notFound) = try await rpc(h, other, headers: [("Authorization", "Bearer \(writerB)")])
        #expect(((notFound["error"] as? [String: Any])?["data"] as? [String: Any])?["code"] as? String == "thread_not_found")
        #expect(try await h.store.messages(thread: Tenancy.internalID(threadID, tenant: "a"), limit: nil).count == 2)
    }

    @Test func progressStreamsAndACancelFindsTheRunByItsRequestID() async throws {
        let clock = GateClock()
        let h = try ThreadHarness(clock: clock)
        let slow = #"{"jsonrpc":"2.0","id":"p","method":"tools/call","params":{"name":"slow","arguments":{"message":"one two three four"},"_meta":{"progressToken":"tok"}}}"#
        let response = await h.call("POST", "/mcp", slow, headers: [("Accept", "application/json, text/event-stream")])
        #expect(response.headers[.contentType] == "text/event-stream")
        let reading = Task { try await bodyText(response) }
        // The run is held at its first token: a cancel by its request id (as from another worker) ends it.
        func firstRun() async throws -> RunRecord? {
            guard let thread = try await h.store.searchThreads(ThreadQuery(limit: 10)).first else { return nil }
            return try await h.store.runs(thread: thread.id, limit: 1, offset: 0, status: nil).first
        }
        // Once its first step is logged (the progress it makes), as a client cancels a call it saw begin.
        for _ in 0..<250 {
            if let run = try await firstRun(), try await h.store.events(run: run.id, after: 0, limit: 10).count >= 2 { break }
            try await Task.sleep(for: .milliseconds(20))
        }
        for _ in 0..<250 {
            #expect(await h.call("POST", "/mcp", #"{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":"p"}}"#).status == 202)
            if try await firstRun()?.status == .interrupted { break }
            try await Task.sleep(for: .milliseconds(20))
        }
        let frames = parseSSE(try await reading.value)
        let messages = frames.compactMap { try? JSONSerialization.jsonObject(with: Data($0.data.utf8)) as? [String: Any] }
        #expect(frames.allSatisfy { $0.event == "message" && $0.id == nil })
        let progress = messages.filter { $0["method"] as? String == "notifications/progress" }
        #expect(progress.first.flatMap { ($0["params"] as? [String: Any])?["progressToken"] as? String } == "tok", "\(messages)")
        #expect(errorCode(try #require(messages.last)) == -32800, "the cancelled call ends with MCP's request-cancelled error")
        #expect(try await firstRun()?.status == .interrupted)
        _ = clock
    }
}
