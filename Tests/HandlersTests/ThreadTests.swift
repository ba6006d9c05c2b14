import HTTPTypes
import AgentRuntime
import Foundation
@testable import Handlers
import Logging
@testable import Runs
import Store
import TestSupport
import Testing

/// The app over a fresh SQLite file, with the run engine's loop going, as a worker runs it.
struct ThreadHarness {
    let app: Application
    let store: SQLiteStore
    /// The database file, for a second process to open.
    let path: String
    let engine: RunEngine
    let loop: Task<Void, Never>

    /// `clock`: what the models' token delays run on (a `GateClock` lets a test hold a "slow" run mid-answer).
    init(agents: [AgentDefinition] = Self.agents, webhooks: WebhookSettings? = nil, requireKeys: Bool = false,
         clock: any Clock<Duration> = ContinuousClock(), busyTimeout: TimeInterval = 10, scheduleClock: ScheduleClock = .wall,
         now: @escaping @Sendable () -> Date = { Date() }, sharing: String? = nil, lease: Duration = .seconds(10),
         backgroundCapacity: Int = 8, workerID: String = "test-worker", remotePoll: Duration? = nil) throws {
        path = sharing ?? FileManager.default.temporaryDirectory.appendingPathComponent("agentfcgi-threads-\(UUID().uuidString)/db.sqlite").path
        store = try SQLiteStore(path: path, busyTimeout: busyTimeout, now: now)
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let watchdog = Watchdog()
        let catalog = AgentCatalog(agents: agents, webhooks: webhooks ?? WebhookSettings())
        engine = RunEngine(store: store, workerID: workerID, logger: logger, catalog: catalog, formats: .langGraph(catalog: catalog),
                           clock: clock, watchdog: watchdog, lease: lease, tick: .milliseconds(50), backgroundCapacity: backgroundCapacity,
                           scheduleClock: scheduleClock, remotePoll: remotePoll)
        let signer = try webhooks.map { _ in try WebhookSigner(secrets: WebhookSigner.newSecret()) }
        app = makeApp(Dependencies(catalog: catalog, clock: clock, logger: logger,
                                   watchdog: watchdog, engine: engine, webhookSigner: signer, requireKeys: requireKeys))
        let engine = self.engine
        loop = Task.detached { await engine.run() }
    }

    static let agents = [
        AgentDefinition(id: "echo", instructions: "Be brief.", model: ModelSettings(tokenDelay: .zero)),
        AgentDefinition(id: "slow", model: ModelSettings(tokenDelay: .milliseconds(30))),
        AgentDefinition(id: "tiny", model: ModelSettings(tokenDelay: .zero), limits: RunLimits(maxContextTokens: 40)),
    ]

    func call(_ method: String, _ path: String, _ body: String? = nil, headers: [(String, String)] = []) async -> Response {
        var request = body.map { jsonRequest(method, path, $0) } ?? Request(method: HTTPRequest.Method(method)!, path: path, requestID: "req-test")
        if let query = path.split(separator: "?", maxSplits: 1).dropFirst().first {
            request.path = String(path.prefix { $0 != "?" })
            request.query = String(query)
        }
        for (name, value) in headers { request.headers.append(HTTPField(name: HTTPField.Name(name)!, value: value)) }
        return await app.respond(to: request)
    }

    func json(_ method: String, _ path: String, _ body: String? = nil) async throws -> [String: Any] {
        try await jsonObject(call(method, path, body))
    }

    /// A key in the store, as `agentfcgi keys create` makes one.
    func makeKey(tenant: String, scopes: [String], maxConcurrentRuns: Int? = nil, dailyTokenBudget: Int? = nil) async throws -> String {
        let generated = APIKeys.generate()
        try await store.createKey(APIKeyRecord(id: generated.id, hash: generated.hash, name: "test", tenant: tenant, scopes: scopes,
                                               maxConcurrentRuns: maxConcurrentRuns, dailyTokenBudget: dailyTokenBudget, createdAt: Date()))
        return generated.key
    }

    func newThread() async throws -> String {
        try #require(try await json("POST", "/threads", "{}")["thread_id"] as? String)
    }

    static func input(_ text: String, agent: String = "echo", extra: String = "") -> String {
        #"{"assistant_id":"\#(agent)","input":{"messages":[{"role":"user","content":"\#(text)"}]}\#(extra)}"#
    }
}

func messageContents(_ values: [String: Any]) -> [String] {
    ((values["messages"] as? [[String: Any]]) ?? []).compactMap { $0["content"] as? String }
}

@Suite struct ThreadEndpointTests {
    @Test func threadsAreCreatedFoundUpdatedAndDeleted() async throws {
        let h = try ThreadHarness()
        let created = try await h.json("POST", "/threads", #"{"thread_id":"t-1","metadata":{"user":"ann"},"ttl":{"ttl":60,"strategy":"delete"}}"#)
        #expect(created["status"] as? String == "idle")
        #expect((created["ttl"] as? [String: Any])?["ttl"] as? Double == 60)
        let again = await h.call("POST", "/threads", #"{"thread_id":"t-1"}"#)
        #expect(again.status == 409)
        #expect(again.headers[.xShouldRetry] == "false")
        #expect(try await h.json("POST", "/threads", #"{"thread_id":"t-1","if_exists":"do_nothing"}"#)["thread_id"] as? String == "t-1")
        let patched = try await h.json("PATCH", "/threads/t-1", #"{"metadata":{"stage":2}}"#)
        #expect(patched["metadata"] as? NSDictionary == ["user": "ann", "stage": 2])
        let found = try JSONSerialization.jsonObject(with: Data(try await bodyText(h.call("POST", "/threads/search", #"{"metadata":{"stage":2}}"#)).utf8)) as? [[String: Any]]
        #expect(found?.map { $0["thread_id"] as? String } == ["t-1"])
        #expect(await h.call("DELETE", "/threads/t-1").status == 204)
        #expect(await h.call("GET", "/threads/t-1").status == 404)
        #expect(await h.call("DELETE", "/threads/t-1").status == 404)
    }

    @Test(arguments: [
        (#"{"thread_id":"a/b"}"#, "thread_id"),
        (#"{"thread_id":""}"#, "thread_id"),
        (#"{"ttl":-5}"#, "ttl"),
        (#"{"ttl":{"ttl":5,"strategy":"keep"}}"#, "ttl"),
        (#"{"if_exists":"maybe"}"#, "if_exists"),
        (#"{"metadata":[1]}"#, "metadata"),
    ])
    func badThreadBodiesNameTheField(body: String, field: String) async throws {
        let h = try ThreadHarness()
        let response = await h.call("POST", "/threads", body)
        #expect(response.status == 422)
        #expect(try await jsonObject(response)["field"] as? String == field)
    }

    @Test func runsOnAThreadBuildItsStateAndHistory() async throws {
        let h = try ThreadHarness()
        let thread = try await h.newThread()
        let first = try await h.json("POST", "/threads/\(thread)/runs/wait", ThreadHarness.input("one"))
        #expect(messageContents(first) == ["one", "You said: one"])
        let second = try await h.json("POST", "/threads/\(thread)/runs/wait", ThreadHarness.input("two"))
        #expect(messageContents(second) == ["one", "You said: one", "two", "You said: two"])
        let state = try await h.json("GET", "/threads/\(thread)/state")
        #expect(messageContents(state["values"] as? [String: Any] ?? [:]).count == 4)
        let history = try JSONSerialization.jsonObject(with: Data(try await bodyText(h.call("POST", "/threads/\(thread)/history", #"{"limit":1}"#)).utf8)) as? [[String: Any]]
        #expect(history?.count == 1)
        let runs = try JSONSerialization.jsonObject(with: Data(try await bodyText(h.call("GET", "/threads/\(thread)/runs")).utf8)) as? [[String: Any]]
        #expect(runs?.map { $0["status"] as? String } == ["success", "success"])
        #expect(runs?.first?["on_disconnect"] as? String == "continue")
        #expect(await h.call("POST", "/threads/nope/runs/wait", ThreadHarness.input("x")).status == 404)
        let created = try await h.json("POST", "/threads/fresh-1/runs/wait", ThreadHarness.input("x", extra: #","if_not_exists":"create""#))
        #expect(messageContents(created) == ["x", "You said: x"])
    }

    @Test func aStreamIsReplayedFromAnyEventWithoutGapOrRepeat() async throws {
        let h = try ThreadHarness()
        let thread = try await h.newThread()
        let stream = await h.call("POST", "/threads/\(thread)/runs/stream", ThreadHarness.input("alpha beta gamma delta"))
        let location = try #require(stream.headers[HTTPField.Name("Location")!])
        let frames = parseSSE(try await bodyText(stream))
        #expect(frames.first?.event == "metadata" && frames.last?.event == "end")
        #expect(frames.map(\.id) == (1...frames.count).map { String($0) })
        for resumeAfter in [0, 3, frames.count - 1] {
            let resumed = parseSSE(try await bodyText(h.call("GET", location, headers: [("Last-Event-ID", "\(resumeAfter)")])))
            #expect(resumed.map(\.id) == frames.dropFirst(resumeAfter).map(\.id))
            #expect(resumed.map(\.data) == frames.dropFirst(resumeAfter).map(\.data))
        }
        let valuesOnly = parseSSE(try await bodyText(h.call("GET", location + "?stream_mode=values")))
        #expect(Set(valuesOnly.map(\.event)) == ["metadata", "values", "end"])
        #expect(await h.call("GET", location, headers: [("Last-Event-ID", "x")]).status == 422)
        #expect(await h.call("GET", location + "?stream_mode=everything").status == 422)
        // The run is not found through another thread.
        let other = try await h.newThread()
        #expect(await h.call("GET", location.replacingOccurrences(of: thread, with: other)).status == 404)
    }

    @Test func aBusyThreadRejectsOrQueues() async throws {
        // The slow run makes its tokens only once the test opens the gate: the thread stays busy until then.
        let clock = GateClock()
        let h = try ThreadHarness(clock: clock)
        let thread = try await h.newThread()
        let long = (1...20).map { "w\($0)" }.joined(separator: " ")
        let running = Task { try await bodyText(h.call("POST", "/threads/\(thread)/runs/stream", ThreadHarness.input(long, agent: "slow"))) }
        try await waitFor { (try? await h.json("GET", "/threads/\(thread)"))?["status"] as? String == "busy" }
        let rejected = await h.call("POST", "/threads/\(thread)/runs/wait", ThreadHarness.input("second"))
        #expect(rejected.status == 409)
        #expect(rejected.headers[.xShouldRetry] == "false")
        #expect(try await jsonObject(rejected)["code"] as? String == "thread_busy")
        let queuedBody = ThreadHarness.input("second", extra: #","multitask_strategy":"enqueue""#)
        let queuing = Task { messageContents(try await h.json("POST", "/threads/\(thread)/runs/wait", queuedBody)) }
        // Queued behind the first run, which is still busy; then the first may finish.
        try await waitFor {
            let runs = try? JSONSerialization.jsonObject(with: Data(try await bodyText(h.call("GET", "/threads/\(thread)/runs")).utf8)) as? [[String: Any]]
            return runs?.count == 2 && runs?.contains { $0["status"] as? String == "pending" } == true
        }
        clock.open()
        let queued = try await waiting(for: "the queued run") { try await queuing.value }
        #expect(queued == [long, "You said: " + long, "second", "You said: second"])
        _ = try await running.value
        #expect(await h.call("POST", "/threads/\(thread)/runs/wait", ThreadHarness.input("x", extra: #","multitask_strategy":"sometimes""#)).status == 422)
    }

    @Test func interruptKeepsTheInputAndRollbackUndoesTheRun() async throws {
        // The slow runs make one token and then wait for a next one that never comes (the gate stays shut): each
        // ends only through its cancellation, mid-answer, however slowly the machine goes.
        let clock = GateClock()
        let h = try ThreadHarness(clock: clock)
        let thread = try await h.newThread()
        let long = (1...40).map { "w\($0)" }.joined(separator: " ")
        for action in ["interrupt", "rollback"] {
            let stream = await h.call("POST", "/threads/\(thread)/runs/stream", ThreadHarness.input(long, agent: "slow"))
            let location = try #require(stream.headers[.contentLocation])
            let writer = CollectingWriter()
            let reader = Task { try await bodyText(stream, writer: writer) }
            clock.allow(1)
            try await writer.waitForFrame("messages")
            #expect(try await h.json("GET", location)["status"] as? String == "running")
            // With wait=1 the answer comes once the run has stopped: the run cannot end otherwise, hence the limit.
            let cancelled = try await waiting(for: "the cancelled run to stop") {
                await h.call("POST", location + "/cancel?wait=1&action=\(action)")
            }
            let frames = parseSSE(try await reader.value)
            #expect(frames.contains { $0.event == "messages" })
            if action == "interrupt" {
                #expect(cancelled.status == 200)
                #expect(try await h.json("GET", location)["status"] as? String == "interrupted")
                #expect(frames.last?.event == "end")
                #expect(frames.contains { $0.event == "error" && $0.data.contains("run_interrupted") })
                // Cancelled, not waiting for anyone: the thread is idle (a run paused for approval leaves it interrupted).
                #expect(try await h.json("GET", "/threads/\(thread)")["status"] as? String == "idle")
            } else {
                #expect(cancelled.status == 204)
                #expect(await h.call("GET", location).status == 404)
                #expect(frames.last?.event == "end")
            }
        }
        // The interrupted run left its input and no answer (it stopped mid-answer); the rolled-back one left nothing.
        let state = try await h.json("GET", "/threads/\(thread)/state")
        #expect(messageContents(state["values"] as? [String: Any] ?? [:]) == [long])
        let runs = try JSONSerialization.jsonObject(with: Data(try await bodyText(h.call("GET", "/threads/\(thread)/runs")).utf8)) as? [[String: Any]]
        #expect(runs?.count == 1)
    }

    @Test func aLongThreadDropsItsOldestTurnsAndSaysSo() async throws {
        let h = try ThreadHarness()
        let thread = try await h.newThread()
        for index in 1...6 {
            _ = try await h.json("POST", "/threads/\(thread)/runs/wait", ThreadHarness.input("turn \(index) with some words in it", agent: "tiny"))
        }
        let frames = parseSSE(try await bodyText(h.call("POST", "/threads/\(thread)/runs/stream", ThreadHarness.input("last one", agent: "tiny"))))
        let metadata = try #require(frames.first { $0.event == "metadata" })
        let note = try JSONSerialization.jsonObject(with: Data(metadata.data.utf8)) as? [String: Any]
        let dropped = try #require((note?["context"] as? [String: Any])?["dropped_messages"] as? Int)
        #expect(dropped > 0 && dropped % 2 == 0)
        // Nothing is deleted from the thread: only the model's view is trimmed.
        let state = try await h.json("GET", "/threads/\(thread)/state")
        #expect(messageContents(state["values"] as? [String: Any] ?? [:]).count == 14)
    }
}

@Suite struct StoredMessageTests {
    /// What the store keeps is what the next run's model sees: tool calls, their results and usage survive.
    @Test func messagesRoundTripThroughTheirStoredForm() throws {
        let messages = [
            ChatMessage(id: "1", role: .user, content: "what is 2+2?"),
            ChatMessage(id: "2", role: .assistant, content: "", usage: Usage(inputTokens: 3, outputTokens: 1), finishReason: "tool_calls",
                        modelName: "builtin", toolCalls: [ToolCall(id: "c1", name: "calculator", arguments: #"{"expression":"2+2"}"#)]),
            ChatMessage(id: "3", role: .tool, content: "4", name: "calculator", toolCallID: "c1"),
            ChatMessage(id: "4", role: .assistant, content: "4.", toolCalls: [ToolCall(id: "c2", name: "x", arguments: "not json")]),
        ]
        for message in messages {
            var expected = message
            if expected.role == .assistant, expected.modelName == nil { expected.finishReason = nil }
            #expect(try StoredMessage.decode(StoredMessage.encode(message)) == expected)
        }
    }
}

@Suite struct ContextWindowTests {
    func message(_ role: ChatMessage.Role, _ text: String, calls: [ToolCall] = []) -> ChatMessage {
        ChatMessage(id: UUID().uuidString, role: role, content: text, toolCalls: calls)
    }

    @Test func keepsEverythingThatFits() {
        let history = [message(.user, "a b"), message(.assistant, "c d")]
        let fit = ContextWindow.fit(history: history, input: [message(.user, "e")], instructions: "be kind", budget: 100)
        #expect(fit.history == history && fit.droppedMessages == 0)
    }

    @Test func dropsWholeTurnsOldestFirstAndNeverSplitsAToolCallFromItsResult() {
        let call = ToolCall(id: "c1", name: "calculator", arguments: #"{"expression":"1+1"}"#)
        let history = [
            message(.user, "one two three four"), message(.assistant, "", calls: [call]), message(.tool, "2"),
            message(.assistant, "five six seven"),
            message(.user, "eight nine"), message(.assistant, "ten"),
        ]
        let input = [message(.user, "new")]
        let full = ContextWindow.fit(history: history, input: input, instructions: "", budget: 1000)
        let budget = Tokenizer.count("new") + Tokenizer.count("eight nine") + Tokenizer.count("ten") + 1
        let fit = ContextWindow.fit(history: history, input: input, instructions: "", budget: budget)
        #expect(full.droppedMessages == 0)
        #expect(fit.droppedMessages == 4)
        #expect(fit.history.map(\.content) == ["eight nine", "ten"])
        #expect(!fit.history.contains { $0.role == .tool })
        let none = ContextWindow.fit(history: history, input: input, instructions: "", budget: 1)
        #expect(none.history.isEmpty && none.droppedMessages == 6)
    }
}

/// Polls `condition` until it holds, every 10 ms. The 30 s limit only matters when the test fails (a condition
/// that holds is seen at once, however busy the machine), so it is generous.
func waitFor(_ condition: () async -> Bool, sourceLocation: SourceLocation = #_sourceLocation) async throws {
    let end = ContinuousClock.now + .seconds(30)
    while ContinuousClock.now < end {
        if await condition() { return }
        try await Task.sleep(for: .milliseconds(10))
    }
    Issue.record("condition not met within 30 s", sourceLocation: sourceLocation)
}
