import Foundation
import GRDB
import Synchronization
import Telemetry

/// The embedded store: one SQLite file shared by every worker process of a host. WAL lets readers run beside
/// the one writer; the busy timeout makes a worker wait for another's write instead of failing; writes take
/// the lock at BEGIN (IMMEDIATE, GRDB's default), so a read-then-write decision cannot race another process.
public final class SQLiteStore: Sendable {
    let pool: DatabasePool
    let now: @Sendable () -> Date
    /// Notices to the other workers of the host (`StoreNotifying`).
    let bells: HostBells?
    /// The connection of `readingHere`, opened at its first use (a worker without keys never makes one).
    private let lookups: Mutex<DatabaseQueue?> = Mutex(nil)
    private let path: String
    private let busyTimeout: TimeInterval
    /// Sees the SQL of every statement any connection runs: tests check the query plans of all of them.
    private let onStatement: (@Sendable (String) -> Void)?

    /// Opens (creating if needed) and migrates the database at `path`.
    public convenience init(path: String, busyTimeout: TimeInterval = 10, now: @escaping @Sendable () -> Date = { Date() }) throws {
        try self.init(path: path, busyTimeout: busyTimeout, now: now, onStatement: nil)
    }

    init(path: String, busyTimeout: TimeInterval = 10, now: @escaping @Sendable () -> Date = { Date() },
         onStatement: (@Sendable (String) -> Void)?) throws {
        var configuration = Configuration()
        configuration.busyMode = .timeout(busyTimeout)
        configuration.foreignKeysEnabled = true
        configuration.prepareDatabase { db in
            // Durable at each checkpoint rather than each commit: a power cut may lose the last events, never corrupt.
            try db.execute(sql: "PRAGMA synchronous = NORMAL")
            // The log is copied back into the file (a checkpoint, inside the commit that crosses this many pages) ten
            // times less often than SQLite's default of 1,000: a page changed by every run (the runs table's last leaf,
            // its indexes') is copied once per checkpoint, not once per run. 1.2x stored runs a second and a quarter
            // off the median; the request whose commit checkpoints waits longer (p99 40 -> 60 ms at saturation), and
            // the log holds up to ~40 MiB (bench/README, "Whole-table reads, a checkpoint every 10,000 pages, ...").
            try db.execute(sql: "PRAGMA wal_autocheckpoint = 10000")
            Self.trace(db, onStatement)
        }
        let directory = (path as NSString).deletingLastPathComponent
        if !directory.isEmpty {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        }
        // Opening is under the lock too, not only migrating: the first opening switches a new file to WAL, which
        // needs an exclusive lock that SQLite does not wait for (no busy handler), so workers racing there fail.
        pool = try Self.underFileLock(path + ".migrate-lock") {
            let pool = try DatabasePool(path: path, configuration: configuration)
            try SQLiteMigrations.migrator.migrate(pool)
            return pool
        }
        self.now = now
        self.path = path
        self.busyTimeout = busyTimeout
        self.onStatement = onStatement
        bells = HostBells(beside: path)
    }

    private static func trace(_ db: Database, _ onStatement: (@Sendable (String) -> Void)?) {
        guard let onStatement else { return }
        db.trace(options: .statement) { event in
            if case .statement(let statement) = event { onStatement(statement.sql) }
        }
    }

    /// Runs `body` holding an exclusive `flock` on `lockPath`: one process of a host at a time, whichever starts.
    /// The kernel drops the lock if the holder dies, so a worker killed mid-migration blocks no one.
    static func underFileLock<T>(_ lockPath: String, _ body: () throws -> T) throws -> T {
        let fd = open(lockPath, O_CREAT | O_RDWR | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw SQLiteStoreError.lockFile(lockPath, errno) }
        defer { close(fd) }
        while flock(fd, LOCK_EX) != 0 {
            let code = errno
            guard code == EINTR else { throw SQLiteStoreError.lockFile(lockPath, code) }
        }
        defer { flock(fd, LOCK_UN) }
        return try body()
    }

    /// GRDB's write and read, with a lock the busy timeout did not get turned into `StoreError.busy`, which
    /// callers answer with a 503 to retry rather than a 500, and a full disk into `StoreError.full`.
    func writing<T: Sendable>(_ function: String = #function, _ updates: @Sendable (Database) throws -> T) async throws -> T {
        let started = ContinuousClock.now
        // Failed: the database's own errors (busy, I/O), not a refusal the operation decided (a busy thread, say).
        var failed = false
        defer { Metrics.storeOperation(store: "sqlite", operation: Metrics.operationName(function), duration: .now - started, failed: failed) }
        do {
            return try await pool.write(updates)
        } catch let error as DatabaseError {
            failed = true
            throw Self.storeError(error)
        }
    }

    func reading<T: Sendable>(_ function: String = #function, _ value: @Sendable (Database) throws -> T) async throws -> T {
        let started = ContinuousClock.now
        // Failed: the database's own errors (busy, I/O), not a refusal the operation decided (a busy thread, say).
        var failed = false
        defer { Metrics.storeOperation(store: "sqlite", operation: Metrics.operationName(function), duration: .now - started, failed: failed) }
        do {
            return try await pool.read(value)
        } catch let error as DatabaseError {
            failed = true
            throw Self.storeError(error)
        }
    }

    /// `reading` on the calling thread, without the hop to GRDB's reader queue and back: for the short indexed look-ups
    /// every request makes (its API key), where the two thread hand-offs cost more than the read. On a connection of
    /// its own, never the pool's: a synchronous read from the pool waits, on a thread that runs tasks, for a reader
    /// that an async read holds until its task resumes on one of those same few threads, and with all of them
    /// waiting nothing resumes (the worker stopped answering under stored runs). This connection is only ever used
    /// synchronously, so whoever waits for it waits for a read that is running. One statement, no transaction: it
    /// reads the last commit, as a reader of the pool would.
    func readingHere<T: Sendable>(_ function: String = #function, _ value: (Database) throws -> T) throws -> T {
        let started = ContinuousClock.now
        var failed = false
        defer { Metrics.storeOperation(store: "sqlite", operation: Metrics.operationName(function), duration: .now - started, failed: failed) }
        do {
            return try lookupConnection().inDatabase(value)
        } catch let error as DatabaseError {
            failed = true
            throw Self.storeError(error)
        }
    }

    private func lookupConnection() throws -> DatabaseQueue {
        try lookups.withLock { queue in
            if let queue { return queue }
            var configuration = Configuration()
            configuration.busyMode = .timeout(busyTimeout)
            configuration.readonly = true
            let onStatement = onStatement
            configuration.prepareDatabase { db in Self.trace(db, onStatement) }
            let opened = try DatabaseQueue(path: path, configuration: configuration)
            queue = opened
            return opened
        }
    }

    /// A lock not had in time is `busy` (503, retry shortly); a full disk is `full` (507): SQLite rolled the
    /// transaction back, so the file is as it was, and the next write succeeds once there is room.
    static func storeError(_ error: DatabaseError) -> any Error {
        if isBusy(error) { return StoreError.busy }
        if error.resultCode == .SQLITE_FULL { return StoreError.full }
        return error
    }

    static func isBusy(_ error: DatabaseError) -> Bool {
        error.resultCode == .SQLITE_BUSY || error.resultCode == .SQLITE_LOCKED
    }

    /// Applied migration ids, oldest first.
    public func appliedMigrations() throws -> [String] {
        try pool.read { db in try SQLiteMigrations.migrator.appliedMigrations(db) }
    }
}

enum SQLiteStoreError: Error, CustomStringConvertible {
    case lockFile(String, Int32)

    var description: String {
        switch self {
        case .lockFile(let path, let code): "cannot lock \(path): \(String(cString: strerror(code)))"
        }
    }
}

extension Date {
    var milliseconds: Int64 { Int64((timeIntervalSince1970 * 1000).rounded()) }
    init(milliseconds: Int64) { self.init(timeIntervalSince1970: Double(milliseconds) / 1000) }
}

extension Duration {
    var storedMilliseconds: Int64 {
        components.seconds * 1000 + components.attoseconds / 1_000_000_000_000_000
    }
}

extension SQLiteStore {
    /// For tests and `agentfcgi migrate`: the journal mode actually in force.
    public func journalMode() throws -> String {
        try pool.read { db in try String.fetchOne(db, sql: "PRAGMA journal_mode") ?? "" }
    }
}

extension Database {
    /// Runs one statement compiled once per connection and kept (GRDB's statement cache). The store's SQL is fixed
    /// text; compiling it again for every call (SQLite's parser and GRDB's authorizer) was a tenth of a stored run's
    /// CPU. Only for fixed text: the cache keeps every distinct SQL it is given.
    func run(_ sql: String, arguments: StatementArguments = StatementArguments()) throws {
        try cachedStatement(sql: sql).execute(arguments: arguments)
    }

    /// A statement for `fetchOne`/`fetchAll`, compiled once per connection (as `run`).
    func cached(_ sql: String) throws -> Statement {
        try cachedStatement(sql: sql)
    }
}
