import HTTPTypes
import AgentRuntime
import Foundation
import Logging
import Testing
@testable import Handlers
@testable import Telemetry

/// The host-wide `/metrics`: each worker's file, who counts as live, and one family per name in the merged text.
@Suite struct MetricsExpositionTests {
    static func folder() throws -> String {
        let path = NSTemporaryDirectory() + "metrics-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    @Test func everySampleGetsTheWorkerLabelFirst() {
        let text = """
            # TYPE a_total counter
            a_total{route="/runs/wait",method="POST"} 3
            a_total 4
            b{} 1.5
            """
        let labelled = MetricsExposition.labelling(text, worker: "w1")
        #expect(labelled == """
            # TYPE a_total counter
            a_total{worker="w1",route="/runs/wait",method="POST"} 3
            a_total{worker="w1"} 4
            b{worker="w1"} 1.5

            """)
    }

    /// The byte-wise labelling gives what the former String-wise one gave, on random texts of the characters that
    /// matter to it (and a few that do not, non-ASCII among them).
    @Test func labellingOverBytesMatchesTheStringWiseOne() {
        var generator = SystemRandomNumberGenerator()
        let pieces = ["\n", "{", "}", " ", "#", "a", "_", "\"", "=", ",", "1.5", "é", "名", "worker", "\n\n"]
        for _ in 0..<2_000 {
            let text = (0..<Int.random(in: 0...40, using: &generator)).map { _ in pieces.randomElement(using: &generator)! }.joined()
            #expect(MetricsExposition.labelling(text, worker: "w1") == Self.stringWise(text, worker: "w1"), "\(text.debugDescription)")
        }
    }

    /// The former implementation, kept as the reference.
    static func stringWise(_ text: String, worker: String) -> String {
        var out = ""
        let label = "worker=\"\(worker)\""
        for line in text.split(separator: "\n", omittingEmptySubsequences: true) {
            if line.hasPrefix("#") {
                out += line
            } else if let brace = line.firstIndex(of: "{") {
                let rest = line[line.index(after: brace)...]
                out += line[...brace]
                out += label
                out += rest.hasPrefix("}") ? "" : ","
                out += rest
            } else if let space = line.firstIndex(of: " ") {
                out += line[..<space]
                out += "{\(label)}"
                out += line[space...]
            } else {
                continue
            }
            out += "\n"
        }
        return out
    }

    @Test func mergedFamiliesHaveOneTypeLineAndAllWorkersSamples() {
        let one = MetricsExposition.labelling("# TYPE agentfcgi_runs_started_total counter\nagentfcgi_runs_started_total{agent=\"a\"} 1\n# TYPE x gauge\nx 2\n", worker: "1")
        let two = MetricsExposition.labelling("# TYPE x gauge\nx 5\n# TYPE agentfcgi_runs_started_total counter\nagentfcgi_runs_started_total{agent=\"a\"} 7\n", worker: "2")
        let merged = MetricsExposition.merge([one, two])
        let lines = merged.split(separator: "\n").map(String.init)
        #expect(lines.filter { $0 == "# TYPE agentfcgi_runs_started_total counter" }.count == 1)
        #expect(lines.filter { $0 == "# TYPE x gauge" }.count == 1)
        // Samples of one family follow its TYPE line, before the next family's.
        let start = lines.firstIndex(of: "# TYPE agentfcgi_runs_started_total counter")!
        #expect(Array(lines[(start + 1)...(start + 2)]) == [
            "agentfcgi_runs_started_total{worker=\"1\",agent=\"a\"} 1", "agentfcgi_runs_started_total{worker=\"2\",agent=\"a\"} 7",
        ])
        #expect(lines[start - 1].hasPrefix("# HELP agentfcgi_runs_started_total "))
        #expect(lines.contains("x{worker=\"1\"} 2") && lines.contains("x{worker=\"2\"} 5"))
    }

    @Test func aScrapeShowsLiveWorkersOnlyAndADeadOnesFileIsLeftOut() throws {
        let folder = try Self.folder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        var other: MetricsExposition? = try MetricsExposition(directory: folder, worker: "2")
        try other!.publish("# TYPE hits_total counter\nhits_total 5\n")
        let answering = try MetricsExposition(directory: folder, worker: "1")
        var text = answering.gather(own: "# TYPE hits_total counter\nhits_total 3\n", extra: "# TYPE queued gauge\nqueued 4\n")
        #expect(text.contains("hits_total{worker=\"1\"} 3"))
        #expect(text.contains("hits_total{worker=\"2\"} 5"))
        #expect(text.contains("\nqueued 4\n"))
        // The worker is gone (its lock with it): its last file stays on disk but out of the scrape.
        other = nil
        #expect(FileManager.default.fileExists(atPath: folder + "/2.prom"))
        text = answering.gather(own: "# TYPE hits_total counter\nhits_total 3\n")
        #expect(text.contains("hits_total{worker=\"1\"} 3"))
        #expect(!text.contains("worker=\"2\""))
        #expect(other == nil)
    }

    @Test func twoLiveWorkersCannotShareAName() throws {
        let folder = try Self.folder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let first = try MetricsExposition(directory: folder, worker: "same")
        #expect(throws: ExpositionError.self) { try MetricsExposition(directory: folder, worker: "same") }
        _ = first
    }

    @Test func workerNamesAreSafeAsFileNamesAndLabels() {
        #expect(MetricsExposition.safeName("../etc/x\"y") == "w.._etc_x_y")
        #expect(MetricsExposition.safeName("api-1.host_a") == "api-1.host_a")
        #expect(MetricsExposition.safeName("") == "w")
    }

    @Test func tenantsBeyondTheCapCountAsOther() {
        let labels = TenantLabels(limit: 2)
        #expect(labels.label("a") == "a")
        #expect(labels.label("b") == "b")
        #expect(labels.label("c") == "other")
        #expect(labels.label("a") == "a")
        #expect(labels.label("") == "other")
    }

    @Test func processFiguresAreThere() {
        let text = ProcessMetrics.text()
        for name in ["process_cpu_seconds_total", "process_resident_memory_bytes", "process_open_fds", "process_threads", "process_start_time_seconds"] {
            let line = text.split(separator: "\n").first { $0.hasPrefix(name + " ") }
            #expect(line != nil, "\(name) missing")
            #expect(Double(line?.split(separator: " ").last ?? "") ?? -1 > 0, "\(name): \(line ?? "")")
        }
    }

    @Test func withoutABackendTheRouteAnswers404() async throws {
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let catalog = AgentCatalog(agents: [AgentDefinition(id: "echo")])
        let response = await makeApp(Dependencies(catalog: catalog, logger: logger)).respond(to: Request(method: .get, path: "/metrics"))
        #expect(response.status == 404)
        var dependencies = Dependencies(catalog: catalog, logger: logger)
        dependencies.metrics = { "# TYPE up gauge\nup 1\n" }
        let served = await makeApp(dependencies).respond(to: Request(method: .get, path: "/metrics"))
        #expect(served.status == 200)
        #expect(served.headers[.contentType] == "text/plain; version=0.0.4; charset=utf-8")
        #expect(try await bodyText(served) == "# TYPE up gauge\nup 1\n")
    }
}
