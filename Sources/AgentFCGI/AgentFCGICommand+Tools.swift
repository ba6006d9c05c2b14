import AgentRuntime
import ArgumentParser
import AsyncHTTPClient
import Dispatch
import Foundation
import Handlers
import Runs
import Store
import StorePostgres
import Logging
import Transport

// The commands beside `serve`: keys, migrate, openapi, webhook-secret, check-config, index.

struct Migrate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Create or upgrade the database; workers also do this at start-up, whichever comes first.")

    @Option(help: "The SQLite database file.")
    var database = "/var/lib/agentfcgi/agentfcgi.sqlite"

    func run() throws {
        if database.hasPrefix("postgres") {
            _ = try openStore(database)
            print("\(database.split(separator: "@").last ?? ""): migrations applied")
            return
        }
        do {
            let store = try SQLiteStore(path: database)
            print("\(database): journal \(try store.journalMode()), migrations applied: \(try store.appliedMigrations().joined(separator: ", "))")
        } catch {
            throw MigrateError(description: "\(database): \(error)")
        }
    }
}

struct Keys: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Manage API keys: create (prints the key once), list, revoke. Only a hash of each key is stored.",
        subcommands: [Create.self, List.self, Revoke.self])

    struct Database: ParsableArguments {
        @Option(help: "The SQLite database the workers use.")
        var database = "/var/lib/agentfcgi/agentfcgi.sqlite"

        func open() throws -> any AgentStore {
            do { return try openStore(database) } catch { throw MigrateError(description: "\(database): \(error)") }
        }
    }

    struct Create: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a key and print it (it cannot be shown again).")
        @OptionGroup var store: Database
        @Option(help: "A name for people: who or what uses the key.") var name: String
        @Option(help: "The tenant whose threads and runs the key reaches.") var tenant: String
        @Option(help: "Comma-separated: \(APIKeys.scopes.joined(separator: ", ")).") var scopes: String
        @Option(help: "Runs pending or running at once for this key (429 above).") var maxConcurrentRuns: Int?
        @Option(help: "Tokens per UTC day for this key's runs (429 once spent).") var dailyTokenBudget: Int?
        @Flag(help: "Print only the key (for scripts).") var quiet = false

        func validate() throws {
            let list = scopes.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
            guard !list.isEmpty, list.allSatisfy(APIKeys.scopes.contains) else {
                throw ValidationError("--scopes: one or more of \(APIKeys.scopes.joined(separator: ", "))")
            }
            guard !tenant.isEmpty, tenant.utf8.count <= 64, tenant.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7f }) else {
                throw ValidationError("--tenant: 1 to 64 printable characters without spaces")
            }
            guard (maxConcurrentRuns ?? 1) >= 1, (dailyTokenBudget ?? 1) >= 1 else {
                throw ValidationError("--max-concurrent-runs and --daily-token-budget must be at least 1")
            }
        }

        func run() throws {
            let generated = APIKeys.generate()
            let list = scopes.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
            let record = APIKeyRecord(
                id: generated.id, hash: generated.hash, name: name, tenant: tenant, scopes: list,
                maxConcurrentRuns: maxConcurrentRuns, dailyTokenBudget: dailyTokenBudget, createdAt: Date())
            let store = try self.store.open()
            try blocking { try await store.createKey(record) }
            if quiet {
                print(generated.key)
            } else {
                print("key \(generated.id) for tenant \(tenant), scopes \(list.joined(separator: ",")):")
                print(generated.key)
                print("Store it now: only its hash is kept. Send it as X-Api-Key or Authorization: Bearer.")
            }
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List keys (ids, never secrets).")
        @OptionGroup var store: Database

        func run() throws {
            let store = try self.store.open()
            for key in try blocking({ try await store.keys() }) {
                let limits = [key.maxConcurrentRuns.map { "max_concurrent_runs=\($0)" }, key.dailyTokenBudget.map { "daily_token_budget=\($0)" }]
                    .compactMap { $0 }.joined(separator: " ")
                print([key.id, key.revokedAt == nil ? "active" : "revoked", "tenant=\(key.tenant)", "scopes=\(key.scopes.joined(separator: ","))",
                       "name=\(key.name)", limits].filter { !$0.isEmpty }.joined(separator: "  "))
            }
        }
    }

    struct Revoke: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Revoke a key by its id; workers refuse it from the next request.")
        @OptionGroup var store: Database
        @Argument(help: "The key id (the 12 hex digits after afk_).") var id: String

        func run() throws {
            let store = try self.store.open()
            let id = self.id
            guard try blocking({ try await store.revokeKey(id) }) else { throw MigrateError(description: "no active key with id \(id)") }
            print("revoked \(id)")
        }
    }
}

/// Command-line tools print their results on stdout: the store's own notices stay out of it.
let quietLogger: Logger = {
    var logger = Logger(label: "store") { _ in StreamLogHandler.standardError(label: "store") }
    logger.logLevel = .error
    return logger
}()

/// A SQLite path or a PostgreSQL URL. `busyTimeout`: seconds an operation waits for SQLite's lock or for a
/// PostgreSQL connection before it fails as `StoreError.busy`.
func openStore(_ database: String, connections: Int = 4, busyTimeout: Double = 10, logger: Logger = quietLogger) throws -> any AgentStore {
    if database.hasPrefix("postgres://") || database.hasPrefix("postgresql://") {
        let wait = Duration.milliseconds(Int64(busyTimeout * 1000))
        return try blocking { try await PostgresStore(url: database, maxConnections: connections, connectionWait: wait, logger: logger) }
    }
    return try SQLiteStore(path: database, busyTimeout: busyTimeout)
}

/// Runs async store work from a command-line subcommand (the root command stays synchronous: `serve` sets the
/// signal mask before any thread exists, which an async main would break).
func blocking<T: Sendable>(_ work: @escaping @Sendable () async throws -> T) throws -> T {
    let done = DispatchSemaphore(value: 0)
    let box = ResultBox<T>()
    Task {
        do { box.result = .success(try await work()) } catch { box.result = .failure(error) }
        done.signal()
    }
    done.wait()
    return try box.result!.get()
}

final class ResultBox<T>: @unchecked Sendable {
    var result: Result<T, any Error>?
}

struct OpenAPI: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "openapi",
        abstract: "Print the OpenAPI 3.1 document of the API, with the agents of a configuration.")

    @Option(help: "The agents YAML file.")
    var config = "agents.yaml"

    func run() throws {
        let catalog = try AgentConfigLoader.load(path: config)
        var logger = Logger(label: "openapi")
        logger.logLevel = .critical
        let app = makeApp(Dependencies(catalog: catalog, logger: logger))
        let document = OpenAPIDocument.make(routes: app.router.routes, catalog: catalog, version: agentfcgiVersion)
        print(String(decoding: OpenAPIDocument.encoded(document), as: UTF8.self), terminator: "")
    }
}

struct WebhookSecret: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "webhook-secret",
        abstract: "Print a new webhook signing secret (whsec_...) for the variable that webhooks.secret_env names.")

    func run() throws {
        print(WebhookSigner.newSecret())
    }
}

struct MigrateError: Error, CustomStringConvertible {
    var description: String
}

struct CheckConfig: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check-config", abstract: "Validate an agents YAML file; print the problem and exit 1 if it is invalid.")

    @Argument(help: "The agents YAML file.")
    var file: String

    func run() throws {
        do {
            let catalog = try AgentConfigLoader.load(path: file)
            print("\(file): OK, \(catalog.agents.count) agent(s): \(catalog.agents.map(\.id).joined(separator: ", "))")
            for agent in catalog.agents where !agent.toolSources.isEmpty {
                // Checked here: names, commands, URLs, environment variables; the servers themselves are not started.
                print("  \(agent.id): MCP sources \(agent.toolSources.map(\.name).joined(separator: ", "))")
            }
        } catch {
            System.writeStandardError("\(error)\n")
            throw ExitCode(1)
        }
    }
}

struct Index: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Build the knowledge_search indexes that the config gives an index_path; workers read them at start-up.")

    @Option(help: "The agents YAML file.")
    var config = "agents.yaml"

    func run() throws {
        let catalog: AgentCatalog
        do {
            catalog = try AgentConfigLoader.load(path: config)
        } catch {
            System.writeStandardError("\(error)\n")
            throw ExitCode(1)
        }
        var built = 0
        for agent in catalog.agents {
            for tool in agent.tools {
                guard let search = tool.tool as? KnowledgeSearchTool, let path = search.indexPath else { continue }
                let (files, passages) = try search.writeIndex()
                print("\(agent.id): \(files) file(s), \(passages) passage(s) from \(search.folder) -> \(path)")
                built += 1
            }
        }
        if built == 0 {
            print("no knowledge_search tool with an index_path in \(config); workers index their folders in memory at start-up")
        }
    }
}
