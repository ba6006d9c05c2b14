import AgentRuntime
import Foundation
@testable import Handlers
import Testing
import TestSupport

@Suite struct RuntimeTests {
    @Test(arguments: ["You said: hi", "  leading and  double  spaces ", "one", "", "tab\tand\nnewline"])
    func tokensJoinBackToTheText(text: String) {
        let tokens = Tokenizer.tokens(text)
        #expect(tokens.joined() == text)
        #expect(tokens.filter { !$0.allSatisfy(\.isWhitespace) }.count == Tokenizer.count(text))
    }

    @Test func configLoadsToolsAndLimits() throws {
        let catalog = try AgentConfigLoader.parse("""
            agents:
              - id: calc
                model: {provider: builtin, tool_choice: calculator}
                tools: [calculator, {name: current_time, timeout_ms: 500}]
                limits: {max_turns: 3, timeout_seconds: 2.5}
            """, file: "x.yaml")
        let agent = try #require(catalog.agent("calc"))
        #expect(agent.tools.map(\.spec.name) == ["calculator", "current_time"])
        #expect(agent.tools[1].timeout == .milliseconds(500))
        #expect(agent.tools[0].timeout == .seconds(10))
        #expect(agent.model.toolChoice == .tool("calculator"))
        #expect(agent.limits == RunLimits(maxTurns: 3, timeout: .milliseconds(2500)))
    }

    @Test func configLoadsAndValidates() throws {
        let catalog = try AgentConfigLoader.parse("""
            agents:
              - id: a1
                model: {provider: builtin, token_delay_ms: 5}
              - id: b2
                name: Bee
                instructions: hi
                model: {provider: builtin}
            """, file: "x.yaml")
        #expect(catalog.agents.map(\.id) == ["a1", "b2"])
        #expect(catalog.agent("a1")?.model.tokenDelay == .milliseconds(5))
        #expect(catalog.agent("b2")?.name == "Bee")
    }

    @Test(arguments: [
        ("agents:\n  - id: a\n    modle: {provider: builtin}\n", "agents[0].modle", "unknown field"),
        ("agents:\n  - id: a\n    model: {provider: gpt}\n", "agents[0] (a).model.provider", "unknown provider 'gpt'"),
        ("agents:\n  - id: a\n    model: {provider: builtin}\n  - id: a\n    model: {provider: builtin}\n", "agents[1].id", "duplicate"),
        ("agents:\n  - id: Bad Id\n    model: {provider: builtin}\n", "agents[0].id", "not a valid id"),
        ("agents:\n  - id: a\n", "agents[0].model", "is required"),
        ("agents:\n  - id: a\n    model: {provider: builtin, token_delay_ms: -1}\n", "agents[0] (a).model.token_delay_ms", "between"),
        ("agents: []\n", "agents", "at least one"),
        ("agents:\n  - id: a\n    model: {provider: builtin, token_delay_ms: soon}\n", "agents[0].model.token_delay_ms", "integer"),
        ("agents:\n  - id: a\n    model: {provider: builtin}\n    tools: [calculator, shell]\n", "agents[0] (a).tools[1]", "unknown tool 'shell'"),
        ("agents:\n  - id: a\n    model: {provider: builtin}\n    tools: [calculator, calculator]\n", "agents[0] (a).tools[1]", "listed twice"),
        ("agents:\n  - id: a\n    model: {provider: builtin}\n    tools: [{name: calculator, timeout_ms: 0}]\n", "agents[0] (a).tools[0].timeout_ms", "between"),
        ("agents:\n  - id: a\n    model: {provider: builtin}\n    tools: [{name: calculator, timeout: 5}]\n", "agents[0].tools[0].timeout", "unknown field"),
        ("agents:\n  - id: a\n    model: {provider: builtin, tool_choice: current_time}\n    tools: [calculator]\n", "agents[0] (a).model.tool_choice", "one of this agent's tools"),
        ("agents:\n  - id: a\n    model: {provider: builtin}\n    limits: {max_turns: 0}\n", "agents[0] (a).limits.max_turns", "between 1 and 100"),
        ("agents:\n  - id: a\n    model: {provider: builtin}\n    limits: {turns: 3}\n", "agents[0].limits.turns", "unknown field"),
        ("agents:\n  - id: a\n    model: {provider: builtin}\n    tools: [http_get]\n", "agents[0] (a).tools[0].allow_hosts", "allowed hosts"),
        ("agents:\n  - id: a\n    model: {provider: builtin}\n    tools: [{name: calculator, allow_hosts: [x]}]\n", "agents[0] (a).tools[0].allow_hosts", "no settings"),
        ("agents:\n  - id: a\n    model: {provider: openai, name: m}\n", "agents[0] (a).model.base_url", "needs base_url"),
        ("agents:\n  - id: a\n    model: {provider: openai, name: m, base_url: \"http://x/v1\", api_key_env: \"sk-123 456\"}\n", "agents[0] (a).model.api_key_env", "environment variable"),
        ("agents:\n  - id: a\n    model: {provider: builtin}\n    memory: {namespace_from: session}\n", "agents[0] (a).memory.namespace_from", "key or thread_metadata"),
        ("agents:\n  - id: a\n    model: {provider: builtin}\n    memory: {namespace_from: thread_metadata}\n", "agents[0] (a).memory.field", "user_id"),
        ("agents:\n  - id: a\n    model: {provider: builtin}\n    memory: {field: user_id}\n", "agents[0] (a).memory.field", "thread_metadata"),
        ("agents:\n  - id: a\n    model: {provider: builtin}\n    memory: {max_results: 0}\n", "agents[0] (a).memory.max_results", "between 1 and 50"),
        ("agents:\n  - id: a\n    model: {provider: builtin}\n    memory: {namespace: x}\n", "agents[0].memory.namespace", "unknown field"),
        ("agents:\n  - id: a\n    model: {provider: builtin}\n    tools: [recall]\n", "agents[0] (a).tools[0]", "memory: section"),
    ])
    func configErrorsNameFileAgentAndField(yaml: String, field: String, message: String) {
        do {
            _ = try AgentConfigLoader.parse(yaml, file: "agents.yaml")
            Issue.record("accepted: \(yaml)")
        } catch let error as ConfigError {
            #expect(error.file == "agents.yaml")
            #expect(error.field == field)
            #expect(error.message.contains(message), "\(error)")
        } catch {
            Issue.record("unexpected \(error)")
        }
    }

    @Test func memoryAddsItsToolsAfterTheAgentsOwn() throws {
        let catalog = try AgentConfigLoader.parse("""
            agents:
              - id: a
                model: {provider: builtin}
                tools: [calculator]
                memory: {}
              - id: b
                model: {provider: builtin}
                memory: {namespace_from: thread_metadata, field: user_id, max_results: 2}
            """, file: "x.yaml")
        #expect(catalog.agent("a")?.tools.map(\.spec.name) == ["calculator", "remember", "recall"])
        #expect(catalog.agent("a")?.memory == MemorySettings())
        #expect(catalog.agent("b")?.memory == MemorySettings(namespaceFrom: .threadMetadata, field: "user_id", maxResults: 2))
        #expect((catalog.agent("b")?.tool("recall")?.tool as? RecallTool)?.maxResults == 2)
    }

    @Test func sseFramesSplitMultilineData() {
        let frame = String(decoding: ServerSentEvents.frame(id: 7, event: "x", data: Array("a\nb".utf8)), as: UTF8.self)
        #expect(frame == "id: 7\nevent: x\ndata: a\ndata: b\n\n")
        #expect(parseSSE(frame) == [SSEFrame(id: "7", event: "x", data: "a\nb")])
    }

    @Test func invalidUTF8OffsetIsFound() {
        #expect(firstInvalidUTF8Offset(Array("plain".utf8)) == nil)
        #expect(firstInvalidUTF8Offset(Array("héllo".utf8)) == nil)
        #expect(firstInvalidUTF8Offset([0x61, 0x62, 0xFF, 0x63]) == 2)
    }
}
