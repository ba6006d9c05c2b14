import Foundation
import Testing

/// How a worker comes by its socket: made by itself, from systemd, or from a spawner on fd 0.
@Suite(.serialized) struct LiveListenerTests {
    @Test(arguments: [LiveCluster.Launch.systemdActivation, .standardInput])
    func inheritedSocketServes(launch: LiveCluster.Launch) async throws {
        try await withCluster(launches: [1: launch]) { cluster in
            // Only worker 1 is left, so every answer comes from the inherited socket.
            cluster.signal(worker: 2, SIGKILL)
            _ = try await cluster.waitForExit(worker: 2)
            for _ in 0..<5 {
                let ok = try await cluster.fetch(.GET, "/ok")
                #expect(ok.status == 200)
            }
            let run = try await cluster.fetch(.POST, "/runs/wait", body: runBody(agent: "echo", message: "inherited"))
            #expect(run.status == 200)
            cluster.signal(worker: 1, SIGTERM)
            #expect(try await cluster.waitForExit(worker: 1) == 0)
            #expect(cluster.log(1).contains("listen=inherited"))
            // The socket outlives the worker, as systemd keeps it: a new worker on it serves at once.
            try cluster.startWorker(1)
            for _ in 0..<3 {
                let again = try await cluster.fetch(.GET, "/ok")
                #expect(again.status == 200)
            }
            #expect(!cluster.log(1).contains("accept_failed"))
        }
    }

    @Test func socketHasTheModeAskedForAndIsNotStolen() async throws {
        try await withCluster { cluster in
            var info = stat()
            #expect(stat(cluster.socketPath(1), &info) == 0)
            #expect(info.st_mode & 0o777 == (getuid() == 0 ? 0o660 : 0o666))
            if getuid() == 0 {
                #expect(info.st_gid == getgrnam("www-data").pointee.gr_gid)
            }
            // A second worker on the same path must refuse instead of unlinking the live socket.
            let (status, text) = try LiveCluster.run(LiveCluster.binary, [
                "serve", "--listen", "unix:" + cluster.socketPath(1),
                "--config", cluster.directory.appendingPathComponent("agents.yaml").path,
            ])
            #expect(status != 0)
            #expect(text.contains("already listening"), "\(text)")
            // The launcher (scripts/run.sh's restarts, the benchmark) refuses before it starts a worker there.
            let launched = try LiveCluster.run(LiveCluster.launcher, [
                "worker", "--", LiveCluster.binary, "serve", "--listen", "unix:" + cluster.socketPath(1),
                "--config", cluster.directory.appendingPathComponent("agents.yaml").path,
            ])
            #expect(launched.status != 0)
            #expect(launched.output.contains("another process listens on \(cluster.socketPath(1))"), "\(launched.output)")
            // Worker 1 still owns its socket and answers.
            cluster.signal(worker: 2, SIGKILL)
            _ = try await cluster.waitForExit(worker: 2)
            let ok = try await cluster.fetch(.GET, "/ok")
            #expect(ok.status == 200)
        }
    }

    @Test func configErrorsStopTheWorkerWithAClearMessage() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("agentfcgi-config-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = directory.appendingPathComponent("agents.yaml")
        try "agents:\n  - id: a\n    model: {provider: builtin, token_delay: 5}\n".write(to: file, atomically: true, encoding: .utf8)
        for arguments in [["check-config", file.path], ["serve", "--listen", "unix:" + directory.appendingPathComponent("w.sock").path, "--config", file.path]] {
            let (status, text) = try LiveCluster.run(LiveCluster.binary, arguments)
            #expect(status != 0)
            #expect(text.contains("agents[0].model.token_delay"), "\(text)")
            #expect(text.contains("unknown field"), "\(text)")
        }
    }
}
