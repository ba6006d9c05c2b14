import Runs
import Foundation
import Handlers
import TestSupport
import Testing

/// The outbound policy through nginx and real workers (docs/security.md). Receivers are stand-ins on loopback: a
/// configured webhook endpoint and an allow-listed `http_get` host that answer with redirects inward, and
/// "internal" services on 127.0.0.2 and [::1] that record every request: they must record none.
@Suite(.serialized) struct LiveOutboundTests {
    @Test func webhooksAndHttpGetNeverFollowRedirectsInward() async throws {
        let port = try StandIn.freePort()
        let receiver = try StandIn(address: "127.0.0.1", port: port)
        let inside = try StandIn(address: "127.0.0.2", port: port)
        let inside6 = try StandIn(address: "::1", port: port)
        defer { receiver.stop(); inside.stop(); inside6.stop() }

        func redirect(_ code: Int, to target: String) -> String {
            "http://127.0.0.1:\(port)/redirect/\(code)?to=" + target.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!
        }
        let inward = [(301, "http://127.0.0.2:\(port)/in"), (302, "http://[::1]:\(port)/in"),
                      (307, "http://localhost:\(port)/in"), (308, "http://127.0.0.2:\(port)/in")]
        let endpoints = inward.map { "    - url: \"\(redirect($0.0, to: $0.1))\"" }.joined(separator: "\n")
        let config = """
              - id: fetcher
                model: {provider: builtin}
                tools: [{name: http_get, allow_hosts: ["127.0.0.1"], allow_private: true}]
              - id: guarded
                model: {provider: builtin}
                tools: [{name: http_get, allow_hosts: ["127.0.0.1", localhost]}]
            webhooks:
              secret_env: TEST_WEBHOOK_SECRET
              retry_base_seconds: 0.2
              max_attempts: 2
              endpoints:
            \(endpoints)
            """
        try await withCluster(workers: 2, extraAgents: config, environment: ["TEST_WEBHOOK_SECRET": WebhookSigner.newSecret()]) { cluster in
            // A configured endpoint may be internal, but its redirects are not followed, in any status.
            let created = try await cluster.fetch(.POST, "/runs", body: runBody(agent: "echo", message: "notify"))
            #expect(created.status == 200, "\(created.body)")
            let runID = try #require(created.json?["run_id"] as? String)
            var deliveries: [[String: Any]] = []
            try await cluster.waitUntil("4 deliveries given up") {
                let log = try await cluster.fetch(.GET, "/runs/\(runID)/webhooks")
                deliveries = (try? JSONSerialization.jsonObject(with: Data(log.body.utf8)) as? [[String: Any]]) ?? []
                return deliveries.count == 4 && deliveries.allSatisfy { $0["status"] as? String == "failed" }
            }
            for delivery in deliveries {
                let attempts = delivery["attempts"] as? [[String: Any]] ?? []
                let url = delivery["url"] as? String ?? ""
                let code = inward.first { url.contains("/redirect/\($0.0)?") }?.0
                #expect(attempts.map { $0["status_code"] as? Int } == [code, code], "\(url)")
                // The log shows a generic reason: nothing about where the redirect pointed.
                #expect(attempts.map { $0["error"] as? String } == ["refused: redirects are not followed", "refused: redirects are not followed"])
            }
            #expect(receiver.lines.count == 8, "4 endpoints, 2 attempts each: \(receiver.lines)")

            // A run's own webhook naming an internal address, in any spelling, is refused when the run is created.
            for spelling in ["127.0.0.1", "127.1", "0x7f000001", "2130706433", "017700000001", "[::1]", "[::ffff:127.0.0.1]",
                             "[::127.0.0.1]", "[64:ff9b::7f00:1]", "[2002:7f00:1::]", "192.0.2.1", "169.254.169.254", "10.0.0.1", "[fd00::1]"] {
                let body = runBody(agent: "echo", message: "x", extra: #","webhook":"http://\#(spelling):\#(port)/in""#)
                let refused = try await cluster.fetch(.POST, "/runs", body: body)
                #expect(refused.status == 422, "\(spelling): \(refused.status) \(refused.body)")
                #expect(refused.json?["field"] as? String == "webhook", "\(spelling)")
            }

            // http_get follows redirects only to hosts that pass the same checks as the first URL.
            for (code, target) in inward {
                let answer = try await toolAnswer(cluster, agent: "fetcher", url: redirect(code, to: target))
                #expect(answer == "error: refused: the host is not allowed", "\(code) to \(target)")
            }
            // An allow-listed host is still refused when it is internal and allow_private is off: in every spelling.
            for spelling in ["127.0.0.1", "127.1", "0x7f000001", "2130706433", "[::ffff:127.0.0.1]", "localhost"] {
                let answer = try await toolAnswer(cluster, agent: "guarded", url: "http://\(spelling):\(port)/in")
                #expect(answer == "error: refused: the target is not allowed", "\(spelling)")
            }
            #expect(receiver.lines.count == 8 + inward.count, "only the first hop of each fetch: \(receiver.lines)")
        }
        #expect(inside.lines.isEmpty, "reached 127.0.0.2: \(inside.lines)")
        #expect(inside6.lines.isEmpty, "reached [::1]: \(inside6.lines)")
    }

    /// What `http_get` told the model, from the tool message of a run that asked for `url`.
    func toolAnswer(_ cluster: LiveCluster, agent: String, url: String) async throws -> String? {
        let response = try await cluster.fetch(.POST, "/runs/wait", body: runBody(agent: agent, message: #"http_get {"url": "\#(url)"}"#))
        let messages = response.json?["messages"] as? [[String: Any]] ?? []
        return messages.first { $0["role"] as? String == "tool" || $0["type"] as? String == "tool" }?["content"] as? String
    }
}
