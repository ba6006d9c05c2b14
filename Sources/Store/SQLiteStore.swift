import Foundation
import GRDB

/// The embedded store: one SQLite file shared by every worker process of a host. WAL lets readers run beside
/// the one writer; the busy timeout makes a worker wait for another's write instead of failing; writes take
/// the lock at BEGIN (IMMEDIATE, GRDB's default), so a read-then-write decision cannot race another process.
public final class SQLiteStore: Sendable {
    let pool: DatabasePool
    let now: @Sendable () -> Date

    /// Opens (creating if needed) and migrates the database at `path`.
    public init(path: String, busyTimeout: TimeInterval = 10, now: @escaping @Sendable () -> Date = { Date() }) throws {
        var configuration = Configuration()
        configuration.busyMode = .timeout(busyTimeout)
        configuration.foreignKeysEnabled = true
        configuration.prepareDatabase { db in
            // Durable at each checkpoint rather than each commit: a power cut may lose the last events, never corrupt.
            try db.execute(sql: "PRAGMA synchronous = NORMAL")
        }
        let directory = (path as NSString).deletingLastPathComponent
        if !directory.isEmpty {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        }
        pool = try DatabasePool(path: path, configuration: configuration)
        self.now = now
        try Self.migrate(pool, lockPath: path + ".migrate-lock")
    }

    /// Applies pending migrations under a file lock, so that workers starting together migrate once.
    static func migrate(_ pool: DatabasePool, lockPath: String) throws {
        let fd = open(lockPath, O_CREAT | O_RDWR | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw SQLiteStoreError.lockFile(lockPath, errno) }
        defer { close(fd) }
        while flock(fd, LOCK_EX) != 0 {
            guard errno == EINTR else { throw SQLiteStoreError.lockFile(lockPath, errno) }
        }
        defer { flock(fd, LOCK_UN) }
        try SQLiteMigrations.migrator.migrate(pool)
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
