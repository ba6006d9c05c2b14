import AsyncHTTPClient
import Foundation
import TestSupport
import Testing

/// A cron firing every minute on a schedule clock thirty times as fast as the wall, three workers, one of them killed
/// with -9 while it fires: every scheduled minute makes exactly one run, whichever worker got there, on SQLite and
/// on PostgreSQL.
@Suite(.serialized) struct LiveCronTests {
    @Test(arguments: LiveDatabase.allCases)
    func everyMinuteFiresOnceThroughAWorkerKilledMidway(_ database: LiveDatabase) async throws {
        let postgres = try await database.clusterURL()
        // Every worker reads the same clock: 00:00 on June 1 until a real instant a few seconds from now, then 30 times
        // the wall.
        let anchor = Date().timeIntervalSince1970 + 6
        let clock = "2026-06-01T00:00:00Z@\(anchor)*30"
        try await withCluster(workers: 3, arguments: ["--run-lease-seconds", "2", "--schedule-clock", clock], postgres: postgres) { cluster in
            let made = try await cluster.fetch(.POST, "/runs/crons", body: """
                {"assistant_id":"echo","schedule":"* * * * *","on_run_completed":"keep","metadata":{"suite":"live"},
                 "input":{"messages":[{"role":"user","content":"tick"}]}}
                """)
            #expect(made.status == 200)
            let cronID = try #require(made.json?["cron_id"] as? String)

            // A worker that has fired is killed in the middle of the schedule, and comes back.
            try await cluster.waitUntil("three firings", timeout: .seconds(60)) { cluster.logLines(containing: "cron.fired").count >= 3 }
            let line = try #require(cluster.logLines(containing: "cron.fired").last)
            let victim = try #require((1...3).first { cluster.log($0).contains(line) })
            cluster.signal(worker: victim, SIGKILL)
            _ = try await cluster.waitForExit(worker: victim)
            try await cluster.waitUntil("two more firings without it", timeout: .seconds(60)) {
                cluster.logLines(containing: "cron.fired").count >= 5
            }
            try cluster.startWorker(victim)
            try await cluster.waitUntil("ten firings", timeout: .seconds(90)) { cluster.logLines(containing: "cron.fired").count >= 10 }
            let off = try await cluster.fetch(.PATCH, "/runs/crons/\(cronID)", body: #"{"enabled":false}"#)
            #expect(off.status == 200 && off.json?["enabled"] as? Bool == false)

            // Every firing's run, found by the cron's id on its metadata, ends; each minute has one.
            var runs: [[String: Any]] = []
            try await cluster.waitUntil("the firings' runs to end", timeout: .seconds(90)) {
                let found = try await cluster.fetch(.POST, "/runs/search", body: #"{"metadata":{"cron_id":"\#(cronID)"},"limit":100}"#)
                runs = found.jsonArray ?? []
                return runs.count >= 10 && runs.allSatisfy { !["pending", "running"].contains($0["status"] as? String ?? "") }
            }
            let minutes = runs.compactMap { ($0["metadata"] as? [String: Any])?["cron_scheduled_at"] as? String }.sorted()
            #expect(minutes.count == runs.count, "every run names its minute")
            #expect(Set(minutes).count == minutes.count, "no minute fired twice: \(minutes)")
            #expect(runs.allSatisfy { $0["status"] as? String == "success" }, "\(runs.map { $0["status"] ?? "?" })")
            // No minute was skipped between the first and the last, though a worker died in between.
            let formatter = ISO8601DateFormatter()
            let times = minutes.compactMap { formatter.date(from: $0) }
            let first = try #require(times.first), last = try #require(times.last)
            #expect(times.count == Int(last.timeIntervalSince(first) / 60) + 1, "\(minutes)")
            // The first was the next minute the cron showed when it was made.
            let shown = try #require(made.json?["next_run_date"] as? String)
            #expect(first == ISO8601DateFormatter.fractional.date(from: shown), "\(shown) against \(minutes[0])")
            // One log line per fired minute, across the three workers' logs.
            for minute in minutes { #expect(cluster.logLines(containing: "cron.fired", minute).count == 1, "\(minute)") }
            #expect(Set(runs.compactMap { $0["run_id"] as? String }).count == runs.count)
        }
    }
}

extension ISO8601DateFormatter {
    static var fractional: ISO8601DateFormatter {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter
    }
}
