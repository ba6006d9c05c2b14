import HTTPTypes
import AgentRuntime
import Foundation
@testable import Handlers
@testable import Runs
import Store
import TestSupport
import Testing

/// The engine's log keeps every event whatever the creator asked for; readers pick their stream modes.
@Suite struct RunEngineTests {
    static let calcAgents = try! AgentConfigLoader.parse("""
        agents:
          - id: calc
            model: {provider: builtin, token_delay_ms: 0}
            tools: [calculator]
        """, file: "test.yaml").agents

    /// Frames of a stream as (event, data) for the frames of `event`.
    func frames(_ h: ThreadHarness, _ path: String) async throws -> [SSEFrame] {
        parseSSE(try await bodyText(h.call("GET", path)))
    }

    @Test func aRunCreatedWithValuesIsReadBackInEveryMode() async throws {
        let h = try ThreadHarness(agents: Self.calcAgents)
        let thread = try await h.newThread()
        let body = #"{"assistant_id":"calc","stream_mode":"values","input":{"messages":[{"role":"user","content":"calculator {\"expression\": \"6*7\"}"}]}}"#
        let created = await h.call("POST", "/threads/\(thread)/runs/stream", body)
        let location = try #require(created.headers[HTTPField.Name("Location")!])
        let asCreated = parseSSE(try await bodyText(created))
        #expect(Set(asCreated.map(\.event)) == ["metadata", "values", "end"])
        let answer = try #require(asCreated.last { $0.event == "values" }?.data)
        #expect(answer.contains("42"))

        // messages-tuple: the tool request, the tool's answer, and the final answer's tokens, in full.
        let tuple = try await frames(h, location + "?stream_mode=messages-tuple")
        #expect(Set(tuple.map(\.event)) == ["metadata", "messages", "end"])
        let nodes = try tuple.filter { $0.event == "messages" }.map { frame -> String in
            let pair = try #require(try JSONSerialization.jsonObject(with: Data(frame.data.utf8)) as? [Any])
            return try #require((pair[1] as? [String: String])?["langgraph_node"])
        }
        #expect(nodes.contains("tools") && nodes.contains("agent"))
        let tokens = try tuple.filter { $0.event == "messages" }.compactMap { frame -> String? in
            let pair = try #require(try JSONSerialization.jsonObject(with: Data(frame.data.utf8)) as? [Any])
            let chunk = try #require(pair[0] as? [String: Any])
            return chunk["type"] as? String == "AIMessageChunk" && (chunk["tool_calls"] as? [Any])?.isEmpty != false ? chunk["content"] as? String : nil
        }
        let final = try #require(try JSONSerialization.jsonObject(with: Data(answer.utf8)) as? [String: Any])
        #expect(tokens.joined() == messageContents(final).last)

        // messages: partials accumulate to the whole answer; every message completes.
        let messages = try await frames(h, location + "?stream_mode=messages")
        #expect(messages.contains { $0.event == "messages/metadata" })
        #expect(messages.filter { $0.event == "messages/complete" }.count == 3)
        #expect(try #require(messages.last { $0.event == "messages/partial" }).data.contains(messageContents(final).last ?? "?"))

        // updates: one per message, by node; custom: the tool call and the usage; several modes at once.
        let updates = try await frames(h, location + "?stream_mode=updates")
        #expect(updates.filter { $0.event == "updates" }.map { $0.data.hasPrefix(#"{"tools""#) ? "tools" : "agent" } == ["agent", "tools", "agent"])
        let custom = try await frames(h, location + "?stream_mode=custom")
        let types = custom.filter { $0.event == "custom" }.compactMap { frame in
            (try? JSONSerialization.jsonObject(with: Data(frame.data.utf8)) as? [String: Any])?["type"] as? String
        }
        #expect(types == ["usage", "tool_call_started", "tool_call_finished", "usage", "run_completed"])
        let both = try await frames(h, location + "?stream_mode=custom&stream_mode=updates")
        #expect(both.filter { $0.event == "custom" || $0.event == "updates" }.count == types.count + 3)

        // Numbering is per reading: the same modes give the same ids, so Last-Event-ID resumes any of them.
        let resumed = parseSSE(try await bodyText(h.call("GET", location + "?stream_mode=custom", headers: [("Last-Event-ID", "3")])))
        #expect(resumed.map(\.id) == custom.dropFirst(3).map(\.id))
        #expect(resumed.map(\.data) == custom.dropFirst(3).map(\.data))
        // A reader who had everything still gets the stream's end.
        let past = parseSSE(try await bodyText(h.call("GET", location + "?stream_mode=custom", headers: [("Last-Event-ID", "\(custom.count)")])))
        #expect(past.map(\.event) == ["end"] && past.first?.id == nil)
    }

    @Test func theLogHoldsTypedEventsThatReadBack() async throws {
        let h = try ThreadHarness(agents: Self.calcAgents)
        let thread = try await h.newThread()
        let body = #"{"assistant_id":"calc","stream_mode":"values","input":{"messages":[{"role":"user","content":"calculator {\"expression\": \"1+1\"}"}]}}"#
        let run = try #require(try await h.json("POST", "/threads/\(thread)/runs", body)["run_id"] as? String)
        try await waitFor { (try? await h.store.run(run))?.status == .success }
        let records = try await h.store.events(run: run, after: 0, limit: 1000)
        let events = try records.map { try #require(try RunLogEvent($0)) }
        #expect(records.map(\.seq) == Array(1...records.count))
        #expect(events.map(\.kind) == [
            "run.started", "step.started", "run.usage", "message.started", "message.completed", "step.finished", "step.started",
            "tool.started", "tool.finished", "message.completed", "step.finished", "step.started", "message.started", "message.delta",
        ] + Array(repeating: "message.delta", count: events.count - 19) + [
            "run.usage", "message.completed", "step.finished", "run.checkpoint", "run.end",
        ])
        // Every kind survives the log: what was written is what is read.
        for event in events { #expect(try RunLogEvent(event.record(seq: 1)) == event) }
        let others: [RunLogEvent] = [.interrupt(.object(["question": .string("ok?")])), .error(code: "x", message: "y"),
                                      .toolFailed(StoredToolCall(ToolCall(id: "c", name: "n", arguments: "not json")), error: "bad")]
        for event in others { #expect(try RunLogEvent(event.record(seq: 1)) == event) }
        // The job is stored typed, and the request is shown back as it was sent.
        let stored = try #require(try await h.store.run(run))
        let job = try RunJob.decode(try #require(stored.job))
        #expect(job.agentID == "calc" && job.streamModes == ["values"] && job.onDisconnect == .continue)
        #expect(stored.kwargs.contains(#""stream_mode":"values""#))
    }

    @Test func logsWrittenBeforeTheUpgradeStayReadable() async throws {
        let h = try ThreadHarness()
        let thread = try await h.newThread()
        var new = NewRun(id: "legacy-run", threadID: thread, assistantID: "echo", kwargs: ThreadHarness.input("hi"))
        new.worker = "old-worker"
        new.leaseUntil = Date() + 60
        _ = try await h.store.createRun(new)
        _ = try await h.store.claimRun("legacy-run", worker: "old-worker", leaseUntil: Date() + 60)
        let old: [(String, String)] = [
            ("metadata", #"{"attempt":1,"run_id":"legacy-run","thread_id":"\#(thread)"}"#),
            ("values", #"{"messages":[{"content":"hi","id":"m1","type":"human"}]}"#),
            ("messages", #"[{"content":"You said: hi","id":"m2","type":"AIMessageChunk"},{"agent_id":"echo","langgraph_node":"agent","run_id":"legacy-run"}]"#),
            ("custom", #"{"turn":1,"type":"run_completed","usage":{"input_tokens":1,"output_tokens":3,"total_tokens":4}}"#),
        ]
        for (index, frame) in old.enumerated() {
            try await h.store.appendEvent(run: "legacy-run", EventRecord(seq: index + 1, event: frame.0, data: Array(frame.1.utf8)))
        }
        // And a kind from a newer release, which this one leaves out.
        try await h.store.appendEvent(run: "legacy-run", EventRecord(seq: 5, event: "run.from_the_future", data: Array("{}".utf8)))
        _ = try await h.store.finishRun("legacy-run", worker: "old-worker", RunCompletion(
            status: .success, messages: [], result: "{}", closingEvents: [EventRecord(seq: 6, event: "end", data: Array("null".utf8))]))
        let path = "/threads/\(thread)/runs/legacy-run/stream"
        let all = try await frames(h, path)
        #expect(all.map(\.event) == ["metadata", "values", "messages", "custom", "end"])
        #expect(all.map(\.id) == ["1", "2", "3", "4", "5"])
        #expect(all.dropLast().map(\.data) == old.map(\.1))
        #expect(try await frames(h, path + "?stream_mode=custom").map(\.event) == ["metadata", "custom", "end"])
    }

    @Test func runsQueuedBeforeJobsRunFromTheirRequest() async throws {
        let h = try ThreadHarness()
        let thread = try await h.newThread()
        // As a release without jobs queued it: the request body only.
        var old = NewRun(id: "queued-run", threadID: thread, assistantID: "echo",
                         kwargs: ThreadHarness.input("from the old queue"), multitaskStrategy: .enqueue, onDisconnect: "continue")
        old.background = true
        old.notBefore = Date() + 3600
        _ = try await h.store.createRun(old)
        var broken = NewRun(id: "queued-broken", threadID: thread, assistantID: "gone", kwargs: #"{"assistant_id":"gone","input":{"messages":[{"role":"user","content":"x"}]}}"#,
                            multitaskStrategy: .enqueue, onDisconnect: "continue")
        broken.background = true
        broken.notBefore = Date() + 3600
        _ = try await h.store.createRun(broken)
        await h.engine.upgradeQueuedJobs()
        let job = try RunJob.decode(try #require(try await h.store.run("queued-run")?.job))
        #expect(job.agentID == "echo" && job.messages.map(\.content) == ["from the old queue"] && job.multitaskStrategy == "enqueue")
        // A request that no longer reads keeps no job; its run fails with the reason when it is claimed.
        #expect(try await h.store.run("queued-broken")?.job == nil)

        // One queued without a job is claimed at once: it runs from its request, as before the upgrade.
        let fresh = try await h.newThread()
        var due = NewRun(id: "queued-due", threadID: fresh, assistantID: "echo",
                         kwargs: ThreadHarness.input("due now"), multitaskStrategy: .enqueue, onDisconnect: "continue")
        due.background = true
        _ = try await h.store.createRun(due)
        let other = try await h.newThread()
        var gone = NewRun(id: "queued-gone", threadID: other, assistantID: "gone",
                          kwargs: #"{"assistant_id":"gone","input":{"messages":[{"role":"user","content":"x"}]}}"#,
                          multitaskStrategy: .enqueue, onDisconnect: "continue")
        gone.background = true
        _ = try await h.store.createRun(gone)
        try await waitFor { (try? await h.store.run("queued-due"))?.status == .success }
        // Its job was stored when it was claimed, for readers and later attempts.
        #expect(try RunJob.decode(try #require(try await h.store.run("queued-due")?.job)).messages.map(\.content) == ["due now"])
        let state = try await h.json("GET", "/threads/\(fresh)/state")
        #expect(messageContents(state["values"] as? [String: Any] ?? [:]) == ["due now", "You said: due now"])
        try await waitFor { (try? await h.store.run("queued-gone"))?.status == .error }
        let failed = try #require(try await h.store.run("queued-gone"))
        #expect(RunResultNote.failure(of: failed)?.error == "agent_not_found")
    }

    /// A job's sampling settings apply to its agent's model, and never raise the agent's own token cap.
    @Test func jobsChooseSamplingWithinTheAgentsCap() throws {
        var settings = ModelSettings(provider: .openai, name: "m", maxTokens: 100)
        settings.baseURL = "http://127.0.0.1:9/v1"
        let catalog = AgentCatalog(agents: [AgentDefinition(id: "a", model: settings)])
        let engine = RunEngine(store: UnavailableStore(), workerID: "w", logger: .init(label: "t"), catalog: catalog, formats: .langGraph(catalog: catalog))
        var job = RunJob(agentID: "a", input: [], streamModes: [], onDisconnect: .cancel)
        job.model = .init(temperature: 0.5, maxTokens: 500, topP: 0.8, stop: ["x"], seed: 3, responseFormat: ["type": "json_object"])
        let agent = try engine.agent(for: job)
        #expect(agent.model.maxTokens == 100 && agent.model.temperature == 0.5 && agent.model.topP == 0.8)
        #expect(agent.model.stop == ["x"] && agent.model.seed == 3 && agent.model.responseFormat == ["type": "json_object"])
        job.model = .init(maxTokens: 20)
        #expect(try engine.agent(for: job).model.maxTokens == 20)
    }
}
