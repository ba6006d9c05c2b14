import AgentRuntime
import Foundation
@testable import Handlers
import Runs
import Store
import TestSupport
import Testing

/// `POST /threads/{thread_id}/state` takes every message a state shows: a state read and written back is the same
/// state (schemathesis found tool messages refused and an assistant's tool calls dropped).
@Suite struct StateUpdateTests {
    func messages(_ h: ThreadHarness, _ thread: String) async throws -> [[String: Any]] {
        let state = try await h.json("GET", "/threads/\(thread)/state")
        return try #require((state["values"] as? [String: Any])?["messages"] as? [[String: Any]])
    }

    func update(_ h: ThreadHarness, _ thread: String, _ messages: Any) async throws -> Response {
        let body = try JSONSerialization.data(withJSONObject: ["values": ["messages": messages]])
        return await h.call("POST", "/threads/\(thread)/state", String(decoding: body, as: UTF8.self))
    }

    @Test func aStateWrittenBackIsTheSameState() async throws {
        let h = try ApprovalTests.harness()
        let thread = try await h.newThread()
        _ = try await h.json("POST", "/threads/\(thread)/runs/wait", ApprovalTests.ask("what is 12*(3+4)?", agent: "free"))
        let before = try await messages(h, thread)
        #expect(before.compactMap { $0["type"] as? String } == ["human", "ai", "tool", "ai"])
        #expect(try await update(h, thread, before).status == .ok)
        let after = try await messages(h, thread)
        #expect(NSArray(array: after).isEqual(to: before), "\(after)\n\(before)")
        // The thread goes on from it: the model sees a call and its result.
        let next = try await h.json("POST", "/threads/\(thread)/runs/wait", ApprovalTests.ask("what is 2+2?", agent: "free"))
        #expect(messageContents(next).last?.contains("4") == true, "\(messageContents(next))")
    }

    @Test func toolCallsInEitherDialectAreKeptAndBadOnesRefused() async throws {
        let h = try ApprovalTests.harness()
        let thread = try await h.newThread()
        let openAI: [String: Any] = ["role": "assistant", "content": "", "id": "a1",
                                     "tool_calls": [["id": "c1", "type": "function", "function": ["name": "calculator", "arguments": #"{"expression":"1+1"}"#]]]]
        let result: [String: Any] = ["role": "tool", "content": "2", "tool_call_id": "c1", "id": "t1", "name": "calculator"]
        #expect(try await update(h, thread, [["role": "user", "content": "1+1?"], openAI, result]).status == .ok)
        let stored = try await messages(h, thread)
        let calls = try #require(stored[1]["tool_calls"] as? [[String: Any]])
        #expect(calls.first?["name"] as? String == "calculator" && (calls.first?["args"] as? [String: Any])?["expression"] as? String == "1+1")
        #expect(stored[2]["type"] as? String == "tool" && stored[2]["tool_call_id"] as? String == "c1")

        let refused: [([String: Any], String)] = [
            (["type": "tool", "content": "2"], "values.messages[0].tool_call_id"),
            (["role": "user", "content": "hi", "tool_calls": [["id": "c", "name": "calculator", "args": [:] as [String: Any]]]], "values.messages[0].tool_calls"),
            (["type": "ai", "content": "", "tool_calls": [["name": "calculator"]]], "values.messages[0].tool_calls[0].id"),
            (["type": "ai", "content": "", "tool_calls": [["id": "c", "name": "calculator", "args": "1+1"]]], "values.messages[0].tool_calls[0].args"),
            (["type": "ai", "content": "", "tool_calls": [["id": "c", "function": ["arguments": "{}"]]]], "values.messages[0].tool_calls[0].function.name"),
            (["type": "ai", "content": "", "tool_calls": "calculator"], "values.messages[0].tool_calls"),
        ]
        for (message, field) in refused {
            let response = try await update(h, thread, [message])
            #expect(response.status.code == 422, "\(message)")
            #expect(try await jsonObject(response)["field"] as? String == field, "\(message)")
        }
        #expect(try await messages(h, thread).count == 3, "nothing of a refused update is kept")
    }

    @Test func anEmptyIntegerQueryParameterIsRefused() async throws {
        let h = try ThreadHarness()
        let thread = try await h.newThread()
        #expect(await h.call("GET", "/threads/\(thread)/history?limit=").status.code == 422)
        #expect(await h.call("GET", "/threads/\(thread)/runs?offset=").status.code == 422)
        #expect(await h.call("GET", "/threads/\(thread)/history?limit=2").status.code == 200)
    }
}
