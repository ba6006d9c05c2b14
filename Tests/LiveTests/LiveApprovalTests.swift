import Foundation
import TestSupport
import Testing

/// A run paused for approval is the store's, not a worker's: the worker that paused it dies, the thread still waits,
/// and the answer, taken by another worker, runs the call once; on every topology.
@Suite struct LiveApprovalTests {
    static func resume(_ decision: String) -> String {
        #"{"assistant_id":"careful","command":{"resume":{"decisions":[\#(decision)]}}}"#
    }

    @Test(arguments: Topology.allCases)
    func aPauseOutlivesTheWorkerThatMadeItAndIsAnsweredThroughAnother(_ topology: Topology) async throws {
        try await withCluster(topology: topology, workers: 2) { cluster in
            let thread = try #require(try await cluster.fetch(.POST, "/threads", body: "{}").json?["thread_id"] as? String)
            let paused = try await cluster.fetch(.POST, "/threads/\(thread)/runs/wait", body: runBody(agent: "careful", message: "what is 12*(3+4)?"))
            #expect(paused.status == 200)
            let interrupt = try #require((paused.json?["__interrupt__"] as? [[String: Any]])?.first)
            let runID = try #require(interrupt["id"] as? String)
            let pausedBy = try #require(cluster.worker(mentioning: runID), "no worker logged run \(runID)")
            cluster.signal(worker: pausedBy, SIGKILL)
            _ = try await cluster.waitForExit(worker: pausedBy)

            let state = try await cluster.fetch(.GET, "/threads/\(thread)/state")
            #expect(state.json?["next"] as? [String] == ["tools"])
            // The answer that does not fit is refused by the worker left; the one that does runs the call once.
            let wrong = try await cluster.fetch(.POST, "/threads/\(thread)/runs/wait", body: Self.resume(#"{"type":"approve"},{"type":"approve"}"#))
            #expect(wrong.status == 422)
            let done = try await cluster.fetch(.POST, "/threads/\(thread)/runs/wait", body: Self.resume(#"{"type":"approve"}"#))
            #expect(done.status == 200)
            let messages = try #require(done.json?["messages"] as? [[String: Any]])
            #expect(messages.filter { $0["type"] as? String == "tool" }.map { $0["content"] as? String } == ["84"])
            let again = try await cluster.fetch(.POST, "/threads/\(thread)/runs/wait", body: Self.resume(#"{"type":"approve"}"#))
            #expect(again.status == 409)
            let threadObject = try await cluster.fetch(.GET, "/threads/\(thread)")
            #expect(threadObject.json?["status"] as? String == "idle")
        }
    }
}

extension LiveApprovalTests {
    /// An approved call runs at most once: the worker running it is killed mid-call, and the run ends, without the
    /// call being made again by the worker that takes its lease over.
    @Test func anApprovedCallIsNeverRepeatedWhenItsWorkerDies() async throws {
        let port = try StandIn.freePort()
        let service = try StandIn(address: "127.0.0.1", port: port)
        defer { service.stop() }
        let agent = """
              - id: careful-http
                model: {provider: builtin}
                tools: [{name: http_get, allow_hosts: ["127.0.0.1"], allow_private: true, timeout_ms: 60000}]
                approvals: {http_get: always}
            """
        try await withCluster(workers: 2, arguments: ["--run-lease-seconds", "2"], extraAgents: agent) { cluster in
            let thread = try #require(try await cluster.fetch(.POST, "/threads", body: "{}").json?["thread_id"] as? String)
            let ask = "http_get {\"url\": \"http://127.0.0.1:\(port)/slow/30\"}"
            let paused = try await cluster.fetch(.POST, "/threads/\(thread)/runs/wait", body: runBody(agent: "careful-http", message: ask))
            #expect(paused.json?["__interrupt__"] != nil, "\(paused.status) \(paused.body.prefix(600))")
            #expect(service.lines.isEmpty)
            let answer = try await cluster.fetch(.POST, "/threads/\(thread)/runs",
                                                 body: #"{"assistant_id":"careful-http","command":{"resume":{"decisions":[{"type":"approve"}]}}}"#)
            let runID = try #require(answer.json?["run_id"] as? String)
            try await eventually("the approved call reached the service") { service.lines.count == 1 }
            let running = try #require(cluster.worker(mentioning: runID))
            cluster.signal(worker: running, SIGKILL)
            _ = try await cluster.waitForExit(worker: running)
            try await eventually("the run ended") {
                try await cluster.fetch(.GET, "/threads/\(thread)/runs/\(runID)").json?["status"] as? String == "error"
            }
            // The other worker took the lease over and ended the run: the call was not made again.
            try await Task.sleep(for: .seconds(3))
            #expect(service.lines.count == 1, "\(service.lines)")
            let joined = try await cluster.fetch(.GET, "/threads/\(thread)/runs/\(runID)/join")
            #expect(joined.body.contains("tool_interrupted"), "\(joined.body)")
        }
    }
}
