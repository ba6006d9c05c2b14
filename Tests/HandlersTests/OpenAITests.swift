import HTTPTypes
import AgentRuntime
import Foundation
@testable import Handlers
import Store
import TestSupport
import Testing

/// The OpenAI dialect over the same engine, in-process; the real `openai` client drives it live (Tests/Python).
@Suite struct OpenAITests {
    static let agents = ThreadHarness.agents + RunEngineTests.calcAgents

    func object(_ response: Response) async throws -> [String: Any] { try await jsonObject(response) }

    /// The media type is read in bytes: a combining mark after the comma makes one Character of the two.
    @Test func dataURLTypeIsReadInBytes() {
        #expect(OpenAIContent.dataURLType("data:image/png;base64,\u{301}AAAA") == "image/png")
        #expect(OpenAIContent.dataURLType("data:text/csv;base64,a,b") == "text/csv")
        #expect(OpenAIContent.dataURLType("data:image/png,AAAA") == nil)
        #expect(OpenAIContent.dataURLType("http://x/,") == nil)
    }

    @Test func modelsAreTheAgents() async throws {
        let h = try ThreadHarness(agents: Self.agents)
        let list = try await object(h.call("GET", "/v1/models"))
        #expect(list["object"] as? String == "list")
        #expect(((list["data"] as? [[String: Any]]) ?? []).compactMap { $0["id"] as? String } == Self.agents.map(\.id))
        #expect(try await object(h.call("GET", "/v1/models/calc"))["owned_by"] as? String == "agentfcgi")
        let missing = await h.call("GET", "/v1/models/nope")
        #expect(missing.status == 404)
        let error = try #require(try await object(missing)["error"] as? [String: Any])
        #expect(error["code"] as? String == "model_not_found" && error["type"] as? String == "invalid_request_error")
        #expect(missing.headers[.contentType] == "application/json")
    }

    @Test func errorsUnderV1AreOpenAIShaped() async throws {
        let h = try ThreadHarness(agents: Self.agents)
        let bad = await h.call("POST", "/v1/chat/completions", #"{"model":"echo","messages":[{"role":"robot","content":"x"}]}"#)
        #expect(bad.status == 400)
        let error = try #require(try await object(bad)["error"] as? [String: Any])
        #expect(error["type"] as? String == "invalid_request_error" && error["param"] as? String == "messages[0].role")
        #expect(await h.call("POST", "/v1/chat/completions", #"{"model":"echo","n":2,"messages":[{"role":"user","content":"x"}]}"#).status == 400)
        for (extra, param) in [(#""top_p":2"#, "top_p"), (#""stop":["a","b","c","d","e"]"#, "stop"), (#""response_format":{"type":"xml"}"#, "response_format.type"),
                               (#""temperature":3"#, "temperature"), (#""max_tokens":0"#, "max_tokens")] {
            let response = await h.call("POST", "/v1/chat/completions", #"{"model":"echo",\#(extra),"messages":[{"role":"user","content":"x"}]}"#)
            let body = try await object(response)
            #expect(response.status == 400 && (body["error"] as? [String: Any])?["param"] as? String == param, "\(extra)")
        }
        // Accepted (the built-in model has no use for them): sampling that a model server would get.
        #expect(await h.call("POST", "/v1/chat/completions", #"{"model":"echo","top_p":0.5,"stop":"END","seed":1,"response_format":{"type":"json_object"},"user":"u","logprobs":false,"messages":[{"role":"user","content":"x"}]}"#).status == 200)
        let unknown = await h.call("GET", "/v1/nothing-here")
        let unknownBody = try await object(unknown)
        #expect(unknown.status == 404 && unknownBody["error"] != nil)
        let tools = await h.call("POST", "/v1/responses", #"{"model":"echo","input":"x","tools":[{"type":"web_search"}]}"#)
        let toolsBody = try await object(tools)
        #expect((toolsBody["error"] as? [String: Any])?["param"] as? String == "tools[0].type")
        // Elsewhere problems stay problem+json.
        #expect(await h.call("GET", "/threads/nope").headers[.contentType] == "application/problem+json")
    }

    @Test func chatCompletionAnswersAndStreams() async throws {
        let h = try ThreadHarness(agents: Self.agents)
        let body = #"{"model":"calc","messages":[{"role":"system","content":"be exact"},{"role":"user","content":"what is 6*7?"}]}"#
        let completion = try await object(h.call("POST", "/v1/chat/completions", body))
        #expect(completion["object"] as? String == "chat.completion")
        let choice = try #require((completion["choices"] as? [[String: Any]])?.first)
        let content = try #require((choice["message"] as? [String: Any])?["content"] as? String)
        #expect(content.contains("42"))
        #expect(choice["finish_reason"] as? String == "stop")
        #expect(((completion["usage"] as? [String: Any])?["total_tokens"] as? Int ?? 0) > 0)

        let streamed = body.replacingOccurrences(of: #""model":"calc""#, with: #""model":"calc","stream":true,"stream_options":{"include_usage":true}"#)
        let text = try await bodyText(h.call("POST", "/v1/chat/completions", streamed))
        let datas = text.components(separatedBy: "\n\n").filter { !$0.isEmpty }.map { $0.replacingOccurrences(of: "data: ", with: "") }
        #expect(!text.contains("event:") && !text.contains("id:"))
        #expect(datas.last == "[DONE]")
        let chunks = try datas.dropLast().map { try #require(try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]) }
        #expect(chunks.allSatisfy { $0["object"] as? String == "chat.completion.chunk" })
        let deltas = chunks.compactMap { (($0["choices"] as? [[String: Any]])?.first?["delta"] as? [String: Any])?["content"] as? String }
        #expect(deltas.joined() == content)
        #expect((chunks.last?["choices"] as? [Any])?.isEmpty == true && chunks.last?["usage"] != nil)
        #expect((chunks[chunks.count - 2]["choices"] as? [[String: Any]])?.first?["finish_reason"] as? String == "stop")
    }

    @Test func responsesAreStoredRunsReadFromTheirLog() async throws {
        let h = try ThreadHarness(agents: Self.agents)
        let created = try await object(h.call("POST", "/v1/responses", #"{"model":"calc","input":"what is 6*7?","metadata":{"k":"v"}}"#))
        #expect(created["status"] as? String == "completed" && created["object"] as? String == "response")
        let output = try #require(created["output"] as? [[String: Any]])
        #expect(output.map { $0["type"] as? String } == ["mcp_call", "message"])
        #expect(output[0]["output"] as? String == "42" && output[0]["server_label"] as? String == "agentfcgi")
        let id = try #require(created["id"] as? String)
        #expect((created["metadata"] as? [String: String]) == ["k": "v"])

        // The same response's events, from the log, numbered from 0; resuming after N gives the rest exactly.
        let events = parseSSE(try await bodyText(h.call("GET", "/v1/responses/\(id)?stream=true")))
        let numbers = try events.map { frame -> Int in
            let data = try #require(try JSONSerialization.jsonObject(with: Data(frame.data.utf8)) as? [String: Any])
            #expect(data["type"] as? String == frame.event)
            return try #require(data["sequence_number"] as? Int)
        }
        #expect(numbers == Array(0..<events.count))
        #expect(events.first?.event == "response.created" && events.last?.event == "response.completed")
        #expect(events.contains { $0.event == "response.mcp_call.completed" } && events.contains { $0.event == "response.output_text.delta" })
        let rest = parseSSE(try await bodyText(h.call("GET", "/v1/responses/\(id)?stream=true&starting_after=4")))
        #expect(rest.map(\.data) == events.dropFirst(5).map(\.data))
        let final = try #require(try JSONSerialization.jsonObject(with: Data(events.last!.data.utf8)) as? [String: Any])
        let retrieved = try await object(h.call("GET", "/v1/responses/\(id)"))
        #expect(((final["response"] as? [String: Any])?["output"] as? [[String: Any]])?.map { $0["id"] as? String }
                == (retrieved["output"] as? [[String: Any]])?.map { $0["id"] as? String })

        // Continue it: the conversation remembers.
        let next = try await object(h.call("POST", "/v1/responses", #"{"model":"echo","input":"and now?","previous_response_id":"\#(id)"}"#))
        #expect(next["previous_response_id"] as? String == id && next["status"] as? String == "completed")
        let items = try await object(h.call("GET", "/v1/responses/\(id)/input_items"))
        #expect(((items["data"] as? [[String: Any]])?.first?["content"] as? [[String: Any]])?.first?["text"] as? String == "what is 6*7?")
        // Not the latest any more: continuing from it again forks a conversation at the state it left.
        let fork = try await object(h.call("POST", "/v1/responses", #"{"model":"echo","input":"other","previous_response_id":"\#(id)"}"#))
        let forkConversation = try #require((fork["conversation"] as? [String: String])?["id"])
        #expect(forkConversation != (created["conversation"] as? [String: String])?["id"])
        let forkState = try await h.json("GET", "/threads/\(forkConversation)/state")
        #expect(messageContents(forkState["values"] as? [String: Any] ?? [:]).suffix(2) == ["other", "You said: other"])
        #expect(messageContents(forkState["values"] as? [String: Any] ?? [:]).contains("and now?") == false)
        let original = try await h.json("GET", "/threads/\(try #require((created["conversation"] as? [String: String])?["id"]))/state")
        #expect(messageContents(original["values"] as? [String: Any] ?? [:]).last == "You said: and now?")
        // Cancel is for background responses; delete removes it.
        #expect(await h.call("POST", "/v1/responses/\(id)/cancel").status == 400)
        #expect(try await object(h.call("DELETE", "/v1/responses/\(id)"))["deleted"] as? Bool == true)
        #expect(await h.call("GET", "/v1/responses/\(id)").status == 404)
    }

    @Test func backgroundResponsesQueueAndCancel() async throws {
        let clock = GateClock()
        let h = try ThreadHarness(agents: Self.agents, clock: clock)
        let queued = try await object(h.call("POST", "/v1/responses", #"{"model":"slow","input":"one two three","background":true}"#))
        #expect(queued["status"] as? String == "queued" && queued["background"] as? Bool == true)
        let id = try #require(queued["id"] as? String)
        try await waitFor { (try? await object(h.call("GET", "/v1/responses/\(id)")))?["status"] as? String == "in_progress" }
        let cancelled = try await object(h.call("POST", "/v1/responses/\(id)/cancel"))
        #expect(cancelled["status"] as? String == "cancelled")
        let events = parseSSE(try await bodyText(h.call("GET", "/v1/responses/\(id)?stream=true")))
        #expect(events.first?.event == "response.queued")

        clock.open()
        let done = try await object(h.call("POST", "/v1/responses", #"{"model":"echo","input":"hi","background":true}"#))
        let doneID = try #require(done["id"] as? String)
        try await waitFor { (try? await object(h.call("GET", "/v1/responses/\(doneID)")))?["status"] as? String == "completed" }
        let final = try await object(h.call("GET", "/v1/responses/\(doneID)"))
        #expect(((final["output"] as? [[String: Any]])?.first?["content"] as? [[String: Any]])?.first?["text"] as? String == "You said: hi")
    }

    @Test func clientFunctionToolsEndTheTurnForTheClient() async throws {
        let h = try ThreadHarness(agents: Self.agents)
        let tools = #"[{"type":"function","function":{"name":"get_weather","parameters":{"type":"object","properties":{"city":{"type":"string"}}}}}]"#
        let ask = #"get_weather {\"city\": \"Paris\"} calculator {\"expression\": \"2+2\"}"#
        let body = #"{"model":"calc","tools":\#(tools),"messages":[{"role":"user","content":"\#(ask)"}]}"#
        let first = try await object(h.call("POST", "/v1/chat/completions", body))
        let choice = try #require((first["choices"] as? [[String: Any]])?.first)
        #expect(choice["finish_reason"] as? String == "tool_calls")
        let calls = try #require((choice["message"] as? [String: Any])?["tool_calls"] as? [[String: Any]])
        #expect(calls.map { ($0["function"] as? [String: Any])?["name"] as? String } == ["get_weather"])
        let callID = try #require(calls.first?["id"] as? String)
        let back = #"{"model":"calc","tools":\#(tools),"messages":[{"role":"user","content":"\#(ask)"},{"role":"assistant","content":null,"tool_calls":[{"id":"\#(callID)","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}}]},{"role":"tool","tool_call_id":"\#(callID)","content":"sunny"}]}"#
        let second = try await object(h.call("POST", "/v1/chat/completions", back))
        let answer = ((second["choices"] as? [[String: Any]])?.first?["message"] as? [String: Any])?["content"] as? String
        #expect(answer == "get_weather returned sunny.")
        // Streamed: the call arrives as a tool_calls delta, and the finish says tool_calls.
        let streamed = try await bodyText(h.call("POST", "/v1/chat/completions", body.replacingOccurrences(of: #""model":"calc""#, with: #""model":"calc","stream":true"#)))
        #expect(streamed.contains(#""tool_calls":[{"function":{"arguments":"{\"city\":\"Paris\"}","name":"get_weather"}"#))
        #expect(streamed.contains(#""finish_reason":"tool_calls""#))
        // A tool named like one of the agent's is refused, by name.
        let clash = await h.call("POST", "/v1/chat/completions", #"{"model":"calc","tools":[{"type":"function","function":{"name":"calculator"}}],"messages":[{"role":"user","content":"x"}]}"#)
        #expect(try #require(try await object(clash)["error"] as? [String: Any])["param"] as? String == "tools[0].function.name")

        // Responses: a function_call item; its output continues the conversation.
        let responseTools = #"[{"type":"function","name":"get_weather","parameters":{"type":"object"}}]"#
        let created = try await object(h.call("POST", "/v1/responses", #"{"model":"calc","tools":\#(responseTools),"input":"\#(ask)"}"#))
        let output = try #require(created["output"] as? [[String: Any]])
        #expect(output.map { $0["type"] as? String } == ["function_call", "mcp_call"])
        let call = try #require(output.first?["call_id"] as? String)
        let id = try #require(created["id"] as? String)
        let events = parseSSE(try await bodyText(h.call("GET", "/v1/responses/\(id)?stream=true")))
        #expect(events.contains { $0.event == "response.function_call_arguments.done" })
        let next = try await object(h.call("POST", "/v1/responses", #"{"model":"calc","tools":\#(responseTools),"previous_response_id":"\#(id)","input":[{"type":"function_call_output","call_id":"\#(call)","output":"sunny"}]}"#))
        let text = ((next["output"] as? [[String: Any]])?.last?["content"] as? [[String: Any]])?.first?["text"] as? String
        #expect(text == "calculator returned 4. get_weather returned sunny.")
    }

    @Test func conversationsAreThreads() async throws {
        let h = try ThreadHarness(agents: Self.agents)
        let created = try await object(h.call("POST", "/v1/conversations", #"{"metadata":{"topic":"demo"},"items":[{"role":"user","content":"hello"}]}"#))
        let id = try #require(created["id"] as? String)
        #expect(id.hasPrefix("conv_") && (created["metadata"] as? [String: String]) == ["topic": "demo"])
        // The same conversation through LangGraph's API.
        let state = try await h.json("GET", "/threads/\(id)/state")
        #expect(messageContents(state["values"] as? [String: Any] ?? [:]) == ["hello"])
        let response = try await object(h.call("POST", "/v1/responses", #"{"model":"echo","conversation":"\#(id)","input":"again"}"#))
        #expect((response["conversation"] as? [String: String]) == ["id": id])
        let added = try await object(h.call("POST", "/v1/conversations/\(id)/items", #"{"items":[{"role":"user","content":[{"type":"input_text","text":"more"}]}]}"#))
        let addedID = try #require((added["data"] as? [[String: Any]])?.first?["id"] as? String)
        let items = try await object(h.call("GET", "/v1/conversations/\(id)/items?order=asc"))
        let texts = ((items["data"] as? [[String: Any]]) ?? []).compactMap { (($0["content"] as? [[String: Any]])?.first?["text"]) as? String }
        #expect(texts == ["hello", "again", "You said: again", "more"])
        #expect(try await object(h.call("GET", "/v1/conversations/\(id)/items/\(addedID)"))["id"] as? String == addedID)
        let page = try await object(h.call("GET", "/v1/conversations/\(id)/items?limit=2"))
        #expect(page["has_more"] as? Bool == true && (page["data"] as? [Any])?.count == 2)
        #expect(await h.call("DELETE", "/v1/conversations/\(id)/items/\(addedID)").status == 200)
        #expect(await h.call("GET", "/v1/conversations/\(id)/items/\(addedID)").status == 404)
        let after = try await h.json("GET", "/threads/\(id)/state")
        #expect(messageContents(after["values"] as? [String: Any] ?? [:]) == ["hello", "again", "You said: again"])
        let updated = try await object(h.call("POST", "/v1/conversations/\(id)", #"{"metadata":{"topic":"other"}}"#))
        #expect((updated["metadata"] as? [String: String]) == ["topic": "other"])
        #expect(try await object(h.call("DELETE", "/v1/conversations/\(id)"))["deleted"] as? Bool == true)
        let gone = await h.call("GET", "/v1/conversations/\(id)")
        #expect(gone.status == 404)
        #expect(await h.call("POST", "/v1/conversations", #"{"items":[{"type":"reasoning"}]}"#).status == 400)
    }

    /// A chat on a thread: the client resends the whole conversation; the thread keeps it once, and an earlier turn
    /// regenerated replaces what followed it.
    @Test func chatCompletionsOnAThreadKeepTheConversationOnce() async throws {
        let h = try ThreadHarness(agents: Self.agents)
        func chat(_ messages: [(String, String)], header: Bool = false) async throws -> String {
            let list = messages.map { #"{"role":"\#($0.0)","content":"\#($0.1)"}"# }.joined(separator: ",")
            let metadata = header ? "" : #","metadata":{"thread_id":"chat-1"}"#
            let response = await h.call("POST", "/v1/chat/completions", #"{"model":"echo","messages":[\#(list)]\#(metadata)}"#,
                                        headers: header ? [("X-OpenWebUI-Chat-Id", "chat-1")] : [])
            let body = try await object(response)
            return try #require(((body["choices"] as? [[String: Any]])?.first?["message"] as? [String: Any])?["content"] as? String)
        }
        func thread() async throws -> [String] {
            messageContents(try await h.json("GET", "/threads/chat-1/state")["values"] as? [String: Any] ?? [:])
        }
        #expect(try await chat([("system", "be brief"), ("user", "one")]) == "You said: one")
        #expect(try await thread() == ["be brief", "one", "You said: one"])
        #expect(try await chat([("system", "be brief"), ("user", "one"), ("assistant", "You said: one"), ("user", "two")], header: true) == "You said: two")
        #expect(try await thread() == ["be brief", "one", "You said: one", "two", "You said: two"])
        // The first turn regenerated: the request stops at "one"; what followed it on the thread gives way.
        #expect(try await chat([("system", "be brief"), ("user", "one")]) == "You said: one")
        #expect(try await thread() == ["be brief", "one", "You said: one"])
        // Edited: the request differs at "two" -> "deux".
        _ = try await chat([("system", "be brief"), ("user", "one"), ("assistant", "You said: one"), ("user", "two")])
        #expect(try await chat([("system", "be brief"), ("user", "one"), ("assistant", "You said: one"), ("user", "deux")], header: true) == "You said: deux")
        #expect(try await thread() == ["be brief", "one", "You said: one", "deux", "You said: deux"])
        // Streamed on the thread: chunks from the run's log.
        let streamed = try await bodyText(h.call("POST", "/v1/chat/completions",
            #"{"model":"echo","stream":true,"metadata":{"thread_id":"chat-1"},"messages":[{"role":"system","content":"be brief"},{"role":"user","content":"one"},{"role":"assistant","content":"You said: one"},{"role":"user","content":"deux"},{"role":"assistant","content":"You said: deux"},{"role":"user","content":"trois"}]}"#))
        #expect(streamed.hasSuffix("data: [DONE]\n\n") && streamed.contains(#""content":" trois""#))
        #expect(try await thread().suffix(2) == ["trois", "You said: trois"])
        #expect(try await thread().count == 7)
    }

    /// A response's end owes its configured webhooks OpenAI's event (`response.completed`, the response's id);
    /// a LangGraph run on the same server still sends `run.completed`.
    @Test func responsesEndWithOpenAIWebhookEvents() async throws {
        let settings = WebhookSettings(secretEnvironment: "X", endpoints: [.init(url: "https://hooks.example.com/all")])
        let h = try ThreadHarness(agents: Self.agents, webhooks: settings)
        let created = try await object(h.call("POST", "/v1/responses", #"{"model":"echo","input":"hi"}"#))
        let runID = try #require((created["id"] as? String)?.dropFirst(5)).description
        let deliveries = try await h.store.deliveries(run: runID)
        #expect(deliveries.map(\.eventType) == ["response.completed"])
        let first = try #require(deliveries.first)
        let payload = try #require(try JSONSerialization.jsonObject(with: Data(first.payload)) as? [String: Any])
        #expect(payload["type"] as? String == "response.completed" && payload["object"] as? String == "event")
        #expect((payload["data"] as? [String: String]) == ["id": created["id"] as? String ?? "?"])
        let run = try #require(try await h.json("POST", "/runs", ThreadHarness.input("x"))["run_id"] as? String)
        try await waitFor { (try? await h.store.deliveries(run: run))?.isEmpty == false }
        #expect(try await h.store.deliveries(run: run).map(\.eventType) == ["run.completed"])
    }

    /// Images as data: URLs are kept with the message (LangChain's content blocks on the thread); http(s) URLs pass as
    /// they are; anything else is a 400 naming the part.
    @Test func imagesAreKeptNotFetched() async throws {
        let h = try ThreadHarness(agents: Self.agents)
        let png = "data:image/png;base64," + Data(repeating: 7, count: 700_000).base64EncodedString()
        let body = #"{"model":"echo","metadata":{"thread_id":"pics"},"messages":[{"role":"user","content":[{"type":"text","text":"look"},{"type":"image_url","image_url":{"url":"\#(png)","detail":"low"}},{"type":"image_url","image_url":{"url":"https://example.com/cat.jpg"}}]}]}"#
        let answer = try await object(h.call("POST", "/v1/chat/completions", body))
        #expect(((answer["choices"] as? [[String: Any]])?.first?["message"] as? [String: Any])?["content"] as? String == "You said: look (2 images ignored: the built-in model does not look at images)")
        let state = try await h.json("GET", "/threads/pics/state")
        let first = try #require(((state["values"] as? [String: Any])?["messages"] as? [[String: Any]])?.first)
        let blocks = try #require(first["content"] as? [[String: Any]])
        #expect(blocks.map { $0["type"] as? String } == ["text", "image_url", "image_url"])
        #expect((blocks[1]["image_url"] as? [String: Any])?["url"] as? String == png)
        // The Responses API's input_image parts, the same way.
        let response = await h.call("POST", "/v1/responses", #"{"model":"echo","input":[{"role":"user","content":[{"type":"input_text","text":"see"},{"type":"input_image","image_url":"https://example.com/x.png"}]}]}"#)
        #expect(response.status == 200)
        for (content, param) in [
            (#"[{"type":"image_url","image_url":{"url":"file:///etc/passwd"}}]"#, "messages[0].content[0].image_url"),
            (#"[{"type":"image_url","image_url":{"url":"data:text/html;base64,PGh0bWw+"}}]"#, "messages[0].content[0].image_url"),
            (#"[{"type":"image_url","image_url":{"url":"https://user:pw@example.com/a.png"}}]"#, "messages[0].content[0].image_url"),
            (#"[{"type":"input_audio","input_audio":{}}]"#, "messages[0].content[0].type"),
        ] {
            let bad = await h.call("POST", "/v1/chat/completions", #"{"model":"echo","messages":[{"role":"user","content":\#(content)}]}"#)
            let error = try await object(bad)["error"] as? [String: Any]
            #expect(bad.status == 400 && error?["param"] as? String == param, "\(content)")
        }
        let system = await h.call("POST", "/v1/chat/completions", #"{"model":"echo","messages":[{"role":"system","content":[{"type":"image_url","image_url":{"url":"https://example.com/a.png"}}]},{"role":"user","content":"x"}]}"#)
        #expect(system.status == 400)
    }

    /// Documents as Chat Completions' `file` parts and the Responses API's `input_file`: kept as `file` blocks, counted
    /// by the built-in model; `file_id` (no file store) and other types refused naming the part.
    @Test func filesAreKeptAsBlocks() async throws {
        let h = try ThreadHarness(agents: Self.agents)
        let pdf = "data:application/pdf;base64," + Data("%PDF-1.4 tiny".utf8).base64EncodedString()
        let body = #"{"model":"echo","metadata":{"thread_id":"docs"},"messages":[{"role":"user","content":[{"type":"text","text":"read"},{"type":"file","file":{"file_data":"\#(pdf)","filename":"a.pdf"}}]}]}"#
        let answer = try await object(h.call("POST", "/v1/chat/completions", body))
        #expect(((answer["choices"] as? [[String: Any]])?.first?["message"] as? [String: Any])?["content"] as? String
                == "You said: read (1 file ignored: the built-in model does not look at attachments)")
        let state = try await h.json("GET", "/threads/docs/state")
        let first = try #require(((state["values"] as? [String: Any])?["messages"] as? [[String: Any]])?.first)
        let blocks = try #require(first["content"] as? [[String: Any]])
        #expect(blocks.map { $0["type"] as? String } == ["text", "file"])
        #expect(blocks[1]["file"] as? [String: String] == ["file_data": pdf, "filename": "a.pdf"])
        let responses = await h.call("POST", "/v1/responses", #"{"model":"echo","input":[{"role":"user","content":[{"type":"input_text","text":"see"},{"type":"input_file","file_data":"\#(pdf)","filename":"b.pdf"}]}]}"#)
        #expect(responses.status == 200)
        for (content, param) in [
            (#"[{"type":"file","file":{"file_id":"file-1"}}]"#, "messages[0].content[0].file"),
            (#"[{"type":"file","file":{"file_data":"data:application/x-sh;base64,ZWNobw=="}}]"#, "messages[0].content[0].file"),
        ] {
            let bad = await h.call("POST", "/v1/chat/completions", #"{"model":"echo","messages":[{"role":"user","content":\#(content)}]}"#)
            let error = try await object(bad)["error"] as? [String: Any]
            #expect(bad.status == 400 && error?["param"] as? String == param, "\(content)")
        }
    }

    /// For front-ends that render only function calls: the server's tool calls as function_call + function_call_output
    /// pairs, when the request asks for them with `include`; the same in the stream and in the retrieved response.
    @Test func serverToolCallsAsFunctionCallPairsOnRequest() async throws {
        let h = try ThreadHarness(agents: Self.agents)
        let created = try await object(h.call("POST", "/v1/responses", #"{"model":"calc","input":"what is 6*7?","include":["agentfcgi.server_tool_calls_as_functions"]}"#))
        let output = try #require(created["output"] as? [[String: Any]])
        #expect(output.map { $0["type"] as? String } == ["function_call", "function_call_output", "message"])
        #expect(output[1]["output"] as? String == "42" && output[0]["call_id"] as? String == output[1]["call_id"] as? String)
        let id = try #require(created["id"] as? String)
        let events = parseSSE(try await bodyText(h.call("GET", "/v1/responses/\(id)?stream=true")))
        #expect(!events.contains { $0.event.hasPrefix("response.mcp_call") })
        let last = try #require(events.last?.data)
        let final = try #require(try JSONSerialization.jsonObject(with: Data(last.utf8)) as? [String: Any])
        #expect(((final["response"] as? [String: Any])?["output"] as? [[String: Any]])?.map { $0["type"] as? String }
                == ["function_call", "function_call_output", "message"])
    }

    /// What an attacker's audit found, each now refused or kept whole.
    @Test func auditFindingsStayFixed() async throws {
        let clock = GateClock()
        let h = try ThreadHarness(agents: Self.agents, requireKeys: true, clock: clock)
        let admin = try await h.makeKey(tenant: "t", scopes: ["admin"])
        let runsOnly = try await h.makeKey(tenant: "t", scopes: ["runs:write", "runs:read"])
        func call(_ method: String, _ path: String, _ body: String? = nil, key: String, headers: [(String, String)] = []) async -> Response {
            await h.call(method, path, body, headers: [("Authorization", "Bearer \(key)")] + headers)
        }
        // echo makes its tokens without the clock; slow waits for the gate, which stays shut until the end.
        let first = #"{"model":"echo","metadata":{"thread_id":"kept"},"messages":[{"role":"user","content":"precious"}]}"#
        #expect(await call("POST", "/v1/chat/completions", first, key: admin).status == 200)
        // A key without threads:write cannot keep (or cut) a chat on a thread.
        let cut = #"{"model":"echo","metadata":{"thread_id":"kept"},"messages":[{"role":"user","content":"other"}]}"#
        #expect(await call("POST", "/v1/chat/completions", cut, key: runsOnly).status == 403)
        // A run that is refused (the thread is busy) leaves the thread as it was.
        _ = await call("POST", "/threads/kept/runs", #"{"assistant_id":"slow","input":{"messages":[{"role":"user","content":"x y"}]}}"#, key: admin)
        let refused = await call("POST", "/v1/chat/completions", cut, key: admin)
        #expect(refused.status == 409)
        #expect((try await object(refused)["error"] as? [String: Any])?["code"] as? String == "conversation_busy")
        let kept = try await jsonObject(call("GET", "/threads/kept/state", key: admin))
        #expect(messageContents(kept["values"] as? [String: Any] ?? [:]).prefix(2) == ["precious", "You said: precious"])
        // A conversation with a response still running is not deleted under it.
        #expect(await call("DELETE", "/v1/conversations/kept", key: admin).status == 409)
        // Image URLs naming internal addresses, in any spelling, are refused.
        for url in ["http://169.254.169.254/latest/", "http://localhost:8080/", "http://[::1]:6379/", "http://0x7f000001/", "http://10.0.0.1/a.png"] {
            let body = #"{"model":"echo","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"\#(url)"}}]}]}"#
            #expect(await call("POST", "/v1/chat/completions", body, key: admin).status == 400, "\(url)")
        }
        // Instructions are the response's only: not an item of its conversation.
        let answered = try await object(call("POST", "/v1/responses", #"{"model":"echo","input":"q","instructions":"SECRET PROMPT"}"#, key: admin))
        let conversation = try #require((answered["conversation"] as? [String: String])?["id"])
        let items = try await bodyText(call("GET", "/v1/conversations/\(conversation)/items", key: admin))
        #expect(!items.contains("SECRET PROMPT") && items.contains("You said: q"))
        // Size limits: metadata values, items at once.
        let big = String(repeating: "x", count: 600)
        #expect(await call("POST", "/v1/responses", #"{"model":"echo","input":"q","metadata":{"k":"\#(big)"}}"#, key: admin).status == 400)
        let many = (1...21).map { _ in #"{"role":"user","content":"x"}"# }.joined(separator: ",")
        #expect(await call("POST", "/v1/conversations/\(conversation)/items", #"{"items":[\#(many)]}"#, key: admin).status == 400)
        // An idempotent streamed create: the retry streams the same response, no second run.
        let streamed = #"{"model":"echo","input":"once","stream":true}"#
        let one = parseSSE(try await bodyText(call("POST", "/v1/responses", streamed, key: admin, headers: [("Idempotency-Key", "k-1")])))
        let again = await call("POST", "/v1/responses", streamed, key: admin, headers: [("Idempotency-Key", "k-1")])
        #expect(again.headers[.idempotentReplayed] == "true")
        let two = parseSSE(try await bodyText(again))
        #expect(one.map(\.data) == two.map(\.data) && !one.isEmpty)
        clock.open()
    }
}
