import HTTPTypes
import Runs
import AgentRuntime
import Foundation
@testable import Handlers
import Testing

@Suite struct MetaAndAgentTests {
    let app = makeTestApp()

    @Test func healthAndInfo() async throws {
        let ok = await app.respond(to: Request(method: .get, path: "/ok"))
        #expect(ok.status == 200)
        #expect(try await jsonObject(ok)["ok"] as? Bool == true)
        let info = try await jsonObject(await app.respond(to: Request(method: .get, path: "/info")))
        #expect(info["version"] as? String == agentfcgiVersion)
    }

    @Test func searchListsAgentsAndFilters() async throws {
        let all = await app.respond(to: jsonRequest("POST", "/agents/search", "{}"))
        let agents = try #require(try JSONSerialization.jsonObject(with: Data(try await bodyText(all).utf8)) as? [[String: Any]])
        #expect(agents.map { $0["agent_id"] as? String } == ["echo", "slow"])

        let filtered = await app.respond(to: jsonRequest("POST", "/assistants/search", #"{"metadata":{"tier":"demo"},"limit":5}"#))
        let matches = try #require(try JSONSerialization.jsonObject(with: Data(try await bodyText(filtered).utf8)) as? [[String: Any]])
        #expect(matches.map { $0["assistant_id"] as? String } == ["echo"])

        // No body at all is an empty query.
        let bare = await app.respond(to: Request(method: .post, path: "/agents/search"))
        #expect(bare.status == 200)
    }

    @Test func searchRejectsBadLimitNamingTheField() async throws {
        let response = await app.respond(to: jsonRequest("POST", "/agents/search", #"{"limit":0}"#))
        #expect(response.status == 422)
        let problem = try await jsonObject(response)
        #expect(problem["field"] as? String == "limit")
        #expect(problem["code"] as? String == "validation_error")

        let wrongType = await app.respond(to: jsonRequest("POST", "/agents/search", #"{"limit":"ten"}"#))
        #expect(wrongType.status == 422)
        #expect(try await jsonObject(wrongType)["field"] as? String == "limit")
    }

    @Test func getAgentAndSchemas() async throws {
        let agent = try await jsonObject(await app.respond(to: Request(method: .get, path: "/agents/echo")))
        #expect(agent["name"] as? String == "Echo")
        #expect(agent["graph_id"] as? String == "echo")
        let schemas = try await jsonObject(await app.respond(to: Request(method: .get, path: "/assistants/echo/schemas")))
        let input = try #require(schemas["input_schema"] as? [String: Any])
        #expect(input["required"] as? [String] == ["messages"])
    }

    @Test func unknownAgentIs404Problem() async throws {
        let response = await app.respond(to: Request(method: .get, path: "/agents/nobody", requestID: "rid"))
        #expect(response.status == 404)
        let problem = try await jsonObject(response)
        #expect(problem["code"] as? String == "agent_not_found")
        #expect(problem["message"] as? String == problem["detail"] as? String)
        #expect(problem["type"] as? String == "urn:agentfcgi:problem:agent_not_found")
        #expect(problem["status"] as? Int == 404)
        #expect(problem["title"] as? String == "Not Found")
        #expect(problem["request_id"] as? String == "rid")
    }
}
