@testable import AgentRuntime
import AsyncHTTPClient
import Foundation
import NIOCore
import NIOFoundationCompat
import Synchronization
import TestSupport
import Testing

/// The openai provider against a scripted server, for the paths a real server will not take on demand.
@Suite(.serialized) struct OpenAIProviderTests {
    static let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/scripted_openai_server.py").path

    func withScriptedServer(_ body: (String) async throws -> Void) async throws {
        let port = Int.random(in: 20_000...29_000)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", Self.script, String(port)]
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        defer {
            // SIGKILL: the test runner's blocked signal mask is inherited, so SIGTERM may never arrive.
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
        _ = output.fileHandleForReading.availableData  // "ready"
        try await body("http://127.0.0.1:\(port)/v1")
    }

    func agent(_ model: String, baseURL: String, tools: [ConfiguredTool] = [], retries: Int = 2) -> AgentDefinition {
        AgentDefinition(id: "o", model: ModelSettings(provider: .openai, name: model, baseURL: baseURL, maxRetries: retries),
                        tools: tools, limits: RunLimits(maxTurns: 3, timeout: .seconds(20)))
    }

    /// One client for the suite, with a short read timeout so a stalled stream fails fast.
    static let client: HTTPClient = {
        var configuration = HTTPClient.Configuration()
        configuration.timeout = .init(connect: .seconds(2), read: .seconds(1))
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }()

    func run(_ agent: AgentDefinition, client: HTTPClient) async throws -> RunResult {
        try await AgentRunner(makeID: { UUID().uuidString }, httpClient: client)
            .run(agent: agent, input: [ChatMessage(id: "u", role: .user, content: "hi")]) { _ in }
    }

    @Test func streamsTextAndEstimatesUsageWhenNoneIsReported() async throws {
        let client = Self.client
        try await withScriptedServer { url in
            let result = try await run(agent("ok", baseURL: url), client: client)
            #expect(result.messages.last?.content == "Hello from the script")
            #expect(result.usage.estimated)
            #expect(result.usage.outputTokens == 4)
        }
    }

    @Test func assemblesToolCallFragmentsAndRunsTheTool() async throws {
        let client = Self.client
        try await withScriptedServer { url in
            let result = try await run(agent("tools", baseURL: url, tools: [ConfiguredTool(CalculatorTool())]), client: client)
            let call = try #require(result.messages[1].toolCalls.first)
            #expect(call == ToolCall(id: "call_a", name: "calculator", arguments: #"{"expression": "6*7"}"#))
            #expect(result.messages[2].content == "42")
            #expect(result.messages.last?.content == "It is 42")
            #expect(result.usage == Usage(inputTokens: 50, outputTokens: 13))
        }
    }

    @Test func retries429HonouringRetryAfter() async throws {
        let client = Self.client
        try await withScriptedServer { url in
            let started = ContinuousClock.now
            let result = try await run(agent("flaky-429", baseURL: url), client: client)
            #expect(result.messages.last?.content == "Hello from the script")
            #expect(ContinuousClock.now - started >= .seconds(1))
        }
    }

    @Test func upstreamFailuresAreTyped() async throws {
        let client = Self.client
        try await withScriptedServer { url in
            await #expect(throws: UpstreamError(kind: .failed, status: 500, message: "model crashed")) {
                _ = try await run(agent("always-500", baseURL: url, retries: 0), client: client)
            }
            await #expect(throws: UpstreamError(kind: .failed, message: "the model server sent a malformed chunk")) {
                _ = try await run(agent("malformed", baseURL: url), client: client)
            }
            // The stall comes after the first token, so it is not retried: the client hears of it.
            await #expect(throws: UpstreamError(kind: .timeout, message: "the model server did not answer in time")) {
                _ = try await run(agent("stall", baseURL: url), client: client)
            }
            await #expect(throws: UpstreamError.self) {
                _ = try await run(agent("ok", baseURL: "http://127.0.0.1:9/v1", retries: 0), client: client)
            }
            // A stream that stops without a finish reason or [DONE] (its server died) is a failure, not half an answer.
            await #expect(throws: UpstreamError(kind: .failed, message: "the model server's stream ended before the answer did")) {
                _ = try await run(agent("cut", baseURL: url), client: client)
            }
        }
    }

    /// The run's own failure while a stream comes in (its event log's store out of reach) is not the model server's.
    @Test func anErrorOfTheDeltasTakerComesOutAsItWas() async throws {
        struct Refused: Error, Equatable {}
        let client = Self.client
        try await withScriptedServer { url in
            await #expect(throws: Refused()) {
                _ = try await AgentRunner(makeID: { UUID().uuidString }, httpClient: client)
                    .run(agent: agent("ok", baseURL: url), input: [ChatMessage(id: "u", role: .user, content: "hi")]) { event in
                        if case .messageDelta = event { throw Refused() }
                    }
            }
        }
    }

    @Test func cancellingTheRunClosesTheUpstreamRequest() async throws {
        let client = Self.client
        try await withScriptedServer { url in
            let runner = AgentRunner(makeID: { UUID().uuidString }, httpClient: client)
            let agent = agent("slow", baseURL: url)
            let tokens = Recorder<Void>()
            let task = Task {
                try await runner.run(agent: agent, input: [ChatMessage(id: "u", role: .user, content: "hi")]) { event in
                    if case .messageDelta = event { tokens.append(()) }
                }
            }
            // Cancelled once the stream is flowing (three tokens in), whatever time that took.
            _ = try await tokens.first(3)
            task.cancel()
            await #expect(throws: CancellationError.self) { try await task.value }
            // The server notices the closed connection at its next write (it writes every 100 ms) and counts it; the
            // stream would otherwise go on for 20 s. Polled until then: the deadline only matters when the test fails,
            // so it is generous, yet well short of the 20 s the stream would run if the request were left open.
            let deadline = ContinuousClock.now + .seconds(15)
            var dropped = 0
            while dropped == 0, ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(50))
                dropped = await Self.droppedStreams(url)
            }
            #expect(dropped == 1, "the upstream stream was not closed after the cancellation")
        }
    }

    /// The scripted server's count of `slow` streams the client closed; 0 when the server does not answer.
    static func droppedStreams(_ url: String) async -> Int {
        // Its own generous timeout: the suite's client gives up on a read after 1 s, which a busy machine may exceed.
        guard let stats = try? await HTTPClient.shared.execute(HTTPClientRequest(url: url + "/stats"), timeout: .seconds(10)),
              let body = try? await stats.body.collect(upTo: 1024) else { return 0 }
        return ((try? JSONSerialization.jsonObject(with: Data(buffer: body))) as? [String: Int])?["dropped"] ?? 0
    }

    @Test func requestCarriesToolsToolChoiceAndContentForToolCalls() throws {
        let model = OpenAIChatModel(settings: .init(baseURL: "http://x/v1", model: "m", temperature: 0), client: .shared)
        let body = try model.body(for: ModelRequest(
            model: "m",
            messages: [ChatMessage(id: "1", role: .assistant, content: "", toolCalls: [ToolCall(id: "c", name: "calculator", arguments: "{}")]),
                       ChatMessage(id: "2", role: .tool, content: "4", name: "calculator", toolCallID: "c")],
            tools: [CalculatorTool().spec], toolChoice: .tool("calculator")))
        let json = try #require(try JSONSerialization.jsonObject(with: Data(body)) as? [String: Any])
        #expect((json["tool_choice"] as? [String: Any])?["type"] as? String == "function")
        #expect(json["stream"] as? Bool == true)
        let messages = try #require(json["messages"] as? [[String: Any]])
        #expect(messages[0]["content"] as? String == "")
        #expect((messages[0]["tool_calls"] as? [[String: Any]])?.first?["id"] as? String == "c")
        #expect(messages[1]["tool_call_id"] as? String == "c")
        #expect((json["tools"] as? [[String: Any]])?.first?["type"] as? String == "function")
    }
}
