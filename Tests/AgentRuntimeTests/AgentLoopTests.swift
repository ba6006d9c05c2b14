@testable import AgentRuntime
import Foundation
import Synchronization
import TestSupport
import Testing

/// A tool that waits, and records that it started and whether it was cancelled: the timeout and cancellation paths.
struct SleepTool: Tool {
    var name = "nap"
    var duration: Duration
    let started = Signal()
    let cancelled = Flag()

    var spec: ToolSpec {
        ToolSpec(name: name, description: "sleeps", parameters: ["type": "object", "additionalProperties": false])
    }

    var isIdempotent: Bool { true }

    func run(_ arguments: [String: JSONValue]) async throws -> String {
        started.fire()
        do {
            try await Task.sleep(for: duration)
        } catch {
            cancelled.set()
            throw error
        }
        return "rested"
    }
}

/// A tool whose calls each wait until `expected` calls have arrived: calls of one turn that ran one after another
/// would never all arrive, and the first would end at the tool's timeout instead.
struct RendezvousTool: Tool {
    var name = "nap"
    var expected: Int
    let arrived = Recorder<Void>()

    var spec: ToolSpec {
        ToolSpec(name: name, description: "meets the other calls", parameters: ["type": "object", "additionalProperties": false])
    }

    var isIdempotent: Bool { true }

    func run(_ arguments: [String: JSONValue]) async throws -> String {
        arrived.append(())
        await arrived.wait(count: expected)
        try Task.checkCancellation()
        return "rested"
    }
}

final class Flag: Sendable {
    private let value = Atomic<Bool>(false)
    func set() { value.store(true, ordering: .relaxed) }
    var isSet: Bool { value.load(ordering: .relaxed) }
}

/// A model that asks for the given tool calls once, then answers: for paths the built-in model does not take.
struct ScriptedModel: ChatModel {
    var calls: [ToolCall]

    func complete(_ request: ModelRequest, onDelta: @Sendable (ModelDelta) async throws -> Void) async throws -> ModelResponse {
        if request.messages.last?.role == .tool {
            return ModelResponse(content: "done", finishReason: "stop", usage: Usage(inputTokens: 1, outputTokens: 1))
        }
        return ModelResponse(content: "", toolCalls: calls, finishReason: "tool_calls", usage: Usage(inputTokens: 1, outputTokens: 1))
    }
}

final class EventLog: Sendable {
    private let events = Mutex<[RunEvent]>([])
    func append(_ event: RunEvent) { events.withLock { $0.append(event) } }
    var all: [RunEvent] { events.withLock { $0 } }
}

func user(_ text: String) -> [ChatMessage] { [ChatMessage(id: "u1", role: .user, content: text)] }

@Suite struct AgentLoopTests {
    var runner: AgentRunner {
        AgentRunner(makeID: { UUID().uuidString })
    }

    func agent(tools: [ConfiguredTool] = [ConfiguredTool(CalculatorTool()), ConfiguredTool(CurrentTimeTool())],
               limits: RunLimits = RunLimits(), toolChoice: ToolChoice = .auto) -> AgentDefinition {
        AgentDefinition(id: "a", model: ModelSettings(toolChoice: toolChoice), tools: tools, limits: limits)
    }

    @Test func calculatorAnswersThroughTheToolLoop() async throws {
        let log = EventLog()
        let result = try await runner.run(agent: agent(), input: user("what is 12*(3+4)?")) { log.append($0) }
        #expect(result.messages.map(\.role) == [.user, .assistant, .tool, .assistant])
        #expect(result.messages[1].toolCalls.map(\.name) == ["calculator"])
        #expect(result.messages[1].toolCalls.first?.arguments == #"{"expression":"12*(3+4)"}"#)
        #expect(result.messages[2].content == "84")
        #expect(result.messages[2].toolCallID == result.messages[1].toolCalls.first?.id)
        #expect(result.messages[3].content == "calculator returned 84.")
        #expect(result.turns == 2)
        #expect(result.usage == (result.messages[1].usage! + result.messages[3].usage!))
        let call = try #require(result.messages[1].toolCalls.first)
        #expect(log.all.contains(.toolStarted(call)))
        #expect(log.all.contains(.toolFinished(call, result: "84")))
        #expect(log.all.filter { if case .usage = $0 { true } else { false } }.count == 2)
    }

    @Test func invalidArgumentsGoBackToTheModelAsAToolError() async throws {
        let log = EventLog()
        let result = try await runner.run(agent: agent(), input: user(#"calculator {"expression": 5, "mode": "x"}"#)) { log.append($0) }
        let toolMessage = try #require(result.messages.first { $0.role == .tool })
        #expect(toolMessage.content == "error: invalid arguments: expression: must be a string; mode: is not allowed")
        #expect(log.all.contains { if case .toolFailed(_, let error) = $0 { error.hasPrefix("invalid arguments") } else { false } })
        #expect(result.messages.last?.content.contains("error: invalid arguments") == true)
    }

    @Test func badExpressionIsAToolErrorNotACrash() async throws {
        let result = try await runner.run(agent: agent(), input: user(#"calculator {"expression": "2*/3"}"#)) { _ in }
        #expect(result.messages.first { $0.role == .tool }?.content.contains("column 3") == true)
    }

    @Test func slowToolTimesOut() async throws {
        // The tool's timeout runs on the runner's clock, here a manual one: it passes 100 ms when the test says,
        // once the tool is running and its timeout is waiting.
        let clock = ManualClock()
        let runner = AgentRunner(clock: clock, makeID: { UUID().uuidString })
        let nap = SleepTool(duration: .seconds(30))
        let agent = agent(tools: [ConfiguredTool(nap, timeout: .milliseconds(100))])
        let task = Task { try await runner.run(agent: agent, input: user("nap {}")) { _ in } }
        try await waiting(for: "the tool to start") { await nap.started.wait() }
        #expect(try await clock.sleeps.first(1) == [clock.now + .milliseconds(100)])
        clock.advance(by: .milliseconds(100))
        let result = try await task.value
        #expect(result.messages.first { $0.role == .tool }?.content.hasPrefix("error: timed out") == true)
        // The 30 s sleep was interrupted, not waited out.
        #expect(nap.cancelled.isSet)
    }

    @Test func maxTurnsEndsTheRun() async throws {
        await #expect(throws: RunFailure.maxTurnsExceeded(1)) {
            _ = try await runner.run(agent: agent(limits: RunLimits(maxTurns: 1)), input: user("what is 1+1")) { _ in }
        }
    }

    @Test func runTimeoutEndsTheRun() async throws {
        // The run's deadline is kept on a manual clock, which passes it only once the tool is running: the
        // timeout then has a tool to stop, however long the run took to get there.
        let clock = ManualClock()
        let runner = AgentRunner(makeID: { UUID().uuidString }, watchdog: Watchdog(clock: clock.watchdogClock))
        let nap = SleepTool(duration: .seconds(30))
        let agent = agent(tools: [ConfiguredTool(nap, timeout: .seconds(60))], limits: RunLimits(timeout: .milliseconds(200)))
        let task = Task { try await runner.run(agent: agent, input: user("nap {}")) { _ in } }
        try await waiting(for: "the tool to start") { await nap.started.wait() }
        clock.advance(by: .milliseconds(200))
        await #expect(throws: RunFailure.timedOut(.milliseconds(200))) { try await task.value }
        #expect(nap.cancelled.isSet)
    }

    @Test func cancellationStopsATool() async throws {
        let nap = SleepTool(duration: .seconds(30))
        let runner = self.runner
        let agent = agent(tools: [ConfiguredTool(nap, timeout: .seconds(60))])
        let task = Task { try await runner.run(agent: agent, input: user("nap {}")) { _ in } }
        // Cancelled once the tool runs (not after a guessed delay): the tool itself must see the cancellation.
        try await waiting(for: "the tool to start") { await nap.started.wait() }
        task.cancel()
        let outcome = await task.result
        #expect(throws: CancellationError.self) { try outcome.get() }
        // The 30 s sleep was interrupted rather than finished: the run ended through the tool's cancellation.
        #expect(nap.cancelled.isSet)
    }

    @Test func severalCallsOfOneTurnRunInParallel() async throws {
        let calls = [ToolCall(id: "c1", name: "nap", arguments: "{}"), ToolCall(id: "c2", name: "nap", arguments: "{}"),
                     ToolCall(id: "c3", name: "missing", arguments: "{}")]
        let runner = AgentRunner(makeID: { UUID().uuidString }, modelFactory: { _ in ScriptedModel(calls: calls) })
        // Each nap returns only once both have started. Run one after the other, the first would wait alone until
        // its 10 s timeout and answer "error: timed out"; in parallel both answer "rested" at once.
        let meet = RendezvousTool(expected: 2)
        let result = try await runner.run(agent: agent(tools: [ConfiguredTool(meet, timeout: .seconds(10))]),
                                          input: user("go")) { _ in }
        #expect(meet.arrived.all.count == 2)
        let tools = result.messages.filter { $0.role == .tool }
        #expect(tools.map(\.toolCallID) == ["c1", "c2", "c3"])
        #expect(tools.map(\.content).prefix(2) == ["rested", "rested"])
        #expect(tools[2].content.hasPrefix("error: unknown tool 'missing'"))
    }

    @Test func toolChoiceNoneAnswersInWords() async throws {
        let result = try await runner.run(agent: agent(toolChoice: .none), input: user("what is 2+2")) { _ in }
        #expect(result.messages.map(\.role) == [.user, .assistant])
        #expect(result.messages[1].content == "You said: what is 2+2")
    }

    @Test func currentTimeInAZone() async throws {
        let result = try await runner.run(agent: agent(), input: user("what time is it in Asia/Tokyo?")) { _ in }
        let answer = try #require(result.messages.first { $0.role == .tool })
        #expect(answer.content.hasSuffix("+09:00 (Asia/Tokyo)"))
        let unknown = try await runner.run(agent: agent(), input: user(#"current_time {"timezone": "Mars/Base"}"#)) { _ in }
        #expect(unknown.messages.first { $0.role == .tool }?.content.contains("unknown time zone 'Mars/Base'") == true)
    }

    @Test(arguments: [
        ("what is 12*(3+4)?", "12*(3+4)"), ("compute 2 ^ 10 please", "2 ^ 10"), ("(1+2)*3", "(1+2)*3"),
        ("call me at 5 or 6", nil), ("the year 2024", nil),
    ])
    func arithmeticIsFoundInText(text: String, expected: String?) {
        #expect(BuiltinModel.arithmetic(in: text) == expected)
    }
}
