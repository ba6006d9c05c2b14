import Foundation
import Logging
import NIOCore
import PostgresNIO
import _ConnectionPoolModule
import Synchronization
import Telemetry
import Store

/// The store for several hosts: PostgreSQL through postgres-nio. Every query binds its values through
/// `PostgresQuery` interpolation; decisions that must not race (which run starts, what a busy thread does, who owns
/// a run) take row locks (`FOR UPDATE`, `SKIP LOCKED` for the queue) inside one transaction.
public final class PostgresStore: Sendable {
    let client: PostgresClient
    let logger: Logger
    let now: @Sendable () -> Date
    /// How long an operation waits for a connection of the pool before it is `StoreError.busy`.
    let connectionWait: Duration
    private let running: Task<Void, Never>

    /// `url`: postgres://user[:password]@host[:port]/database, or with `?host=/socket/folder` for a unix socket.
    /// `maxConnections` bounds this process's pool. `connectionWait`: how long an operation may wait for a
    /// connection (all in use, or the server out of reach) before it fails as `StoreError.busy`.
    public init(url: String, maxConnections: Int = 10, connectionWait: Duration = .seconds(10), logger: Logger = Logger(label: "store"),
                now: @escaping @Sendable () -> Date = { Date() }) async throws {
        var configuration = try Self.configuration(url)
        configuration.options.maximumConnections = maxConnections
        configuration.options.minimumConnections = 0
        let client = PostgresClient(configuration: configuration, backgroundLogger: logger)
        self.client = client
        self.logger = logger
        self.now = now
        self.connectionWait = connectionWait
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
        return try await measured(function) { [logger] in
            try await self.leased { connection in try await connection.query(query, logger: logger).collect().map { $0.makeRandomAccess() } }
        }
    }

    func measured<T: Sendable>(_ function: String, _ body: () async throws -> T) async throws -> T {
        let started = ContinuousClock.now
        var failed = false
        defer { Metrics.storeOperation(store: "postgres", operation: Metrics.operationName(function), duration: .now - started, failed: failed) }
        do {
            return try await body()
        } catch let error as StoreError {
            failed = error == .busy
            throw error
        } catch {
            failed = !(error is CancellationError)
            if Self.isOutOfReach(error) {
                logger.warning("store.unreachable", metadata: ["operation": .string(Metrics.operationName(function)), "error": "\(error)"])
                throw StoreError.busy
            }
            throw error
        }
    }

    func execute(_ query: PostgresQuery, on connection: PostgresConnection) async throws {
        _ = try await connection.query(query, logger: logger).collect()
    }

    /// A transaction whose own errors (a busy thread, a missing run) come out as they were thrown.
    func transaction<T: Sendable>(_ function: String = #function, _ body: @escaping @Sendable (PostgresConnection) async throws -> T) async throws -> T {
        try await measured(function) { [logger] in
            do {
                return try await self.leased { connection in
                    try await connection.withTransaction(logger: logger) { connection in try await body(connection) }
                }
            } catch let error as PostgresTransactionError {
                if let thrown = error.closureError, error.beginError == nil, error.rollbackError == nil || thrown is StoreError { throw thrown }
                throw error
            }
        }
    }

    /// Runs `body` on a connection of the pool, waiting at most `connectionWait` for one. While the server is
    /// restarting or out of reach, postgres-nio's pool keeps a request waiting until its circuit breaker opens (a
    /// minute of failed connection attempts), which would hold the client's request, and a worker's thread of
    /// nginx's, that long; past the bound the wait is given up and the operation is `StoreError.busy` (503
    /// `store_busy`, Retry-After). Once `body` has its connection it is not cut short while that connection lives.
    ///
    /// One more way to hang, seen once in six restarts of the server under runs: an event append never returned,
    /// and its run held (and renewed) its lease for ever. Likely (not proven) a query written, without a promise, to
    /// a connection whose pipeline closed in that instant, which nothing then answers. A connection that has closed
    /// can carry nothing more, so an operation still running a second after its connection closed is given up as
    /// `StoreError.busy` too (its task is left to itself).
    func leased<T: Sendable>(_ body: @escaping @Sendable (PostgresConnection) async throws -> T) async throws -> T {
        let lease = Lease<T>()
        let operation = Task { [client] in
            do {
                let value = try await client.withConnection { connection in
                    lease.connected(connection)
                    return try await body(connection)
                }
                lease.end(.success(value))
            } catch {
                lease.end(.failure(error))
            }
        }
        let watching = Task { [connectionWait, logger] in
            do { try await Task.sleep(for: connectionWait) } catch { return }
            // Still without a connection: stop waiting (the pool drops a cancelled request at once).
            guard lease.hasConnection() else { return operation.cancel() }
            while lease.isOpen {
                do { try await Task.sleep(for: .seconds(1)) } catch { return }
                if lease.connectionClosed {
                    do { try await Task.sleep(for: .seconds(1)) } catch { return }
                    if lease.abandon() { logger.warning("store.operation_abandoned", metadata: ["reason": "connection closed under it"]) }
                    return
                }
            }
        }
        defer { watching.cancel() }
        return try await withTaskCancellationHandler {
            try await lease.result()
        } onCancel: {
            operation.cancel()
        }
    }

    /// postgres-nio's ways of saying that the server cannot be reached or went away: the connection closed under a
    /// query (the server stopped or restarted), no connection could be made (refused, the pool's circuit breaker
    /// open), or the server's own "shutting down" and "starting up" (SQLSTATE class 08, 57P01-57P03). None is
    /// about the request: the same operation may succeed a moment later, so it is answered as `StoreError.busy`.
    static func isOutOfReach(_ error: any Error) -> Bool {
        switch error {
        case let error as PSQLError:
            switch error.code {
            case .serverClosedConnection, .clientClosedConnection, .connectionError, .uncleanShutdown, .poolClosed: return true
            case .server:
                guard let state = error.serverInfo?[.sqlState] else { return false }
                return state.hasPrefix("08") || ["57P01", "57P02", "57P03"].contains(state)
            default: return false
            }
        case let error as PostgresTransactionError:
            // BEGIN, the closure's queries, or COMMIT lost the connection. (A COMMIT cut off may have been applied:
            // the one case where "nothing was written" cannot be known; docs/security.md says so.)
            return [error.beginError, error.closureError, error.commitError].contains { $0.map(isOutOfReach) ?? false }
        case let error as ConnectionPoolError:
            return error == .connectionCreationCircuitBreakerTripped || error == .poolShutdown
        case is ChannelError, is IOError:
            return true
        default:
            return false
        }
    }
}

/// One operation of `leased`: whether it has its connection, and its result, set once (by the operation, or by
/// giving it up).
final class Lease<T: Sendable>: Sendable {
    private struct State {
        var connection: PostgresConnection?
        var gaveUp = false
        var result: Result<T, any Error>?
        var waiter: CheckedContinuation<T, any Error>?
    }
    private let state = Mutex(State())

    func connected(_ connection: PostgresConnection) {
        state.withLock { $0.connection = connection }
    }

    /// After the wait for a connection: true if it has one, else the wait is given up.
    func hasConnection() -> Bool {
        state.withLock { state in
            if state.connection == nil { state.gaveUp = true }
            return state.connection != nil
        }
    }

    var isOpen: Bool { state.withLock { $0.result == nil } }

    var connectionClosed: Bool { state.withLock { $0.connection?.isClosed ?? false } }

    /// The operation's own end. An error after the wait was given up is that of the cancelled wait: busy.
    func end(_ result: Result<T, any Error>) {
        resolve { state in
            if case .failure = result, state.gaveUp, state.connection == nil { return .failure(StoreError.busy) }
            return result
        }
    }

    /// Gives the operation up (its connection closed under it); false when it had ended.
    func abandon() -> Bool {
        resolve { _ in .failure(StoreError.busy) }
    }

    @discardableResult
    private func resolve(_ outcome: (State) -> Result<T, any Error>) -> Bool {
        let (waiter, result): (CheckedContinuation<T, any Error>?, Result<T, any Error>?) = state.withLock { state in
            guard state.result == nil else { return (nil, nil) }
            let result = outcome(state)
            state.result = result
            defer { state.waiter = nil }
            return (state.waiter, result)
        }
        guard let result else { return false }
        waiter?.resume(with: result)
        return true
    }

    func result() async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            let ready: Result<T, any Error>? = state.withLock { state in
                if state.result == nil { state.waiter = continuation }
                return state.result
            }
            if let ready { continuation.resume(with: ready) }
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
