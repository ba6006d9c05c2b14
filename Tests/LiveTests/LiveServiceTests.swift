import AsyncHTTPClient
import Foundation
import Testing

/// Real nginx, real workers, HTTPS on loopback: what a user's curl sees.
@Suite(.serialized) struct LiveServiceTests {
    @Test func healthInfoAndHeadersThroughNginx() async throws {
        try await withCluster { cluster in
            let ok = try await cluster.fetch(.GET, "/ok")
            #expect(ok.status == 200)
            #expect(ok.json?["ok"] as? Bool == true)
            // nginx's $request_id reaches the worker and comes back.
            let requestID = try #require(ok.header("x-request-id"))
            #expect(requestID.count == 32)
            #expect(ok.header("strict-transport-security") != nil)
            let info = try await cluster.fetch(.GET, "/info")
            #expect(info.json?["name"] as? String == "agentfcgi")
            let agents = try await cluster.fetch(.POST, "/agents/search", body: "{}")
            #expect(agents.status == 200)
            #expect(agents.body.contains(#""agent_id":"ticker""#))
        }
    }

    /// `--metrics off`: /metrics is a 404 through nginx, with the default it is the exposition; runs go on either way.
    @Test(arguments: [true, false]) func metricsCanBeTurnedOff(on: Bool) async throws {
        try await withCluster(workers: 1, arguments: on ? [] : ["--metrics", "off"]) { cluster in
            let run = try await cluster.fetch(.POST, "/runs/wait", body: runBody(agent: "echo", message: "Hello there"))
            #expect(run.status == 200)
            let metrics = try await cluster.fetch(.GET, "/metrics")
            if on {
                #expect(metrics.status == 200)
                #expect(metrics.body.split(separator: "\n").contains { $0.hasPrefix("agentfcgi_runs_started_total{worker=") && $0.hasSuffix(#",agent="echo",protocol="langgraph"} 1"#) })
            } else {
                #expect(metrics.status == 404)
                #expect(metrics.body.contains("exports no metrics"))
                #expect(!metrics.body.contains("agentfcgi_"))
            }
        }
    }

    @Test func runWaitThroughNginx() async throws {
        try await withCluster { cluster in
            let response = try await cluster.fetch(.POST, "/runs/wait", body: runBody(agent: "echo", message: "Hello there"))
            #expect(response.status == 200)
            #expect(response.header("content-location")?.hasPrefix("/runs/") == true)
            let messages = try #require(response.json?["messages"] as? [[String: Any]])
            #expect(messages.last?["content"] as? String == "You said: Hello there")
            #expect((messages.last?["usage_metadata"] as? [String: Int])?["output_tokens"] == 4)
        }
    }

    @Test func calculatorAgentThroughNginx() async throws {
        try await withCluster { cluster in
            let result = try await cluster.stream("/runs/stream", body: runBody(agent: "assistant", message: "what is 12*(3+4)?"))
            let custom = result.json("custom").compactMap { $0 as? [String: Any] }
            #expect(custom.map { $0["type"] as? String } == ["usage", "tool_call_started", "tool_call_finished", "usage", "run_completed"])
            #expect(custom[2]["result"] as? String == "84")
            #expect((custom[4]["usage"] as? [String: Int])?["total_tokens"] ?? 0 > 0)
            #expect(result.tokens.joined() == "calculator returned 84.")
            #expect(result.events.last == "end")
            let tools = try await cluster.fetch(.GET, "/agents/assistant/tools")
            #expect(tools.body.contains(#""name":"calculator""#))
            let invoked = try await cluster.fetch(.POST, "/agents/assistant/tools/calculator/invoke", body: #"{"arguments":{"expression":"2^10"}}"#)
            #expect(invoked.json?["result"] as? String == "1024")
            let answer = try await cluster.fetch(.POST, "/runs/wait", body: runBody(agent: "kb", message: "How does nginx reach the workers?"))
            let messages = try #require(answer.json?["messages"] as? [[String: Any]])
            #expect((messages.last?["content"] as? String)?.contains("FastCGI socket") == true)
        }
    }

    @Test func streamEventsArriveAsTheyAreProduced() async throws {
        try await withCluster { cluster in
            let words = (1...10).map { "w\($0)" }.joined(separator: " ")
            let result = try await cluster.stream("/runs/stream", body: runBody(agent: "ticker", message: words))
            #expect(result.status == 200)
            #expect(result.headers.first(name: "content-type") == "text/event-stream")
            #expect(result.events.first == "metadata")
            #expect(result.events.last == "end")
            #expect(result.tokens.joined() == "You said: " + words)
            // Every frame is numbered for Last-Event-ID.
            #expect(result.frames.map(\.frame.id) == (0..<result.frames.count).map { String($0) })

            // Order, not milliseconds: the first tokens of a run that needs 700 ms per token for 40 tokens reach
            // the client while the run is still going. Held back anywhere (nginx buffering), they would come only
            // with the run's end.
            let long = (1...40).map { "w\($0)" }.joined(separator: " ")
            let curl = try cluster.curlStream("/runs/stream", body: runBody(agent: "slow", message: long))
            defer { curl.kill() }
            var runID: String?
            var tokens = 0
            for await timed in curl.frames() {
                if timed.frame.event == "metadata" { runID = StreamResult(status: 200, headers: [:], frames: [timed]).runID }
                if timed.frame.event == "messages" { tokens += 1 }
                if tokens == 2 { break }
            }
            let id = try #require(runID)
            #expect(tokens == 2)
            #expect(cluster.logLines(containing: "run.started", id).count == 1)
            #expect(cluster.logLines(containing: "run.completed", id).isEmpty, "the tokens came only once the run was over")
        }
    }

    @Test func clientDisconnectCancelsTheRun() async throws {
        try await withCluster { cluster in
            let words = (1...60).map { "w\($0)" }.joined(separator: " ")
            let curl = try cluster.curlStream("/runs/stream", body: runBody(agent: "ticker", message: words))
            var runID: String?
            var tokens = 0
            for await timed in curl.frames() {
                if timed.frame.event == "metadata" {
                    runID = StreamResult(status: 200, headers: [:], frames: [timed]).runID
                }
                if timed.frame.event == "messages" { tokens += 1 }
                if tokens == 3 { break }
            }
            let closedAt = Date()
            curl.kill()
            let id = try #require(runID)
            let line = try await cluster.waitForLog("run.cancelled", id)
            #expect(line.contains("reason=client_disconnected"))
            let cancelledAt = try #require(logTimestamp(line))
            // Order, not milliseconds: the run (60 tokens, 100 ms each) stopped because the client left, before its
            // end. How soon is a measurement (bench/), not a bound that a busy machine can break.
            let delay = cancelledAt.timeIntervalSince(closedAt)
            print("run cancelled \(Int(delay * 1000)) ms after the client left")
            #expect(delay > -0.002, "cancelled before the client left? \(line)")
            #expect(cluster.logLines(containing: "run.completed", id).isEmpty)
        }
    }

    @Test func nginxAnswersThroughTheOtherWorkerWhenOneIsKilled() async throws {
        try await withCluster { cluster in
            cluster.signal(worker: 1, SIGKILL)
            let status = try await cluster.waitForExit(worker: 1)
            #expect(status != 0)
            for _ in 0..<10 {
                let ok = try await cluster.fetch(.GET, "/ok")
                #expect(ok.status == 200)
                let run = try await cluster.fetch(.POST, "/runs/wait", body: runBody(agent: "echo", message: "still here"))
                #expect(run.status == 200)
            }
        }
    }

    @Test func sigtermDrainsAnInFlightStreamAndExitsZero() async throws {
        try await withCluster { cluster in
            let words = (1...12).map { "w\($0)" }.joined(separator: " ")
            let signalled = LockedBox<Int?>(nil)
            let result = try await cluster.stream("/runs/stream", body: runBody(agent: "ticker", message: words)) { frames in
                if signalled.value == nil, frames.contains(where: { $0.frame.event == "messages" }),
                   let runID = StreamResult(status: 200, headers: [:], frames: frames).runID,
                   let worker = cluster.worker(mentioning: runID) {
                    cluster.signal(worker: worker, SIGTERM)
                    signalled.value = worker
                }
            }
            let worker = try #require(signalled.value)
            // The stream was finished, not cut: every token and the end event arrived after SIGTERM.
            #expect(result.tokens.joined() == "You said: " + words)
            #expect(result.events.last == "end")
            #expect(try await cluster.waitForExit(worker: worker) == 0)
            #expect(!FileManager.default.fileExists(atPath: cluster.socketPath(worker)))
            #expect(cluster.log(worker).contains("server.stopped"))
            // nginx keeps answering through the other worker.
            #expect(try await cluster.fetch(.GET, "/ok").status == 200)
        }
    }

    @Test func silentStreamsGetHeartbeats() async throws {
        try await withCluster(arguments: ["--heartbeat-seconds", "0.3"]) { cluster in
            let result = try await cluster.stream("/runs/stream", body: runBody(agent: "slow", message: "a"))
            // 3 tokens 700 ms apart: each pause is longer than the 300 ms heartbeat.
            #expect(result.events.filter { $0 == ":" }.count >= 2, "\(result.events)")
            #expect(result.events.last == "end")
        }
    }
}

final class LockedBox<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: Value
    init(_ value: Value) { stored = value }
    var value: Value {
        get { lock.withLock { stored } }
        set { lock.withLock { stored = newValue } }
    }
}
