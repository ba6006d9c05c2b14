import AsyncHTTPClient
import NIOHTTP1
import Foundation
import Testing

@Suite(.serialized) struct LiveSecurityTests {
    func newKey(_ cluster: LiveCluster, tenant: String, scopes: String, extra: [String] = []) throws -> String {
        let created = try LiveCluster.run(LiveCluster.binary, ["keys", "create", "--database", cluster.databasePath, "--name", "t",
                                                               "--tenant", tenant, "--scopes", scopes, "--quiet"] + extra)
        #expect(created.status == 0, "\(created.output)")
        return created.output.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// A stateless stream whose client leaves before the answer's head is sent gives its `max_concurrent_runs` place
    /// back: ten such requests on a key with a limit of 2, straight on the worker's socket (nginx would hide the
    /// moment), and the key still runs.
    @Test func streamsLeftBeforeTheirHeadGiveTheirPlaceBack() async throws {
        try await withCluster(workers: 1) { cluster in
            let key = try newKey(cluster, tenant: "live", scopes: "runs:write", extra: ["--max-concurrent-runs", "2"])
            for index in 0..<10 {
                let client = try FastCGIClient(socketPath: cluster.socketPath(1))
                try client.send(method: "POST", uri: "/runs/stream", headers: ["X-Api-Key": key],
                                body: runBody(agent: "echo", message: "gone \(index)"))
                // The client closes here, before the worker answers.
            }
            var last = 0
            try await cluster.waitUntil("the key runs again", timeout: .seconds(15)) {
                last = try await cluster.fetch(.POST, "/runs/wait", body: runBody(agent: "echo", message: "still mine"),
                                               headers: [("X-Api-Key", key)]).status
                return last == 200
            }
            #expect(last == 200)
            // And both of its places are free: two slow streams at once are admitted.
            async let first = cluster.fetch(.POST, "/runs/wait", body: runBody(agent: "echo", message: "one"), headers: [("X-Api-Key", key)])
            async let second = cluster.fetch(.POST, "/runs/wait", body: runBody(agent: "echo", message: "two"), headers: [("X-Api-Key", key)])
            #expect(try await [first.status, second.status] == [200, 200])
        }
    }

    /// A key's `max_concurrent_runs` is one count on every worker: two slow stateless streams on each of three
    /// workers' own sockets, and two of the six get in; a stored run waits for them too. When a worker holding a
    /// place is killed, its place lapses within a lease and the key runs again.
    @Test func aKeysRunLimitHoldsAcrossWorkers() async throws {
        try await withCluster(workers: 3) { cluster in
            let key = try newKey(cluster, tenant: "live", scopes: "runs:write", extra: ["--max-concurrent-runs", "2"])
            var admitted: [(worker: Int, client: FastCGIClient)] = []
            var refused = 0
            for worker in 1...3 {
                for index in 0..<2 {
                    let client = try FastCGIClient(socketPath: cluster.socketPath(worker))
                    try client.send(method: "POST", uri: "/runs/stream", headers: ["X-Api-Key": key],
                                    body: runBody(agent: "slow", message: "held \(worker) \(index) one two three four five six seven eight"))
                    while !String(decoding: client.stdout, as: UTF8.self).contains("\r\n\r\n"), try client.read(limit: 65_536) > 0 {}
                    let head = String(decoding: client.stdout, as: UTF8.self)
                    if head.hasPrefix("Status: 429") {
                        try client.readToEnd()
                        let answer = String(decoding: client.stdout, as: UTF8.self)
                        #expect(answer.contains("concurrent_runs_exceeded"), "\(answer.prefix(300))")
                        refused += 1
                    } else {
                        #expect(!head.hasPrefix("Status:") || head.hasPrefix("Status: 200"), "\(head.prefix(300))")
                        admitted.append((worker, client))
                    }
                }
            }
            #expect(admitted.count == 2, "admitted on workers \(admitted.map(\.worker))")
            #expect(refused == 4)
            let stored = try await cluster.fetch(.POST, "/runs", body: runBody(agent: "echo", message: "queued"), headers: [("X-Api-Key", key)])
            #expect(stored.status == 429, "\(stored.status) \(stored.body.prefix(200))")
            // The OpenAI and MCP surfaces count against the same places.
            let chat = try await cluster.fetch(.POST, "/v1/chat/completions", body: #"{"model":"echo","messages":[{"role":"user","content":"hi"}]}"#,
                                               headers: [("X-Api-Key", key)])
            #expect(chat.status == 429 && chat.body.contains("concurrent_runs_exceeded"), "\(chat.status) \(chat.body.prefix(200))")
            let call = try await cluster.fetch(.POST, "/mcp", body: #"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"message":"hi"}}}"#,
                                               headers: [("X-Api-Key", key), ("Accept", "application/json, text/event-stream")])
            #expect(call.body.contains("concurrent_runs_exceeded") || call.body.contains("max_concurrent_runs"), "\(call.status) \(call.body.prefix(300))")

            // The worker of the first admitted stream dies with its place held: the place lapses, the key runs again.
            guard let holder = admitted.first?.worker else { return }
            cluster.signal(worker: holder, SIGKILL)
            _ = try await cluster.waitForExit(worker: holder)
            for other in admitted where other.worker != holder { try other.client.readToEnd() }
            let killed = ContinuousClock.now
            var last = 0
            try await cluster.waitUntil("the dead worker's place lapses", timeout: .seconds(30)) {
                last = try await cluster.fetch(.POST, "/runs/wait", body: runBody(agent: "echo", message: "again"), headers: [("X-Api-Key", key)]).status
                return last == 200
            }
            #expect(last == 200)
            #expect(ContinuousClock.now - killed < .seconds(25))
        }
    }

    /// A key's streams, waits and joins are capped on the host (nginx's KEY_STREAMS), whichever worker holds them:
    /// with 3 open, a fourth on any surface that waits for a run is a 429 in that surface's shape; the key's short
    /// requests and another key's runs go on, and the key runs again once its streams end.
    @Test func aKeysStreamsAndWaitsAreCappedOnTheHost() async throws {
        try await withCluster(workers: 2, nginx: ["KEY_STREAMS": "3"]) { cluster in
            let other = try newKey(cluster, tenant: "live", scopes: "runs:write")
            let slow = runBody(agent: "slow", message: "one two three four five six seven eight nine ten")
            let open = try (0..<3).map { _ in try cluster.curlStream("/runs/stream", body: slow) }
            defer { for curl in open { curl.kill() } }
            try await cluster.waitUntil("3 streams open") { cluster.logLines(containing: "run.started").count == 3 }
            let echo = runBody(agent: "echo", message: "hi")
            let chat = #"{"model":"echo","messages":[{"role":"user","content":"hi"}]}"#
            let mcp = #"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#
            let refused: [(HTTPMethod, String, String?)] = [
                (.POST, "/runs/stream", echo), (.POST, "/threads/t1/runs/stream/", echo), (.POST, "/runs/wait", echo),
                (.POST, "/threads/t1/runs/wait", echo), (.GET, "/runs/r1/wait", nil), (.GET, "/threads/t1/runs/r1/join", nil),
                (.GET, "/threads/t1/runs/r1/stream", nil), (.GET, "/threads/t1/stream", nil), (.POST, "/v1/chat/completions", chat),
                (.POST, "/v1/responses", #"{"model":"echo","input":"hi"}"#), (.POST, "/mcp", mcp),
            ]
            for (method, path, body) in refused {
                let answer = try await cluster.fetch(method, path, body: body, headers: [("Accept", "application/json, text/event-stream")])
                #expect(answer.status == 429, "\(method) \(path): \(answer.status) \(answer.body.prefix(200))")
                let shape = path.hasPrefix("/v1/") ? #""type":"rate_limit_error""# : #""code":"rate_limited""#
                #expect(answer.body.contains(shape), "\(path): \(answer.body.prefix(200))")
            }
            #expect(try await cluster.fetch(.GET, "/threads/t1").status == 404)
            #expect(try await cluster.fetch(.POST, "/runs/wait", body: echo, headers: [("X-Api-Key", other)]).status == 200)
            for curl in open { curl.kill() }
            var last = 0
            try await cluster.waitUntil("the key's streams are free again") {
                last = try await cluster.fetch(.POST, "/runs/wait", body: echo).status
                return last == 200
            }
            #expect(last == 200)
        }
    }

    /// nginx's cap on open streams per address holds for every spelling the app routes: a trailing slash reached the
    /// stream routes through `location /`, which has no cap (and the 1 MiB body limit instead of the run routes' 20).
    @Test func theStreamCapHoldsWithATrailingSlash() async throws {
        try await withCluster(workers: 1, nginx: ["MAX_STREAMS": "2"]) { cluster in
            let slow = runBody(agent: "slow", message: "one two three four five six seven eight nine ten")
            let open = try ["/runs/stream/", "/runs/stream//"].map { try cluster.curlStream($0, body: slow) }
            defer { for curl in open { curl.kill() } }
            try await cluster.waitUntil("2 streams open") { cluster.logLines(containing: "run.started").count == 2 }
            for path in ["/runs/stream", "/runs/stream/", "/threads/x/runs/stream/", "/runs/wait/"] {
                let third = try await cluster.fetch(.POST, path, body: slow)
                let capped = path.hasSuffix("/wait/") ? third.status != 429 : third.status == 429
                #expect(capped, "\(path): \(third.status)")
            }
            // The run routes take big bodies whichever way they are spelled: nginx's 1 MiB limit is not theirs.
            let image = runBody(agent: "echo", message: String(repeating: "x", count: 1_500_000))
            #expect(try await cluster.fetch(.POST, "/runs/wait/", body: image).status != 413)
        }
    }

    /// Knowing a key's public id is not enough to use up its rate: requests with the id and a wrong secret fill
    /// a bucket of their own (and get 401), and the key's owner still gets its three answers.
    @Test func aWrongSecretCannotDrainAKeysRate() async throws {
        try await withCluster(workers: 1, nginx: ["RATE": "10000r/s", "KEY_RATE": "1r/m", "BURST": "2"]) { cluster in
            let victim = try newKey(cluster, tenant: "live", scopes: "agents:read")
            let id = String(victim.dropFirst(4).prefix(12))
            var forged: [Int] = []
            for attempt in 0..<12 {
                let wrong = "afk_\(id)_" + String(repeating: Array("Zz9-")[attempt % 4], count: 43)
                forged.append(try await cluster.fetch(.POST, "/agents/search", body: "{}", headers: [("X-Api-Key", wrong)]).status)
            }
            #expect(forged.allSatisfy { $0 == 401 || $0 == 429 } && forged.contains(401), "\(forged)")
            var own: [Int] = []
            for _ in 0..<3 {
                own.append(try await cluster.fetch(.POST, "/agents/search", body: "{}", headers: [("X-Api-Key", victim)]).status)
            }
            #expect(own == [200, 200, 200], "\(own)")
            // The log still names the key by its id only.
            let log = try String(contentsOf: cluster.directory.appendingPathComponent("nginx/logs/access.log"), encoding: .utf8)
            #expect(log.contains("key=\(id)") && !log.contains(String(victim.suffix(43).prefix(8))))
        }
    }

    /// nginx limits each key on its own (by the key's public id), with a 429 problem and Retry-After;
    /// another key is not slowed by it. One request a minute with a burst of 2: a fresh key gets exactly 3 answers
    /// and then 429s, however slowly a busy machine sends the 12 (the first minute is not over before they are).
    @Test func nginxRateLimitsEachKeySeparately() async throws {
        try await withCluster(workers: 1, nginx: ["RATE": "10000r/s", "KEY_RATE": "1r/m", "BURST": "2"]) { cluster in
            let limitedKey = try newKey(cluster, tenant: "live", scopes: "agents:read")
            let other = try newKey(cluster, tenant: "live", scopes: "agents:read")
            var statuses: [Int] = []
            var limited: LiveResponse?
            for _ in 0..<12 {
                let response = try await cluster.fetch(.POST, "/agents/search", body: "{}", headers: [("X-Api-Key", limitedKey)])
                statuses.append(response.status)
                if response.status == 429 { limited = response }
            }
            #expect(statuses == [200, 200, 200] + Array(repeating: 429, count: 9), "\(statuses)")
            let problem = try #require(limited)
            #expect(problem.header("content-type")?.hasPrefix("application/problem+json") == true)
            #expect(problem.json?["code"] as? String == "rate_limited")
            #expect(Int(problem.header("retry-after") ?? "") ?? 0 >= 1)
            // The other key has its own bucket.
            let fresh = try await cluster.fetch(.POST, "/agents/search", body: "{}", headers: [("X-Api-Key", other)])
            #expect(fresh.status == 200)
            // nginx's log has the key's id, never the key.
            let log = try String(contentsOf: cluster.directory.appendingPathComponent("nginx/logs/access.log"), encoding: .utf8)
            #expect(!log.contains(cluster.apiKey) && !log.contains(other) && !log.contains(limitedKey))
            #expect(log.contains("key=" + String(limitedKey.dropFirst(4).prefix(12))))
        }
    }

    @Test func keysAreCheckedByEveryWorkerAndRevocationIsImmediate() async throws {
        try await withCluster(workers: 2) { cluster in
            let key = try newKey(cluster, tenant: "live", scopes: "threads:read,threads:write")
            #expect(try await cluster.fetch(.POST, "/threads", body: "{}", headers: [("X-Api-Key", key)]).status == 200)
            #expect(try await cluster.fetch(.POST, "/runs/wait", body: runBody(agent: "echo", message: "x"), headers: [("X-Api-Key", key)]).status == 403)
            let noKey = try await cluster.fetch(.GET, "/threads/x", headers: [("X-Api-Key", "")])
            #expect(noKey.status == 401)
            #expect(noKey.header("www-authenticate")?.hasPrefix("Bearer") == true)
            let id = String(key.dropFirst(4).prefix(12))
            let revoked = try LiveCluster.run(LiveCluster.binary, ["keys", "revoke", "--database", cluster.databasePath, id])
            #expect(revoked.status == 0)
            for _ in 0..<4 {
                #expect(try await cluster.fetch(.POST, "/threads", body: "{}", headers: [("X-Api-Key", key)]).status == 401)
            }
            let listed = try LiveCluster.run(LiveCluster.binary, ["keys", "list", "--database", cluster.databasePath])
            #expect(listed.output.contains("\(id)  revoked"))
            #expect(!listed.output.contains(key))
            // Errors say nothing of the inside: a 500 would carry only the request id (none happened).
            #expect(cluster.logLines(containing: "request.failed").isEmpty)
        }
    }
}
