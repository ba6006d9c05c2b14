import HTTPTypes
import AgentRuntime
import Foundation
@testable import Handlers
@testable import Runs
import Store
import TestSupport
import Testing

/// LangGraph's `events`, `tasks`, `checkpoints` and `debug` stream modes, rendered from the typed log: the exact frames
/// of a run with a tool call, the same bytes on every read, and any run read in any of them.
@Suite struct LangGraphModesTests {
    static let agents = try! AgentConfigLoader.parse("""
        agents:
          - id: calc
            model: {provider: builtin, token_delay_ms: 0}
            tools: [calculator]
          - id: short
            model: {provider: builtin, token_delay_ms: 0}
            tools: [calculator]
            limits: {max_turns: 1}
        """, file: "test.yaml").agents

    static let question = #"calculator {\"expression\": \"6*7\"}"#
    static let allModes = "stream_mode=events&stream_mode=tasks&stream_mode=checkpoints&stream_mode=debug"

    /// A finished run on a new thread, created with `values` only: its stream's location and its record.
    func finishedRun(_ h: ThreadHarness, agent: String = "calc") async throws -> (location: String, run: RunRecord) {
        let thread = try await h.newThread()
        let body = #"{"assistant_id":"\#(agent)","stream_mode":"values","input":{"messages":[{"role":"user","content":"\#(Self.question)"}]}}"#
        let created = await h.call("POST", "/threads/\(thread)/runs/stream", body)
        let location = try #require(created.headers[HTTPField.Name("Location")!])
        _ = try await bodyText(created)
        let runID = try #require(location.split(separator: "/").dropLast().last.map(String.init))
        return (location, try #require(try await h.store.run(runID)))
    }

    func read(_ h: ThreadHarness, _ path: String, after: Int? = nil) async throws -> String {
        try await bodyText(h.call("GET", path, headers: after.map { [("Last-Event-ID", "\($0)")] } ?? []))
    }

    /// The data of the frames of `event`, as JSON objects.
    func objects(_ text: String, _ event: String) throws -> [[String: Any]] {
        try parseSSE(text).filter { $0.event == event }.map { frame in
            try #require(try JSONSerialization.jsonObject(with: Data(frame.data.utf8)) as? [String: Any])
        }
    }

    func messages(_ values: Any?) -> [[String: Any]] {
        ((values as? [String: Any])?["messages"] as? [[String: Any]]) ?? []
    }

    @Test func eventsAreAstreamEventsOfTheGraphItsStepsTheModelAndTheTools() async throws {
        let h = try ThreadHarness(agents: Self.agents)
        let (location, run) = try await finishedRun(h)
        let text = try await read(h, location + "?stream_mode=events")
        #expect(parseSSE(text).map(\.event) == ["metadata"] + Array(repeating: "events", count: 21) + ["end"])
        let events = try objects(text, "events")
        #expect(events.map { "\($0["event"]!) \($0["name"]!)" } == [
            "on_chain_start LangGraph",
            "on_chain_start agent", "on_chat_model_start ChatModel", "on_chat_model_stream ChatModel", "on_chat_model_end ChatModel",
            "on_chain_stream agent", "on_chain_end agent",
            "on_chain_start tools", "on_tool_start calculator", "on_tool_end calculator", "on_chain_stream tools", "on_chain_end tools",
            "on_chain_start agent", "on_chat_model_start ChatModel",
            "on_chat_model_stream ChatModel", "on_chat_model_stream ChatModel", "on_chat_model_stream ChatModel",
            "on_chat_model_end ChatModel", "on_chain_stream agent", "on_chain_end agent",
            "on_chain_end LangGraph",
        ])
        // The graph's run is the run; each step's chain is a child of it, the model and the tools children of their step.
        var node = ""
        for event in events {
            let (kind, id, parents) = (event["event"] as! String, event["run_id"] as! String, event["parent_ids"] as! [String])
            switch (kind, event["name"] as! String) {
            case (_, "LangGraph"): #expect(id == run.id && parents.isEmpty && (event["tags"] as? [String]) == [])
            case (_, "agent"), (_, "tools"):
                if kind == "on_chain_start" { node = id }
                #expect(id == node && parents == [run.id])
            default: #expect(parents == [run.id, node] && id != node && id != run.id)
            }
        }
        let starts = events.filter { $0["event"] as? String == "on_chain_start" && $0["name"] as? String != "LangGraph" }
        let metadata = starts.map { $0["metadata"] as! [String: Any] }
        #expect(metadata.map { $0["langgraph_step"] as? Int } == [1, 2, 3])
        #expect(metadata.map { $0["langgraph_node"] as? String } == ["agent", "tools", "agent"])
        #expect(metadata.map { $0["langgraph_triggers"] as? [String] } == [["branch:to:agent"], ["branch:to:tools"], ["branch:to:agent"]])
        #expect(Set(starts.map { $0["run_id"] as! String }).count == 3)
        #expect(metadata.allSatisfy { $0["run_id"] as? String == run.id && $0["assistant_id"] as? String == "calc" })

        // Data: the input, the model's chunks adding up to its answer, the tool's ToolMessage, the final state.
        let input = messages((events[0]["data"] as? [String: Any])?["input"])
        #expect(input.map { $0["type"] as? String } == ["human"] && input.first?["content"] as? String == "calculator {\"expression\": \"6*7\"}")
        let chunks = events.filter { $0["event"] as? String == "on_chat_model_stream" }.map { ($0["data"] as! [String: Any])["chunk"] as! [String: Any] }
        #expect(chunks.allSatisfy { $0["type"] as? String == "AIMessageChunk" })
        #expect((chunks[0]["tool_calls"] as? [[String: Any]])?.first?["name"] as? String == "calculator")
        #expect((chunks[0]["tool_call_chunks"] as? [[String: Any]])?.first?["args"] as? String == #"{"expression":"6*7"}"#)
        #expect(chunks.dropFirst().compactMap { $0["content"] as? String }.joined() == "calculator returned 42.")
        let toolEnd = try #require(events.first { $0["event"] as? String == "on_tool_end" }?["data"] as? [String: Any])
        let toolMessage = try #require(toolEnd["output"] as? [String: Any])
        #expect(toolMessage["type"] as? String == "tool" && toolMessage["content"] as? String == "42")
        #expect(toolMessage["status"] as? String == "success" && toolMessage["tool_call_id"] as? String == "call_1_0")
        #expect((toolEnd["input"] as? [String: Any])?["expression"] as? String == "6*7")
        let modelEnd = try #require(events.last { $0["event"] as? String == "on_chat_model_end" }?["data"] as? [String: Any])
        #expect((modelEnd["output"] as? [String: Any])?["content"] as? String == "calculator returned 42.")
        #expect(((modelEnd["input"] as? [String: Any])?["messages"] as? [[Any]])?.first?.count == 3)
        let final = try #require((events.last?["data"] as? [String: Any])?["output"] as? [String: Any])
        #expect(messageContents(final) == ["calculator {\"expression\": \"6*7\"}", "", "42", "calculator returned 42."])
        #expect(final["usage"] != nil)
    }

    @Test func tasksStartAndFinishPerStep() async throws {
        let h = try ThreadHarness(agents: Self.agents)
        let (location, _) = try await finishedRun(h)
        let tasks = try objects(try await read(h, location + "?stream_mode=tasks"), "tasks")
        #expect(tasks.map { "\($0["name"]!) \($0["result"] == nil ? "start" : "result")" } == [
            "agent start", "agent result", "tools start", "tools result", "agent start", "agent result",
        ])
        let ids = tasks.map { $0["id"] as! String }
        #expect(ids[0] == ids[1] && ids[2] == ids[3] && ids[4] == ids[5] && Set(ids).count == 3)
        let starts = tasks.filter { $0["result"] == nil }
        #expect(starts.map { Set($0.keys) } == Array(repeating: ["id", "name", "input", "triggers"], count: 3))
        #expect(starts.map { messages($0["input"]).count } == [1, 2, 3])
        let results = tasks.filter { $0["result"] != nil }
        #expect(results.map { Set($0.keys) } == Array(repeating: ["id", "name", "error", "result", "interrupts"], count: 3))
        #expect(results.allSatisfy { $0["error"] is NSNull && ($0["interrupts"] as? [Any])?.isEmpty == true })
        #expect(results.map { messages($0["result"]).map { $0["type"] as! String } } == [["ai"], ["tool"], ["ai"]])
    }

    @Test func checkpointsFollowEveryStep() async throws {
        let h = try ThreadHarness(agents: Self.agents)
        let (location, run) = try await finishedRun(h)
        let checkpoints = try objects(try await read(h, location + "?stream_mode=checkpoints"), "checkpoints")
        let metadata = checkpoints.map { $0["metadata"] as! [String: Any] }
        #expect(metadata.map { $0["step"] as? Int } == [-1, 0, 1, 2, 3])
        #expect(metadata.map { $0["source"] as? String } == ["input", "loop", "loop", "loop", "loop"])
        #expect(metadata.allSatisfy { ($0["parents"] as? [String: Any])?.isEmpty == true })
        #expect(checkpoints.map { $0["next"] as? [String] } == [["__start__"], ["agent"], ["tools"], ["agent"], []])
        #expect(checkpoints.map { messages($0["values"]).count } == [0, 1, 2, 3, 4])
        let configs = checkpoints.map { ($0["config"] as! [String: Any])["configurable"] as! [String: Any] }
        #expect(configs.allSatisfy { $0["thread_id"] as? String == run.threadID.map(Tenancy.publicID) && $0["checkpoint_ns"] as? String == "" })
        let ids = configs.map { $0["checkpoint_id"] as! String }
        #expect(ids == ids.sorted() && Set(ids).count == 5, "time-ordered, as LangGraph's")
        #expect(checkpoints[0]["parent_config"] is NSNull)
        let parents = checkpoints.dropFirst().map { (($0["parent_config"] as? [String: Any])?["configurable"] as? [String: Any])?["checkpoint_id"] as? String }
        #expect(parents == ids.dropLast().map { $0 })
        // A checkpoint names the tasks of the next step, with the ids the tasks mode gives them.
        let pending = checkpoints.map { ($0["tasks"] as! [[String: Any]]) }
        #expect(pending.map { $0.map { $0["name"] as! String } } == [["__start__"], ["agent"], ["tools"], ["agent"], []])
        #expect(pending.joined().allSatisfy { $0["state"] is NSNull && ($0["interrupts"] as? [Any])?.isEmpty == true })
        let tasks = try objects(try await read(h, location + "?stream_mode=tasks"), "tasks").filter { $0["result"] == nil }
        #expect(pending.dropFirst().compactMap { $0.first?["id"] as? String } == tasks.map { $0["id"] as! String })
    }

    @Test func debugWrapsCheckpointsAndTasks() async throws {
        let h = try ThreadHarness(agents: Self.agents)
        let (location, run) = try await finishedRun(h)
        let debug = try objects(try await read(h, location + "?stream_mode=debug"), "debug")
        #expect(debug.map { "\($0["step"]!) \($0["type"]!)" } == [
            "-1 checkpoint", "0 checkpoint", "1 task", "1 task_result", "1 checkpoint",
            "2 task", "2 task_result", "2 checkpoint", "3 task", "3 task_result", "3 checkpoint",
        ])
        // The log's events have no time: every frame carries the run's creation time, the same on every read.
        #expect(debug.allSatisfy { $0["timestamp"] as? String == LangGraphDebugFrame.timestamp(run.createdAt) })
        #expect((debug[0]["timestamp"] as? String)?.wholeMatch(of: /\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00/) != nil)
        // Payloads are the other modes' frames; a checkpoint's adds `checkpoint` and `parent_checkpoint`.
        let payloads = debug.map { $0["payload"] as! [String: Any] }
        let checkpoints = try objects(try await read(h, location + "?stream_mode=checkpoints"), "checkpoints")
        let tasks = try objects(try await read(h, location + "?stream_mode=tasks"), "tasks")
        let (asCheckpoints, asTasks) = (payloads.enumerated().filter { debug[$0.offset]["type"] as? String == "checkpoint" }.map(\.element),
                                        payloads.enumerated().filter { debug[$0.offset]["type"] as? String != "checkpoint" }.map(\.element))
        #expect(asTasks.map { $0 as NSDictionary } == tasks.map { $0 as NSDictionary })
        for (payload, checkpoint) in zip(asCheckpoints, checkpoints) {
            var plain = payload
            let own = try #require(plain.removeValue(forKey: "checkpoint") as? [String: Any])
            let parent = plain.removeValue(forKey: "parent_checkpoint")
            #expect(plain as NSDictionary == checkpoint as NSDictionary)
            #expect(own as NSDictionary == (checkpoint["config"] as! [String: Any])["configurable"] as! NSDictionary)
            if let parentConfig = checkpoint["parent_config"] as? [String: Any] {
                #expect(parent as? NSDictionary == parentConfig["configurable"] as? NSDictionary)
            } else {
                #expect(parent is NSNull)
            }
        }
    }

    @Test func everyReadGivesTheSameBytesAndResumesExactly() async throws {
        let h = try ThreadHarness(agents: Self.agents)
        let thread = try await h.newThread()
        // The creating request's own stream follows the log live; a later read re-renders it: the same bytes.
        let body = #"{"assistant_id":"calc","stream_mode":["events","tasks","checkpoints","debug"],"input":{"messages":[{"role":"user","content":"\#(Self.question)"}]}}"#
        let created = await h.call("POST", "/threads/\(thread)/runs/stream", body)
        let location = try #require(created.headers[HTTPField.Name("Location")!])
        let live = try await bodyText(created)
        let full = try await read(h, location + "?" + Self.allModes)
        #expect(live == full)
        #expect(try await read(h, location) == full, "the creator's modes")
        for query in ["stream_mode=events", "stream_mode=tasks", "stream_mode=checkpoints", "stream_mode=debug", Self.allModes] {
            let first = try await read(h, location + "?" + query)
            #expect(try await read(h, location + "?" + query) == first)
            let frames = parseSSE(first)
            for after in [1, frames.count / 2, frames.count - 2] {
                let rest = parseSSE(try await read(h, location + "?" + query, after: after))
                #expect(rest == Array(frames.dropFirst(after)), "\(query) after \(after)")
            }
        }
    }

    @Test func statelessRunsStreamTheSameModes() async throws {
        let h = try ThreadHarness(agents: Self.agents)
        let body = #"{"assistant_id":"calc","stream_mode":["events","tasks","checkpoints","debug"],"input":{"messages":[{"role":"user","content":"\#(Self.question)"}]}}"#
        let stateless = try await bodyText(h.call("POST", "/runs/stream", body))
        let (location, _) = try await finishedRun(h)
        let stored = try await read(h, location + "?" + Self.allModes)
        func shape(_ text: String) throws -> [String] {
            try parseSSE(text).filter { $0.event != "metadata" }.map { frame in
                let object = try JSONSerialization.jsonObject(with: Data(frame.data.utf8), options: .fragmentsAllowed) as? [String: Any]
                return [frame.event, object?["event"], object?["type"], object?["name"], (object?["metadata"] as? [String: Any])?["step"]]
                    .compactMap { $0.map { "\($0)" } }.joined(separator: " ")
            }
        }
        #expect(try shape(stateless) == shape(stored))
        let checkpoints = try objects(stateless, "checkpoints")
        #expect(checkpoints.count == 5 && checkpoints.allSatisfy {
            (($0["config"] as? [String: Any])?["configurable"] as? [String: Any])?["thread_id"] is NSNull
        })
    }

    @Test func aFailedStepEndsItsTaskWithTheError() async throws {
        let h = try ThreadHarness(agents: Self.agents)
        let (location, _) = try await finishedRun(h, agent: "short")
        let text = try await read(h, location + "?" + Self.allModes)
        let frames = parseSSE(text)
        #expect(frames.suffix(2).map(\.event) == ["error", "end"])
        let tasks = try objects(text, "tasks")
        #expect(tasks.map { $0["name"] as! String } == ["agent", "agent", "tools", "tools", "agent", "agent"])
        let failed = try #require(tasks.last)
        #expect((failed["error"] as? String)?.isEmpty == false && (failed["result"] as? [String: Any])?.isEmpty == true)
        let checkpoints = try objects(text, "checkpoints")
        #expect(checkpoints.map { ($0["metadata"] as! [String: Any])["step"] as! Int } == [-1, 0, 1, 2])
        // The graph's run and the failed step did not end: astream_events has no end for them.
        let events = try objects(text, "events").map { "\($0["event"]!) \($0["name"]!)" }
        #expect(events.last == "on_chat_model_start ChatModel" && !events.contains("on_chain_end LangGraph"))
        #expect(events.filter { $0 == "on_chain_end agent" }.count == 1)
    }

    // MARK: - The progress type on its own

    static func ai(_ id: String, calls: [ToolCall] = []) -> StoredMessage {
        StoredMessage(ChatMessage(id: id, role: .assistant, content: calls.isEmpty ? "done" : "", toolCalls: calls))
    }

    static func start(attempt: Int = 1) -> RunLogEvent {
        .started(RunStart(runID: "run-1", threadID: "t", attempt: attempt, droppedMessages: 0, state: [
            StoredMessage(ChatMessage(id: "h1", role: .user, content: "earlier")), ai("a0"),
            StoredMessage(ChatMessage(id: "h2", role: .user, content: "now")),
        ]))
    }

    @Test func progressSplitsHistoryFromInputAndEndsATurnOfCallerToolsWithNoNextStep() {
        var progress = LangGraphProgress(runID: "run-1", createdAt: Date(timeIntervalSince1970: 1_767_323_045.678), inputCount: 1)
        let log: [RunLogEvent] = [
            Self.start(), .stepStarted(.agent, turn: 1), .messageStarted(id: "a1"),
            .messageCompleted(Self.ai("a1", calls: [ToolCall(id: "c1", name: "client_tool", arguments: "{}")])),
            .stepFinished(.agent, turn: 1), .checkpoint(state: [], usage: Usage(), turns: 1), .end,
        ]
        let items = log.flatMap { progress.advance($0) }
        let checkpoints = items.compactMap { if case .checkpoint(let checkpoint) = $0 { checkpoint } else { nil } }
        #expect(checkpoints.map(\.step) == [-1, 0, 1])
        #expect(checkpoints.map { $0.values.map(\.id) } == [["h1", "a0"], ["h1", "a0", "h2"], ["h1", "a0", "h2", "a1"]])
        #expect(checkpoints.map(\.next) == [["__start__"], ["agent"], []])
        #expect(checkpoints.map(\.summary.parent_id) == [nil, checkpoints[0].id, checkpoints[1].id])
        #expect(progress.input.map(\.id) == ["h2"])
        #expect(checkpoints[0].id == "1f0e787b-2ea3-64e0-" + checkpoints[0].id.suffix(17), "the run's creation time, step -1")
    }

    @Test func anotherAttemptHasOtherIdsAndAnInterruptEndsItsTask() {
        var first = LangGraphProgress(runID: "run-1", createdAt: Date(timeIntervalSince1970: 0), inputCount: 1)
        var second = first
        let one = first.advance(Self.start()) + first.advance(.stepStarted(.agent, turn: 1))
        let two = second.advance(Self.start(attempt: 2)) + second.advance(.stepStarted(.agent, turn: 1))
        #expect(one.count == 3 && two.count == 3)
        for (a, b) in zip(one, two) { #expect(a != b) }
        let ended = second.advance(.interrupt(["question": "ok?"]))
        guard case .taskFinished(let result)? = ended.first else { Issue.record("no result"); return }
        #expect(result.interrupts.map(\.value) == [["question": "ok?"]] && result.error == nil && second.running == nil)
    }

    @Test func idsAreNameBasedUUIDsAndTimesArePythonsIsoformat() {
        // Python: uuid.uuid5(uuid.NAMESPACE_URL, "\x1f".join(["agentfcgi:langgraph", "run-1", "1", "task", "agent", "1"]))
        #expect(LangGraphID.named(["run-1", "1", "task", "agent", "1"]) == "de70c1b0-7632-53e4-9e8b-1847c8561b3a")
        let created = Date(timeIntervalSince1970: 1_767_323_045.678)
        #expect(LangGraphID.checkpoint(createdAt: created, attempt: 1, step: 1, parts: ["run-1", "1", "checkpoint", "1"])
                == "1f0e787b-2ea3-64e2-b7ba-b3b6a08b4fd4")
        #expect(LangGraphDebugFrame.timestamp(created) == "2026-01-02T03:04:05.678000+00:00")
        #expect(StreamMode(rawValue: "events") != nil && LangGraphRenderer.mode(of: "debug") == "debug")
    }
}
