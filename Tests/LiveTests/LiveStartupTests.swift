import Foundation
import Testing

/// Workers that start together on a new database, as systemd starts them on the first requests: separate
/// `agentfcgi` processes (not tasks of one process, whose locks they would share), released at the same instant
/// through a FIFO, 20 times in a row. Every one must start and see the same migrations.
@Suite(.serialized) struct LiveStartupTests {
    // 16: with 6 the race this guards against (two first openings switching a new file to WAL) did not show in
    // 30 rounds; with 16, the unfixed store failed 5 rounds of 20.
    static let processes = 16
    static let rounds = 20

    @Test(arguments: LiveDatabase.allCases)
    func workersStartingTogetherOnANewDatabaseAllStart(_ database: LiveDatabase) async throws {
        let directory = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("agentfcgi-start-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        for round in 1...Self.rounds {
            let url: String
            switch database {
            case .sqlite: url = directory.appendingPathComponent("round-\(round)/agentfcgi.sqlite").path
            case .postgres: url = try await postgresDatabase()
            }
            let results = try startTogether(["migrate", "--database", url], in: directory)
            for (index, result) in results.enumerated() {
                #expect(result.status == 0, "round \(round), process \(index): \(result.output)")
            }
            switch database {
            case .sqlite:
                // Each process prints the journal mode and the migrations it found applied after opening.
                let reports = Set(results.map { $0.output.trimmingCharacters(in: .whitespacesAndNewlines) })
                #expect(reports.count == 1, "round \(round): processes disagree: \(reports)")
                let report = try #require(reports.first)
                #expect(report.contains("journal wal"), "round \(round): \(report)")
                #expect(report.contains("0001-threads-runs-events"), "round \(round): \(report)")
            case .postgres:
                let migrations = try LiveCluster.run("/usr/bin/psql", [url, "-At", "-c", "SELECT id FROM schema_migrations ORDER BY id"])
                #expect(migrations.status == 0, "\(migrations.output)")
                #expect(migrations.output.split(separator: "\n").count == PostgresMigrationCount.expected,
                        "round \(round): \(migrations.output)")
            }
            if results.contains(where: { $0.status != 0 }) { break }
        }
    }

    /// Starts `processes` copies of `agentfcgi arguments`, each waiting for one byte from a FIFO before it execs,
    /// then writes all the bytes at once, so that they start together; returns each one's status and output.
    func startTogether(_ arguments: [String], in directory: URL) throws -> [(status: Int32, output: String)] {
        let fifo = directory.appendingPathComponent("go-\(UUID().uuidString.prefix(8))").path
        guard mkfifo(fifo, 0o600) == 0 else { throw LiveError("mkfifo \(fifo) failed: errno \(errno)") }
        defer { unlink(fifo) }
        // Held open for reading and writing: the readers' opens never block, and a byte written before a slow
        // reader gets there waits for it in the pipe.
        let gate = open(fifo, O_RDWR)
        guard gate >= 0 else { throw LiveError("open \(fifo) failed: errno \(errno)") }
        defer { close(gate) }
        var running: [(Process, Pipe)] = []
        for _ in 0..<Self.processes {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/bin/bash")
            // `read -n 1` takes exactly one byte, leaving the others' bytes in the pipe.
            process.arguments = ["-c", #"read -r -n 1 _ < "$0" && exec "$@""#, fifo, LiveCluster.binary] + arguments
            let output = Pipe()
            process.standardOutput = output
            process.standardError = output
            try process.run()
            running.append((process, output))
        }
        // Not a correctness bound: a moment for every shell to block in read, so that more of them start at once.
        usleep(200_000)
        let go = [UInt8](repeating: UInt8(ascii: "g"), count: Self.processes)
        guard write(gate, go, go.count) == go.count else { throw LiveError("write to \(fifo) failed: errno \(errno)") }
        return running.map { process, output in
            let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            process.waitUntilExit()
            return (process.terminationStatus, text)
        }
    }
}

/// How many migrations the PostgreSQL store ships (the test's own count, so that a new migration updates it).
enum PostgresMigrationCount { static let expected = 11 }
