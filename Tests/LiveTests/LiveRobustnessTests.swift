import AsyncHTTPClient
import Foundation
import TestSupport
import Testing

@Suite(.serialized) struct LiveRobustnessTests {
    @Test func stalledClientsDoNotDelayAnyoneElse() async throws {
        try await withCluster { cluster in
            let baseline = try await okLatencies(cluster, count: 30)
            // Each echo streams ~120k token events (~24 MB) with no pause: far more than the socket buffers
            // between worker, nginx and curl hold, so a client that never reads stalls its worker-side stream.
            let big = (1...120_000).map { _ in "w" }.joined(separator: " ")
            let stalled = try (1...4).map { _ in try cluster.curlStream("/runs/stream", body: runBody(agent: "echo", message: big)) }
            defer { for curl in stalled { curl.kill() } }
            try await cluster.waitUntil("4 runs started") { cluster.logLines(containing: "run.started").count == 4 }

            // Order, not milliseconds: everything below is answered while the four streams are still stalled
            // (checked after it), so a stalled stream holds nothing that anyone else needs.
            let during = try await okLatencies(cluster, count: 30)
            let ticker = try await cluster.stream("/runs/stream", body: runBody(agent: "ticker", message: "still streaming"))
            #expect(ticker.events.last == "end")
            #expect(ticker.tokens.joined() == "You said: still streaming")
            // At most the ticker's run has ended (its log line may trail its `end`): the four were still stalled.
            #expect(cluster.logLines(containing: "run.completed").count <= 1)
            #expect(cluster.logLines(containing: "run.cancelled").isEmpty)
            let p95 = during.sorted()[Int(Double(during.count) * 0.95)]
            let baseP95 = baseline.sorted()[Int(Double(baseline.count) * 0.95)]
            print("GET /ok p95 \(p95) while 4 clients stall (before: \(baseP95))")

            for curl in stalled { curl.kill() }
            try await cluster.waitUntil("4 runs cancelled") { cluster.logLines(containing: "run.cancelled").count >= 4 }
            #expect(cluster.logLines(containing: "run.cancelled", "reason=client_disconnected").count == 4)
        }
    }

    /// A reader that slows and then stops, straight on a worker's socket. The kernel charges a unix socket's send
    /// buffer per write, so 32 KiB of 100-byte events written one by one do not fit where 32 KiB in full records
    /// do: the worker once wrote them one by one, and its I/O loop blocked in a write that SO_SNDTIMEO failed
    /// after 5 s, ending the stream as if the client had left and holding every other stream of the worker.
    @Test func aReaderThatStallsKeepsItsStreamAndTheWorkerKeepsStreaming() async throws {
        try await withCluster(workers: 1) { cluster in
            let words = (1...6_000).map { "w\($0 % 10)" }
            let client = try FastCGIClient(socketPath: cluster.socketPath(1))
            try client.send(method: "POST", uri: "/runs/stream", headers: ["X-Api-Key": cluster.apiKey],
                            body: runBody(agent: "echo", message: words.joined(separator: " ")))
            try await cluster.waitUntil("the run started") { cluster.logLines(containing: "run.started").count == 1 }
            // Slow reads keep the worker flushing into a socket that is only just writable, then none at all.
            for _ in 0..<40 {
                try client.read(limit: 2_048)
                try await Task.sleep(for: .milliseconds(20))
            }
            #expect(!client.ended)
            // The worker still streams to others while this reader is stalled (one worker: it holds both).
            let ticker = try await cluster.stream("/runs/stream", body: runBody(agent: "ticker", message: "still here"))
            #expect(ticker.tokens.joined() == "You said: still here")
            // Past SO_SNDTIMEO (5 s): a write blocked in the loop would have failed by now.
            try await Task.sleep(for: .seconds(6))
            #expect(cluster.logLines(containing: "run.cancelled").isEmpty)

            try client.readToEnd()
            #expect(client.ended)
            let text = String(decoding: client.stdout, as: UTF8.self)
            let body = text.range(of: "\r\n\r\n").map { String(text[$0.upperBound...]) } ?? ""
            let frames = SSEParser.parseAll(body)
            let tokens = frames.filter { $0.event == "messages" }
                .compactMap { try? JSONSerialization.jsonObject(with: Data($0.data.utf8)) as? [Any] }
                .compactMap { $0.first as? [String: Any] }
                .filter { $0["type"] as? String == "AIMessageChunk" }
                .compactMap { $0["content"] as? String }
            let whole = tokens.joined() == "You said: " + words.joined(separator: " ")
            #expect(whole, "\(tokens.count) tokens, \(tokens.joined().count) characters")
            #expect(frames.last?.event == "end")
            try await cluster.waitUntil("the run completed") { cluster.logLines(containing: "run.completed").count == 2 }
        }
    }

    /// A request refused for a header (a control character in a value, which nginx passes on) gets its 400 whatever
    /// body it carries: the worker reads the body to its end before it answers and closes. Closed with 3 MB unread,
    /// nginx failed sending them and answered 502, or cut the answer (2 tries of 3 by hand).
    @Test func aRequestRefusedForAHeaderGetsItsProblemWhateverItsBody() async throws {
        try await withCluster(workers: 1) { cluster in
            let file = cluster.directory.appendingPathComponent("large-body.json")
            let body = #"{"assistant_id":"echo","input":{"messages":[{"role":"user","content":"hi"}]},"metadata":{"pad":""#
                + String(repeating: "z", count: 3_000_000) + #""}}"#
            try Data(body.utf8).write(to: file)
            for _ in 0..<5 {
                let (status, output) = try LiveCluster.run("/usr/bin/curl", [
                    "-sS", "--cacert", cluster.directory.appendingPathComponent("certs/ca.crt").path, "-X", "POST",
                    cluster.baseURL + "/runs/wait", "-H", "X-Api-Key: \(cluster.apiKey)", "-H", "X-Bad: a\u{1}b",
                    "-H", "Content-Type: application/json", "--data-binary", "@" + file.path, "-w", "\n%{http_code}",
                ])
                #expect(status == 0, "\(output.suffix(300))")
                #expect(output.hasSuffix("\n400"), "\(output.suffix(300))")
                #expect(output.contains("bad_header"), "\(output.suffix(300))")
            }
        }
    }

    /// A worker caps glibc's malloc at two arenas (`System.limitMallocArenas`): left at glibc's 8 a core, an idle
    /// worker had made 15, each keeping freed memory. Counted in the worker's own address space after a burst of
    /// concurrent requests, when the most threads have allocated.
    @Test func aWorkerKeepsOneMallocArenaBesideTheMainHeap() async throws {
        try await withCluster(workers: 1) { cluster in
            try await withThrowingTaskGroup(of: Int.self) { group in
                for index in 0..<48 {
                    group.addTask { try await cluster.fetch(.POST, "/runs/wait", body: runBody(agent: "echo", message: "m\(index)")).status }
                }
                for try await status in group { #expect(status == 200) }
            }
            let pid = cluster.workers[0].processIdentifier
            let maps = try String(contentsOfFile: "/proc/\(pid)/maps", encoding: .utf8)
            #expect(Self.mallocArenas(maps) <= 1, "\(Self.mallocArenas(maps)) arenas beside the main heap")
        }
    }

    /// glibc's arenas other than the main heap, in a /proc/PID/maps text: each is a reservation of 64 MiB aligned
    /// to 64 MiB (HEAP_MAX_SIZE), its used part read-write and the rest inaccessible, both anonymous.
    static func mallocArenas(_ maps: String) -> Int {
        let heapMax = 64 << 20
        let mappings = maps.split(separator: "\n").compactMap { line -> (start: Int, end: Int, perms: Substring)? in
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            guard fields.count == 5, fields[4] == "0", let dash = fields[0].firstIndex(of: "-"),
                  let start = Int(fields[0][..<dash], radix: 16),
                  let end = Int(fields[0][fields[0].index(after: dash)...], radix: 16) else { return nil }
            return (start, end, fields[1])
        }
        return zip(mappings, mappings.dropFirst()).filter { used, rest in
            used.perms == "rw-p" && used.start % heapMax == 0 && used.end - used.start < heapMax
                && rest.perms == "---p" && rest.start == used.end && rest.end >= used.start + heapMax
        }.count
    }

    func okLatencies(_ cluster: LiveCluster, count: Int) async throws -> [Duration] {
        var latencies: [Duration] = []
        for _ in 0..<count {
            let started = ContinuousClock.now
            let response = try await cluster.fetch(.GET, "/ok")
            latencies.append(ContinuousClock.now - started)
            #expect(response.status == 200)
        }
        return latencies
    }

    @Test func badInputsGetProblemsThroughNginx() async throws {
        try await withCluster(arguments: ["--max-body-bytes", "4096"]) { cluster in
            let valid = runBody(agent: "echo", message: "hi")
            let cases: [(String, LiveResponse, Int, String)] = [
                ("malformed", try await cluster.fetch(.POST, "/runs/wait", body: #"{"assistant_id": "#), 400, "malformed_json"),
                ("content type", try await cluster.fetch(.POST, "/runs/wait", body: valid, contentType: "text/plain"), 415, "unsupported_media_type"),
                ("no content type", try await cluster.fetch(.POST, "/runs/wait", body: valid, contentType: nil), 415, "unsupported_media_type"),
                ("utf-8", try await cluster.fetch(.POST, "/runs/wait", bytes: Array(#"{"assistant_id":"echo","input":{"messages":[{"role":"user","content":""#.utf8) + [0xFF, 0xFE] + Array(#""}]}}"#.utf8)), 400, "invalid_utf8"),
                ("missing field", try await cluster.fetch(.POST, "/runs/wait", body: #"{"input":{"messages":[{"role":"user","content":"x"}]}}"#), 422, "validation_error"),
                ("wrong type", try await cluster.fetch(.POST, "/runs/stream", body: #"{"assistant_id":"echo","input":{"messages":[{"role":"user","content":[1]}]}}"#), 422, "validation_error"),
                ("unknown agent", try await cluster.fetch(.POST, "/runs/wait", body: runBody(agent: "ghost", message: "x")), 404, "agent_not_found"),
                ("unknown route", try await cluster.fetch(.GET, "/nothing/here"), 404, "not_found"),
                ("wrong method", try await cluster.fetch(.DELETE, "/runs/wait"), 405, "method_not_allowed"),
                // The run routes take images (20 MiB, --max-media-body-bytes); the others keep --max-body-bytes.
                ("app body limit", try await cluster.fetch(.POST, "/threads", body: #"{"metadata":{"x":""# + String(repeating: "x", count: 5000) + #""}}"#), 413, "body_too_large"),
            ]
            for (name, response, status, code) in cases {
                #expect(response.status == status, "\(name): \(response.status) \(response.body)")
                #expect(response.header("content-type") == "application/problem+json", "\(name)")
                let problem = response.json ?? [:]
                #expect(problem["code"] as? String == code, "\(name): \(response.body)")
                #expect(problem["status"] as? Int == status, "\(name)")
                #expect(problem["title"] is String && problem["detail"] is String && problem["type"] is String, "\(name)")
            }
            #expect(cases[4].1.json?["field"] as? String == "assistant_id")
            #expect(cases[5].1.json?["field"] as? String == "input.messages[0].content[0]")
            #expect(cases[8].1.header("allow") == "POST")

            // nginx's own limit answers in the same format.
            let huge = try await cluster.fetch(.POST, "/threads", body: String(repeating: "x", count: 2 << 20))
            #expect(huge.status == 413)
            #expect(huge.header("content-type") == "application/problem+json")
            // Nothing crashed: both workers still answer.
            for _ in 0..<4 {
                let ok = try await cluster.fetch(.GET, "/ok")
                #expect(ok.status == 200)
            }
            let running = cluster.workers.allSatisfy { $0.isRunning }
            #expect(running)
        }
    }

    @Test func streamsWorkOverHTTP2() async throws {
        try await withCluster(http2: true) { cluster in
            let result = try await cluster.stream("/runs/stream", body: runBody(agent: "ticker", message: "over h2"))
            #expect(result.status == 200)
            #expect(result.tokens.joined() == "You said: over h2")
            #expect(result.events.last == "end")
        }
    }
}
