import Foundation
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
