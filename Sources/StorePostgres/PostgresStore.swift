import Foundation
import Logging
import NIOCore
import PostgresNIO
import Telemetry
import Store

/// The store for several hosts: PostgreSQL through postgres-nio. Every query binds its values through
/// `PostgresQuery` interpolation; decisions that must not race (which run starts, what a busy thread does, who owns
/// a run) take row locks (`FOR UPDATE`, `SKIP LOCKED` for the queue) inside one transaction.
public final class PostgresStore: Sendable {
    let client: PostgresClient
    let logger: Logger
    let now: @Sendable () -> Date
    private let running: Task<Void, Never>

    /// `url`: postgres://user[:password]@host[:port]/database, or with `?host=/socket/folder` for a unix socket.
    /// `maxConnections` bounds this process's pool.
    public init(url: String, maxConnections: Int = 10, logger: Logger = Logger(label: "store"),
                now: @escaping @Sendable () -> Date = { Date() }) async throws {
        var configuration = try Self.configuration(url)
        configuration.options.maximumConnections = maxConnections
        configuration.options.minimumConnections = 0
        let client = PostgresClient(configuration: configuration, backgroundLogger: logger)
        self.client = client
        self.logger = logger
        self.now = now
        // The pool serves leases only once run() is going: start it, and migrate once its task has begun.
        let (started, signal) = AsyncStream<Void>.makeStream()
        running = Task {
            signal.finish()
            await client.run()
        }
        for await _ in started {}
        await Task.yield()
        try await PostgresMigrations.migrate(client, logger: logger)
    }

    deinit { running.cancel() }

    /// Stops the pool's connections.
    public func shutdown() { running.cancel() }

    static func configuration(_ text: String) throws -> PostgresClient.Configuration {
        guard let url = URLComponents(string: text), ["postgres", "postgresql"].contains(url.scheme ?? "") else {
            throw PostgresStoreError.badURL("expected postgres://user@host:port/database")
        }
        let user = url.user ?? "postgres"
        let database = url.path.split(separator: "/").first.map(String.init)
        if let socketFolder = url.queryItems?.first(where: { $0.name == "host" })?.value, socketFolder.hasPrefix("/") {
            let port = url.port ?? 5432
            return PostgresClient.Configuration(unixSocketPath: "\(socketFolder)/.s.PGSQL.\(port)", username: user,
                                                password: url.password, database: database)
        }
        guard let host = url.host, !host.isEmpty else { throw PostgresStoreError.badURL("no host") }
        let sslmode = url.queryItems?.first(where: { $0.name == "sslmode" })?.value ?? "prefer"
        let tls: PostgresClient.Configuration.TLS = switch sslmode {
        case "disable": .disable
        case "require", "verify-full": .require(.makeClientConfiguration())
        default: .prefer(.makeClientConfiguration())
        }
        return PostgresClient.Configuration(host: host, port: url.port ?? 5432, username: user, password: url.password,
                                            database: database, tls: tls)
    }

    func rows(_ query: PostgresQuery, on connection: PostgresConnection? = nil, _ function: String = #function) async throws -> [PostgresRandomAccessRow] {
        // Within a transaction the transaction is the operation measured.
        guard connection == nil else { return try await connection!.query(query, logger: logger).collect().map { $0.makeRandomAccess() } }
        return try await measured(function) { [client, logger] in
            try await client.query(query, logger: logger).collect().map { $0.makeRandomAccess() }
        }
    }

    func measured<T: Sendable>(_ function: String, _ body: () async throws -> T) async throws -> T {
        let started = ContinuousClock.now
        var failed = false
        defer { Metrics.storeOperation(store: "postgres", operation: Metrics.operationName(function), duration: .now - started, failed: failed) }
        do {
            return try await body()
        } catch let error as StoreError {
            throw error
        } catch {
            failed = !(error is CancellationError)
            throw error
        }
    }

    func execute(_ query: PostgresQuery, on connection: PostgresConnection) async throws {
        _ = try await connection.query(query, logger: logger).collect()
    }

    /// A transaction whose own errors (a busy thread, a missing run) come out as they were thrown.
    func transaction<T: Sendable>(_ function: String = #function, _ body: @Sendable (PostgresConnection) async throws -> T) async throws -> T {
        try await measured(function) { [client, logger] in
            do {
                return try await client.withTransaction(logger: logger) { connection in try await body(connection) }
            } catch let error as PostgresTransactionError {
                if let thrown = error.closureError, error.beginError == nil, error.rollbackError == nil || thrown is StoreError { throw thrown }
                throw error
            }
        }
    }
}

public enum PostgresStoreError: Error, CustomStringConvertible {
    case badURL(String)

    public var description: String {
        switch self { case .badURL(let reason): "not a PostgreSQL URL: \(reason)" }
    }
}

extension PostgresRandomAccessRow {
    func string(_ column: String) throws -> String { try self[column].decode(String.self) }
    func optionalString(_ column: String) throws -> String? { try self[column].decode(String?.self) }
    func int(_ column: String) throws -> Int { Int(try self[column].decode(Int64.self)) }
    func int64(_ column: String) throws -> Int64 { try self[column].decode(Int64.self) }
    func optionalInt64(_ column: String) throws -> Int64? { try self[column].decode(Int64?.self) }
    func optionalInt(_ column: String) throws -> Int? { try self[column].decode(Int64?.self).map(Int.init) }
    func bool(_ column: String) throws -> Bool { try self[column].decode(Bool.self) }
    func bytes(_ column: String) throws -> [UInt8] {
        var buffer = try self[column].decode(ByteBuffer.self)
        return buffer.readBytes(length: buffer.readableBytes) ?? []
    }
}

extension Date {
    var ms: Int64 { Int64((timeIntervalSince1970 * 1000).rounded()) }
    init(ms: Int64) { self.init(timeIntervalSince1970: Double(ms) / 1000) }
}

extension Duration {
    var ms: Int64 { components.seconds * 1000 + components.attoseconds / 1_000_000_000_000_000 }
}
