import HTTPTypes
import Foundation
@testable import Handlers
import Testing
import TestSupport

@Suite struct RunTests {
    let app = makeTestApp()
    let hello = #"{"assistant_id":"echo","input":{"messages":[{"role":"user","content":"Hello there"}]}}"#

    @Test func waitAnswersWithTheFinalStateAndUsage() async throws {
        let response = await app.respond(to: jsonRequest("POST", "/runs/wait", hello))
        #expect(response.status == 200)
        #expect(response.headers[.contentLocation]?.hasPrefix("/runs/") == true)
        let state = try await jsonObject(response)
        let messages = try #require(state["messages"] as? [[String: Any]])
        #expect(messages.map { $0["type"] as? String } == ["human", "ai"])
        #expect(messages[1]["content"] as? String == "You said: Hello there")
        let usage = try #require(messages[1]["usage_metadata"] as? [String: Int])
        // Input: the instructions "Be brief." (2) and "Hello there" (2); output: 4 tokens.
        #expect(usage == ["input_tokens": 4, "output_tokens": 4, "total_tokens": 8])
    }

    @Test func streamSendsMetadataThenTokensThenValuesThenEnd() async throws {
        let response = await app.respond(to: jsonRequest("POST", "/runs/stream", hello))
        #expect(response.status == 200)
        #expect(response.headers[.contentType] == "text/event-stream")
        #expect(response.headers[.cacheControl] == "no-cache")
        #expect(response.headers[.xAccelBuffering] == "no")
        guard case .stream(let heartbeat, _) = response.body else {
            Issue.record("not a stream")
            return
        }
        #expect(heartbeat == Heartbeat(interval: .seconds(15), bytes: Array(": ping\n\n".utf8)))
        let frames = parseSSE(try await bodyText(response))
        #expect(frames.map(\.event) == ["metadata", "values", "messages", "messages", "messages", "messages", "custom", "custom", "values", "end"])
        #expect(frames.map(\.id) == (0..<frames.count).map { String($0) })
        let metadata = try #require(try JSONSerialization.jsonObject(with: Data(frames[0].data.utf8)) as? [String: Any])
        #expect(response.headers[.contentLocation] == "/runs/\(try #require(metadata["run_id"] as? String))")
        let tokens = try frames.filter { $0.event == "messages" }.map { frame -> String in
            let tuple = try #require(try JSONSerialization.jsonObject(with: Data(frame.data.utf8)) as? [Any])
            return try #require((tuple[0] as? [String: Any])?["content"] as? String)
        }
        #expect(tokens.joined() == "You said: Hello there")
    }

    @Test func streamModesSelectTheEvents() async throws {
        let body = #"{"assistant_id":"echo","input":{"messages":[{"role":"user","content":"a b"}]},"stream_mode":["updates","messages"]}"#
        let frames = parseSSE(try await bodyText(await app.respond(to: jsonRequest("POST", "/runs/stream", body))))
        #expect(frames.map(\.event) == ["metadata", "messages/metadata", "messages/partial", "messages/partial",
                                        "messages/partial", "messages/partial", "messages/complete", "updates", "end"])
        let last = try #require(frames.last { $0.event == "messages/partial" })
        #expect(last.data.contains(#""content":"You said: a b""#))
    }

    @Test func clientThatLeavesStopsTheRun() async throws {
        // The model's token delays run on a clock that lets every sleep end at once and counts them: one per token.
        let clock = GateClock(open: true)
        let app = makeTestApp(clock: clock)
        let body = #"{"assistant_id":"slow","input":{"messages":[{"role":"user","content":"one two three four five six"}]}}"#
        let response = await app.respond(to: jsonRequest("POST", "/runs/stream", body))
        let writer = CollectingWriter(failAfter: 3)
        await #expect(throws: ClientDisconnected.self) {
            _ = try await bodyText(response, writer: writer)
        }
        // metadata, values and the first token went out; the second token's write failed, and the run stopped
        // there: the model made 2 of its 8 tokens (with on_disconnect continue it makes all 8: the next test).
        #expect(writer.writes == 3)
        #expect(clock.sleeps.all.count == 2)
    }

    @Test func onDisconnectContinueFinishesTheRun() async throws {
        // 8 tokens: with `continue` the run goes on after the client has gone (writes fail from the 3rd), and the
        // request ends only when the run has made all of them. The clock lets every token delay end at once and
        // counts them.
        let clock = GateClock(open: true)
        let app = makeTestApp(clock: clock)
        let body = #"{"assistant_id":"slow","on_disconnect":"continue","input":{"messages":[{"role":"user","content":"one two three four five six"}]}}"#
        let response = await app.respond(to: jsonRequest("POST", "/runs/stream", body))
        let writer = CollectingWriter(failAfter: 2)
        await #expect(throws: ClientDisconnected.self) {
            _ = try await bodyText(response, writer: writer)
        }
        #expect(writer.writes == 2)
        #expect(clock.sleeps.all.count == 8)
    }

    @Test func cancellingTheTaskStopsTheRunPromptly() async throws {
        // Tokens come only as the test lets them: the run is mid-answer when cancelled, and cannot finish first.
        let clock = GateClock()
        let app = makeTestApp(clock: clock)
        let body = #"{"assistant_id":"slow","input":{"messages":[{"role":"user","content":"one two three four five six seven eight"}]}}"#
        let response = await app.respond(to: jsonRequest("POST", "/runs/stream", body))
        let writer = CollectingWriter()
        let task = Task { try await bodyText(response, writer: writer) }
        clock.allow(1)
        try await writer.waitForFrame("messages")
        task.cancel()
        // Had the cancellation not reached the run, it would wait for its next token for ever: hence the limit.
        let result = try await waiting(for: "the run to stop") { await task.result }
        #expect(throws: CancellationError.self) { try result.get() }
        let events = parseSSE(writer.text).map(\.event)
        #expect(events.contains("messages"))
        #expect(!events.contains("end"))
    }

    @Test(arguments: [
        (#"{"input":{"messages":[{"role":"user","content":"x"}]}}"#, 422, "assistant_id"),
        (#"{"assistant_id":"nobody","input":{"messages":[{"role":"user","content":"x"}]}}"#, 404, "assistant_id"),
        (#"{"assistant_id":"echo"}"#, 422, "input"),
        (#"{"assistant_id":"echo","input":{"messages":[]}}"#, 422, "input.messages"),
        (#"{"assistant_id":"echo","input":{"messages":[{"role":"user"}]}}"#, 422, "input.messages[0].content"),
        (#"{"assistant_id":"echo","input":{"messages":[{"role":"user","content":5}]}}"#, 422, "input.messages[0].content"),
        (#"{"assistant_id":"echo","input":{"messages":[{"content":"x"}]}}"#, 422, "input.messages[0].role"),
        (#"{"assistant_id":"echo","input":{"messages":[{"role":"robot","content":"x"}]}}"#, 422, "input.messages[0].role"),
        (#"{"assistant_id":"echo","input":{"messages":[{"role":"user","content":"x"}],"__extra":1}}"#, 422, "input"),
        (#"{"assistant_id":"echo","input":{"messages":"hi"}}"#, 422, "input.messages"),
        (#"{"assistant_id":"echo","input":{"messages":[{"role":"user","content":"x"}]},"stream_mode":"video"}"#, 422, "stream_mode"),
        (#"{"assistant_id":"echo","input":{"messages":[{"role":"user","content":"x"}]},"stream_mode":["values",3]}"#, 422, "stream_mode[1]"),
        (#"{"assistant_id":"echo","input":{"messages":[{"role":"user","content":"x"}]},"on_disconnect":"later"}"#, 422, "on_disconnect"),
        (#"{"assistant_id":7,"input":{"messages":[{"role":"user","content":"x"}]}}"#, 422, "assistant_id"),
        // Agent Protocol's name for the agent, or LangGraph's: one of them, even when they agree.
        (#"{"assistant_id":"echo","agent_id":"echo","input":{"messages":[{"role":"user","content":"x"}]}}"#, 422, "agent_id"),
        (#"[1,2]"#, 422, ""),
    ])
    func invalidRunsNameTheField(body: String, status: Int, field: String) async throws {
        for path in ["/runs/wait", "/runs/stream"] {
            let response = await app.respond(to: jsonRequest("POST", path, body))
            #expect(response.status.code == status, "\(path) \(body)")
            #expect(response.headers[.contentType] == "application/problem+json")
            let problem = try await jsonObject(response)
            #expect(problem["field"] as? String == field, "\(path) \(body): \(problem)")
            #expect((problem["detail"] as? String)?.contains("Swift") == false)
            if status == 422 {
                #expect((problem["detail"] as? String)?.hasPrefix(field.isEmpty ? "The request" : field + ": ") == true, "\(problem)")
            }
        }
    }

    @Test func wrongContentTypeSaysWhatIsExpected() async throws {
        let response = await app.respond(to: jsonRequest("POST", "/runs/wait",
            #"{"assistant_id":"echo","input":{"messages":[{"role":"user","content":5}]}}"#))
        #expect(try await jsonObject(response)["detail"] as? String == "input.messages[0].content: must be a string or a list of content parts")
    }

    @Test func malformedBodiesGetTheirOwnStatus() async throws {
        let cases: [(Request, Int, String)] = [
            (jsonRequest("POST", "/runs/wait", "{\"assistant_id\":"), 400, "malformed_json"),
            (jsonRequest("POST", "/runs/wait", hello, contentType: "text/plain"), 415, "unsupported_media_type"),
            (Request(method: .post, path: "/runs/wait", body: Array(hello.utf8)), 415, "unsupported_media_type"),
            (jsonRequest("POST", "/runs/wait", ""), 400, "empty_body"),
            (Request(method: .post, path: "/runs/wait", headers: [HTTPField.Name("content-type")!: "application/json; charset=utf-8"],
                     body: Array(#"{"assistant_id":"echo","input":{"messages":[{"role":"user","content":""#.utf8) + [0xC3, 0x28] + Array(#""}]}}"#.utf8)),
             400, "invalid_utf8"),
        ]
        for (request, status, code) in cases {
            let response = await app.respond(to: request)
            #expect(response.status.code == status)
            #expect(try await jsonObject(response)["code"] as? String == code)
        }
    }

    @Test func acceptsLangChainStyleAndContentParts() async throws {
        let body = #"{"agent_id":"echo","messages":[{"type":"human","content":[{"type":"text","text":"part one"},{"type":"text","text":" two"}]}]}"#
        let state = try await jsonObject(await app.respond(to: jsonRequest("POST", "/runs/wait", body)))
        let messages = try #require(state["messages"] as? [[String: Any]])
        #expect(messages.last?["content"] as? String == "You said: part one two")
    }
}
