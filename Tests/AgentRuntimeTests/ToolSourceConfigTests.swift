import Foundation
@testable import AgentRuntime
import Testing

/// `mcp` and `openapi` entries of an agent's tools: what `agentfcgi check-config` (and every worker at start) accepts,
/// and each refusal naming its field.
@Suite struct ToolSourceConfigTests {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures").path

    func parse(_ tools: String, environment: [String: String] = ["PETS_TOKEN": "t0ken", "MCP_TOKEN": "m"]) throws -> AgentCatalog {
        try AgentConfigLoader.parse("""
            agents:
              - id: a
                model: {provider: builtin}
                tools:
            \(tools)
            """, file: "agents.yaml", directory: Self.fixtures, environment: environment)
    }

    func refusal(_ tools: String, environment: [String: String] = [:]) -> ConfigError? {
        do {
            _ = try parse(tools, environment: environment)
            return nil
        } catch let error as ConfigError {
            return error
        } catch {
            return ConfigError(file: "", field: "", message: "\(error)")
        }
    }

    @Test func sourcesAreRead() throws {
        let catalog = try parse("""
                  - calculator
                  - mcp: {name: local, command: [python3, mcp_bad_server.py, noise], env: {A: "1"}, allow_tools: [x], timeout_ms: 2000}
                  - mcp: {name: remote, url: "http://127.0.0.1:9/mcp", headers: {X-Token: MCP_TOKEN}}
                  - openapi: {name: pets, spec: openapi_service.json, base_url: "http://127.0.0.1:9/v1", operations: [listPets, getPet, createPet], headers: {X-Api-Token: PETS_TOKEN}}
            """)
        let agent = try #require(catalog.agent("a"))
        #expect(agent.toolSources.map(\.name) == ["local", "remote"])
        #expect(agent.tools.map(\.spec.name) == ["calculator", "pets__listPets", "pets__getPet", "pets__createPet"])
        // Reading is safe; creating is a side effect a retried run must not repeat.
        #expect(agent.tools.map(\.isIdempotent) == [true, true, true, false])
        let local = try #require(agent.toolSources.first as? MCPToolSource)
        guard case .stdio(let command, let environment, _) = local.settings.transport else { Issue.record("not stdio"); return }
        #expect(command == ["python3", "mcp_bad_server.py", "noise"] && environment == ["A": "1"] && local.settings.timeout == .seconds(2))
        let remote = try #require(agent.toolSources.last as? MCPToolSource)
        guard case .http(_, let headers) = remote.settings.transport else { Issue.record("not http"); return }
        #expect(headers.map(\.0) == ["X-Token"] && headers.map(\.1) == ["m"])
    }

    @Test func mistakesAreNamed() {
        let cases: [(String, [String: String], String, String)] = [
            ("      - mcp: {name: x, command: [python3], colour: red}", [:], "agents[0].tools[0].mcp.colour", "unknown field"),
            ("      - mcp: {name: x}", [:], "agents[0] (a).tools[0].mcp", "either command"),
            ("      - mcp: {name: x, command: [python3], url: \"http://h/mcp\"}", [:], "agents[0] (a).tools[0].mcp", "not both"),
            ("      - mcp: {name: \"bad name\", command: [python3]}", [:], "agents[0] (a).tools[0].mcp.name", "letters"),
            ("      - mcp: {name: x, command: [no-such-program-here]}", [:], "agents[0] (a).tools[0].mcp.command", "not an executable"),
            ("      - mcp: {name: x, url: \"ftp://h/mcp\"}", [:], "agents[0] (a).tools[0].mcp.url", "http(s)"),
            ("      - mcp: {name: x, url: \"http://h/mcp\", headers: {Authorization: NOT_SET}}", [:], "agents[0] (a).tools[0].mcp.headers.Authorization", "NOT_SET"),
            ("      - mcp: {name: x, command: [python3], env_from: {K: NOT_SET}}", [:], "agents[0] (a).tools[0].mcp.env_from.K", "NOT_SET"),
            ("      - mcp: {name: x, command: [python3], timeout_ms: 0}", [:], "agents[0] (a).tools[0].mcp.timeout_ms", "between"),
            ("      - mcp: {name: x, url: \"http://h/mcp\", headers: {X: T}}", ["T": "a\nb"], "agents[0] (a).tools[0].mcp.headers.X", "line break"),
            ("      - openapi: {name: p, spec: missing.json, base_url: \"http://h\", operations: [a]}", [:], "agents[0] (a).tools[0].openapi.spec", "cannot read"),
            ("      - openapi: {name: p, spec: openapi_service.json, base_url: \"http://h/v1\", operations: [nope]}", [:], "agents[0] (a).tools[0].openapi.operations", "nope"),
            ("      - openapi: {name: p, spec: openapi_service.json, base_url: \"file:///etc\", operations: [listPets]}", [:], "agents[0] (a).tools[0].openapi.base_url", "http(s)"),
            ("      - openapi: {name: p, spec: mcp_bad_server.py, base_url: \"http://h\", operations: [a]}", [:], "agents[0] (a).tools[0].openapi.spec", "not valid"),
            ("      - mcp: {name: x, command: [python3]}\n      - mcp: {name: x, command: [python3]}", [:], "agents[0] (a).tools[1].mcp.name", "twice"),
            ("      - mcp: {name: a__b, command: [python3]}", [:], "agents[0] (a).tools[0].mcp.name", "without __"),
            ("      - openapi: {name: p, spec: openapi_service.json, base_url: \"http://h/v1\", operations: [getPet], headers: {x-trace: T}}", ["T": "t"], "agents[0] (a).tools[0].openapi.headers.x-trace", "the model could set it"),
        ]
        for (tools, environment, field, words) in cases {
            let error = refusal(tools, environment: environment)
            #expect(error?.field.hasPrefix(field) == true || error?.field == field, "\(tools): \(String(describing: error))")
            #expect(error?.message.contains(words) == true || error?.field.contains(words) == true, "\(tools): \(String(describing: error))")
        }
    }

    @Test func oneSourceInTwoAgentsMustBeTheSame() throws {
        let yaml = { (second: String) in """
            agents:
              - id: a
                model: {provider: builtin}
                tools: [{mcp: {name: shared, command: [python3, x.py]}}]
              - id: b
                model: {provider: builtin}
                tools: [{mcp: {name: shared, command: [\(second)]}}]
            """ }
        let catalog = try AgentConfigLoader.parse(yaml("python3, x.py"), file: "f", directory: Self.fixtures, environment: [:])
        #expect(catalog.agent("a")?.toolSources.first.map { $0 as AnyObject } === catalog.agent("b")?.toolSources.first.map { $0 as AnyObject })
        #expect(throws: ConfigError.self) { try AgentConfigLoader.parse(yaml("python3, y.py"), file: "f", directory: Self.fixtures, environment: [:]) }
    }
}
