import AsyncHTTPClient
import Foundation
import NIOSSL
import TestSupport
import Testing

/// Threads and runs through nginx with several worker processes on one SQLite file; what must hold however the
/// workers are deployed, on every `Topology`.
@Suite(.serialized) struct LiveThreadTests {
    func newThread(_ cluster: LiveCluster) async throws -> String {
        let created = try await cluster.fetch(.POST, "/threads", body: "{}")
        return try #require(created.json?["thread_id"] as? String)
    }

    func frames(_ body: String) -> [SSEFrame] {
        SSEParser.parseAll(body).filter { $0.event != ":" }
    }

    /// The run streams from worker A; the client drops; A is told to stop (its listener closes, its run goes on);
    /// the client resumes with Last-Event-ID and can only reach worker B, which reads A's events from the log.
    @Test(arguments: Topology.allCases)
    func aStreamResumedThroughTheOtherWorkerLosesAndRepeatsNothing(_ topology: Topology) async throws {
        try await withCluster(topology: topology, workers: 2, arguments: ["--drain-timeout", "20"]) { cluster in
            let thread = try await newThread(cluster)
            let words = (1...30).map { "w\($0)" }.joined(separator: " ")
            let curl = try cluster.curlStream("/threads/\(thread)/runs/stream",
                                              body: runBody(agent: "ticker", message: words, extra: #","stream_mode":["messages-tuple","values"]"#))
            var received: [SSEFrame] = []
            for await timed in curl.frames() {
                received.append(timed.frame)
                if received.count == 8 { break }
            }
            curl.kill()
            let runID = try #require((try JSONSerialization.jsonObject(with: Data(received[0].data.utf8)) as? [String: Any])?["run_id"] as? String)
            let runner = try #require(cluster.worker(mentioning: runID))
            #expect(cluster.logLines(containing: "run.started", runID).count == 1)
            cluster.signal(worker: runner, SIGTERM)
            // Logged once its listener is closed: from then on nginx can only reach the other worker.
            try await cluster.waitUntil("worker \(runner) draining") { cluster.log(runner).contains("server.draining") }

            let lastID = try #require(received.last?.id)
            let resumed = try await cluster.fetch(.GET, "/threads/\(thread)/runs/\(runID)/stream", headers: [("Last-Event-ID", lastID)])
            #expect(resumed.status == 200)
            let rest = frames(resumed.body)
            #expect(rest.last?.event == "end")
            let ids = (received + rest).compactMap { $0.id.flatMap(Int.init) }
            #expect(ids == Array(1...ids.count), "ids \(ids)")
            let tokens = (received + rest).filter { $0.event == "messages" }.compactMap {
                ((try? JSONSerialization.jsonObject(with: Data($0.data.utf8))) as? [[String: Any]])?.first?["content"] as? String
            }
            #expect(tokens.joined() == "You said: " + words)
            // The whole log, read again, is the same events.
            let replay = frames(try await cluster.fetch(.GET, "/threads/\(thread)/runs/\(runID)/stream").body)
            #expect(replay.map(\.data) == (received + rest).map(\.data))
            #expect(try await cluster.waitForExit(worker: runner) == 0, "the draining worker finished its run and exited")
            let run = try await cluster.fetch(.GET, "/threads/\(thread)/runs/\(runID)")
            #expect(run.json?["status"] as? String == "success")
        }
    }

    @Test(arguments: Topology.allCases)
    func racingRejectRunsYieldOneRunAndConflicts(_ topology: Topology) async throws {
        try await withCluster(topology: topology, workers: 2) { cluster in
            let thread = try await newThread(cluster)
            let statuses = try await withThrowingTaskGroup(of: LiveResponse.self) { group in
                for index in 0..<8 {
                    group.addTask {
                        try await cluster.fetch(.POST, "/threads/\(thread)/runs/wait",
                                                body: runBody(agent: "ticker", message: "racer \(index) goes"))
                    }
                }
                return try await group.reduce(into: [LiveResponse]()) { $0.append($1) }
            }
            #expect(statuses.filter { $0.status == 200 }.count == 1, "\(statuses.map(\.status))")
            let conflicts = statuses.filter { $0.status == 409 }
            #expect(conflicts.count == 7, "\(statuses.map { "\($0.status) \($0.body.prefix(200))" })")
            #expect(conflicts.allSatisfy { $0.header("x-should-retry") == "false" && $0.json?["code"] as? String == "thread_busy" })
            let runs = try await cluster.fetch(.GET, "/threads/\(thread)/runs")
            #expect((try JSONSerialization.jsonObject(with: Data(runs.body.utf8)) as? [Any])?.count == 1)
        }
    }

    /// Many runs at once, each on a thread it creates, with the cluster's key: every one answers. (A key look-up that
    /// waited, on a thread that runs tasks, for a reader of the pool once made a worker stop answering within a
    /// tenth of a second of such load: `SQLiteStoreTests.keyLookupsBesideManyAsyncReadsFinish`.)
    @Test func manyRunsOnNewThreadsAtOnceAllAnswer() async throws {
        try await withCluster(workers: 2) { cluster in
            let (clients, each) = (32, 20)
            // The cluster's client keeps 8 connections to a host: this one gives each client its own.
            var tls = TLSConfiguration.makeClientConfiguration()
            tls.trustRoots = .file(cluster.directory.appendingPathComponent("certs/ca.crt").path)
            var configuration = HTTPClient.Configuration(tlsConfiguration: tls)
            configuration.httpVersion = .http1Only
            configuration.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = clients
            let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
            let sending = Task { try await withThrowingTaskGroup(of: [Int].self) { group in
                for index in 0..<clients {
                    group.addTask {
                        var statuses: [Int] = []
                        for run in 0..<each {
                            let request = cluster.request(.POST, "/threads/\(UUID().uuidString)/runs/wait",
                                                          body: runBody(agent: "echo", message: "client \(index) run \(run)",
                                                                        extra: #","if_not_exists":"create""#))
                            // A worker that stops answering fails here, in 20 s, rather than at the cluster's 60 s.
                            let response = try await client.execute(request, timeout: .seconds(20))
                            _ = try await response.body.collect(upTo: 1 << 20)
                            statuses.append(Int(response.status.code))
                        }
                        return statuses
                    }
                }
                return try await group.reduce(into: [Int]()) { $0 += $1 }
            } }
            let sent = await sending.result
            try await client.shutdown()
            let statuses = try sent.get()
            #expect(statuses.count == clients * each)
            #expect(statuses.allSatisfy { $0 == 200 }, "\(Dictionary(grouping: statuses, by: { $0 }).mapValues(\.count))")
            let counted = try await cluster.fetch(.POST, "/threads/count", body: "{}")
            #expect(Int(counted.body.trimmingCharacters(in: .whitespacesAndNewlines)) == clients * each)
        }
    }

    @Test func enqueuedRunsRunOneAfterAnotherInOrder() async throws {
        try await withCluster(workers: 2) { cluster in
            let thread = try await newThread(cluster)
            try await withThrowingTaskGroup(of: Void.self) { group in
                for index in 1...5 {
                    group.addTask {
                        let response = try await cluster.fetch(.POST, "/threads/\(thread)/runs/wait",
                                                               body: runBody(agent: "ticker", message: "job \(index) now", extra: #","multitask_strategy":"enqueue""#))
                        #expect(response.status == 200)
                    }
                }
                try await group.waitForAll()
            }
            let runs = try #require(try JSONSerialization.jsonObject(with: Data(try await cluster.fetch(.GET, "/threads/\(thread)/runs").body.utf8)) as? [[String: Any]])
            #expect(runs.count == 5 && runs.allSatisfy { $0["status"] as? String == "success" })
            // Oldest first: the order in which the store queued them.
            let queued = runs.reversed().compactMap { (($0["kwargs"] as? [String: Any])?["input"] as? [String: Any])?["messages"] as? [[String: Any]] }
                .compactMap { $0.first?["content"] as? String }
            let state = try await cluster.fetch(.GET, "/threads/\(thread)/state")
            let messages = ((state.json?["values"] as? [String: Any])?["messages"] as? [[String: Any]] ?? []).compactMap { $0["content"] as? String }
            // Never interleaved: each question is followed by its own answer, in queue order.
            #expect(messages == queued.flatMap { [$0, "You said: " + $0] })
            #expect(Set(queued).count == 5)
        }
    }

    @Test func aThreadSurvivesARestartOfEveryWorker() async throws {
        try await withCluster(workers: 2) { cluster in
            let thread = try await newThread(cluster)
            let first = try await cluster.fetch(.POST, "/threads/\(thread)/runs/wait", body: runBody(agent: "echo", message: "keep me"))
            #expect(first.status == 200)
            for index in 1...2 { cluster.signal(worker: index, SIGTERM) }
            for index in 1...2 { #expect(try await cluster.waitForExit(worker: index) == 0) }
            #expect(try await cluster.fetch(.GET, "/threads/\(thread)").status == 502, "no worker is left to answer")
            for index in 1...2 { try cluster.startWorker(index) }
            var state: LiveResponse?
            try await cluster.waitUntil("the restarted workers answering") {
                state = try? await cluster.fetch(.GET, "/threads/\(thread)/state")
                return state?.status == 200
            }
            let messages = ((state?.json?["values"] as? [String: Any])?["messages"] as? [[String: Any]] ?? []).compactMap { $0["content"] as? String }
            #expect(messages == ["keep me", "You said: keep me"])
            let second = try await cluster.fetch(.POST, "/threads/\(thread)/runs/wait", body: runBody(agent: "echo", message: "and me"))
            #expect(second.status == 200)
            #expect(second.body.contains("keep me"))
        }
    }

    /// kill -9 mid-run: the run's lease runs out, a surviving worker takes it over from the start (attempt 2),
    /// and a reader sees the first attempt's events, then the second's, then the end.
    @Test func aRunWhoseWorkerIsKilledIsFinishedByAnother() async throws {
        try await withCluster(workers: 2, arguments: ["--run-lease-seconds", "2"]) { cluster in
            let thread = try await newThread(cluster)
            let curl = try cluster.curlStream("/threads/\(thread)/runs/stream", body: runBody(agent: "slow", message: "a b c d e f"))
            defer { curl.kill() }
            var first: SSEFrame?
            for await timed in curl.frames() { first = timed.frame; break }
            let metadata = try #require(first)
            let runID = try #require((try JSONSerialization.jsonObject(with: Data(metadata.data.utf8)) as? [String: Any])?["run_id"] as? String)
            let runner = try #require(cluster.worker(mentioning: runID))
            cluster.signal(worker: runner, SIGKILL)
            _ = try await cluster.waitForExit(worker: runner)
            let tail = frames(try await cluster.fetch(.GET, "/threads/\(thread)/runs/\(runID)/stream", headers: [("Last-Event-ID", "1")]).body)
            #expect(tail.last?.event == "end")
            let attempts = tail.filter { $0.event == "metadata" }.compactMap {
                (try? JSONSerialization.jsonObject(with: Data($0.data.utf8)) as? [String: Any])?["attempt"] as? Int
            }
            #expect(attempts == [2])
            let run = try await cluster.fetch(.GET, "/threads/\(thread)/runs/\(runID)")
            #expect(run.json?["status"] as? String == "success")
            #expect(run.json?["attempts"] as? Int == 2)
            #expect(try await cluster.fetch(.GET, "/threads/\(thread)").json?["status"] as? String == "idle")
            let state = try await cluster.fetch(.GET, "/threads/\(thread)/state")
            let messages = ((state.json?["values"] as? [String: Any])?["messages"] as? [[String: Any]] ?? []).compactMap { $0["content"] as? String }
            #expect(messages == ["a b c d e f", "You said: a b c d e f"])
            #expect(cluster.logLines(containing: "run.requeued", runID).count == 1)
        }
    }

    /// SIGTERM with a run still going after the drain bound: the run ends `interrupted` with a closing event that
    /// says why, its input stays on the thread, and the worker exits 0.
    @Test func aRunStillGoingWhenTheDrainBoundPassesEndsInterrupted() async throws {
        try await withCluster(workers: 2, arguments: ["--drain-timeout", "1"]) { cluster in
            let thread = try await newThread(cluster)
            let curl = try cluster.curlStream("/threads/\(thread)/runs/stream", body: runBody(agent: "slow", message: "a b c d e f g h i j"))
            var first: SSEFrame?
            for await timed in curl.frames() { first = timed.frame; break }
            curl.kill()
            let metadata = try #require(first)
            let runID = try #require((try JSONSerialization.jsonObject(with: Data(metadata.data.utf8)) as? [String: Any])?["run_id"] as? String)
            let runner = try #require(cluster.worker(mentioning: runID))
            cluster.signal(worker: runner, SIGTERM)
            // The run needs 7 s and the bound is 1 s: `interrupted` and the closing error below show that the bound
            // cut it, without a wall-clock bound of our own.
            #expect(try await cluster.waitForExit(worker: runner) == 0)
            let tail = frames(try await cluster.fetch(.GET, "/threads/\(thread)/runs/\(runID)/stream", headers: [("Last-Event-ID", "1")]).body)
            #expect(tail.last?.event == "end")
            #expect(tail.contains { $0.event == "error" && $0.data.contains("server_shutting_down") })
            #expect(try await cluster.fetch(.GET, "/runs/\(runID)").json?["status"] as? String == "interrupted")
            let state = try await cluster.fetch(.GET, "/threads/\(thread)/state")
            let messages = ((state.json?["values"] as? [String: Any])?["messages"] as? [[String: Any]] ?? []).compactMap { $0["content"] as? String }
            #expect(messages.first == "a b c d e f g h i j")
        }
    }
}
