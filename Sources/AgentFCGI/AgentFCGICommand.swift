import AgentRuntime
import ArgumentParser
import AsyncHTTPClient
import Foundation
import Glibc
import Handlers
import Runs
import Store
import StorePostgres
import Transport
import Telemetry
import Logging
#if OTLP
import OTel
#endif
import Outbound
import ServiceLifecycle

@main
struct AgentFCGICommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "agentfcgi",
        abstract: "LLM agents as an HTTPS REST API: a FastCGI responder for nginx.",
        version: agentfcgiVersion,
        subcommands: [Serve.self, Keys.self, CheckConfig.self, Index.self, Migrate.self, WebhookSecret.self, OpenAPI.self],
        defaultSubcommand: Serve.self
    )
}

struct Serve: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Answer FastCGI requests from nginx until SIGTERM or SIGINT, then drain and exit 0.")

    @Option(help: "unix:/path.sock or HOST:PORT. Without it: the socket systemd passes (LISTEN_FDS) or fd 0.")
    var listen: String?

    @Option(help: "The agents YAML file.")
    var config = "agents.yaml"

    @Option(help: "Mode of the unix socket file, in octal.")
    var socketMode = "0660"

    @Option(help: "Group of the unix socket file (the nginx workers' group, e.g. www-data).")
    var socketGroup: String?

    @Option(help: "Threads that accept requests and answer the inline routes.")
    var acceptors = 4

    @Option(help: "Largest request body accepted, in bytes (413 above).")
    var maxBodyBytes = 1 << 20

    @Option(help: "Largest request body under /v1, whose messages may carry images, in bytes (413 above).")
    var maxMediaBodyBytes = 20 << 20

    @Option(help: "Seconds of silence after which an event stream sends a ': ping' comment.")
    var heartbeatSeconds = 15.0

    @Option(help: "Seconds that in-flight requests get to finish after SIGTERM.")
    var drainTimeout = 10.0

    @Option(help: "Listen backlog.")
    var backlog: Int32 = 1024

    @Option(help: "trace, debug, info, notice, warning, error or critical.")
    var logLevel = "info"

    @Option(help: "logfmt or json: one line per event on stderr.")
    var logFormat = "logfmt"

    @Option(help: "A name for this worker in every log line and its metrics' worker label (default: the process id).")
    var workerName: String?

    @Option(help: "Export traces over OTLP/HTTP to this URL, e.g. http://127.0.0.1:4318/v1/traces. Without it, no tracing. Needs a build with --traits OTLP.")
    var otlpEndpoint: String?

    @Option(help: "The share of requests traced, 0...1 (a client's traceparent cannot raise it).")
    var traceSampleRatio = 0.1

    @Flag(help: "Spans also carry model output and tool arguments and results (at most 4 KiB each). Off: never content.")
    var traceContent = false

    @Option(help: "A folder the workers of this host share, where each writes its metrics, so that any one answers /metrics for all (created if missing). Without it, /metrics shows this worker only.")
    var metricsDir: String?

    @Option(help: "on: Prometheus metrics at /metrics. off: none are recorded and /metrics answers 404.")
    var metrics = "on"

    @Option(help: "The store: a SQLite file shared by the workers of one host, or postgres://user@host:port/db for several hosts.")
    var database = "/var/lib/agentfcgi/agentfcgi.sqlite"

    @Option(help: "PostgreSQL connections this worker may open at most.")
    var databaseConnections = 10

    @Option(help: "Seconds a store operation waits for the database (SQLite: another process's write lock; PostgreSQL: a connection, while the server is busy, restarting or out of reach) before it is answered 503 store_busy.")
    var busyTimeout: Double = 10

    @Option(help: "Hours that a finished run's events stay readable (stream resumption, join).")
    var eventRetentionHours = 24.0

    @Option(help: "Seconds a run stays this worker's without renewal; after that another worker takes it over.")
    var runLeaseSeconds = 10.0

    @Option(help: "Attempts a run gets when the workers running it die (a run that started a non-idempotent tool gets one).")
    var maxRunAttempts = 3

    @Option(help: "Background runs this worker executes at once; more wait in the queue for any worker.")
    var backgroundRuns = 8

    @Option(help: "Runs one API key may have waiting in the queue; more are refused with 429 (0: no limit).")
    var maxPendingRuns = 1000

    @Option(help: "required: every operation but /ok, /info and /metrics needs an API key (agentfcgi keys create). off: none does (development only).")
    var auth = "required"

    // Tests of crons: every worker given the same START@ANCHOR*RATE schedules by the same fast clock.
    @Option(help: .hidden)
    var scheduleClock: String?

    func validate() throws {
        guard mode_t(socketMode, radix: 8) != nil else { throw ValidationError("--socket-mode must be octal, e.g. 0660") }
        guard Logger.Level(rawValue: logLevel) != nil else { throw ValidationError("unknown --log-level '\(logLevel)'") }
        guard ["logfmt", "json"].contains(logFormat) else { throw ValidationError("--log-format must be logfmt or json") }
        guard ["on", "off"].contains(metrics) else { throw ValidationError("--metrics must be on or off") }
        guard (0...1).contains(traceSampleRatio) else { throw ValidationError("--trace-sample-ratio must be 0...1") }
        if let otlpEndpoint {
            guard let url = URL(string: otlpEndpoint), ["http", "https"].contains(url.scheme ?? ""), url.host != nil else {
                throw ValidationError("--otlp-endpoint must be an http or https URL, e.g. http://127.0.0.1:4318/v1/traces")
            }
            #if !OTLP
            throw ValidationError("""
                --otlp-endpoint: this binary was built without the trace exporter; build it with \
                `swift build -c release --product agentfcgi --traits OTLP` (docs/operations.md, Traces)
                """)
            #endif
        }
        guard (1...256).contains(acceptors) else { throw ValidationError("--acceptors must be 1...256") }
        guard ["required", "off"].contains(auth) else { throw ValidationError("--auth must be required or off") }
        if let scheduleClock, ScheduleClock(scheduleClock) == nil || (ScheduleClock(scheduleClock)?.rate ?? 0) > 100_000 {
            throw ValidationError("--schedule-clock must be START@ANCHOR*RATE (ISO 8601 instant, unix seconds, speed)")
        }
        guard (1...20).contains(maxRunAttempts), (0...10_000).contains(backgroundRuns), (0...1_000_000).contains(maxPendingRuns) else {
            throw ValidationError("--max-run-attempts must be 1...20, --background-runs 0...10000, --max-pending-runs 0...1000000")
        }
        guard busyTimeout > 0, busyTimeout <= 600 else { throw ValidationError("--busy-timeout must be above 0 and at most 600 seconds") }
        guard eventRetentionHours > 0, runLeaseSeconds >= 1 else {
            throw ValidationError("--event-retention-hours must be positive, --run-lease-seconds at least 1")
        }
        guard maxBodyBytes > 0, maxMediaBodyBytes > 0, heartbeatSeconds > 0, drainTimeout >= 0 else {
            throw ValidationError("--max-body-bytes, --max-media-body-bytes and --heartbeat-seconds must be positive, --drain-timeout not negative")
        }
    }

    func run() throws {
        System.limitMallocArenas(to: 2)
        // The service group takes these signals from a signalfd (libdispatch's signal sources on Linux), which gets
        // only signals that every thread blocks: blocked here, before any thread exists, every thread inherits the
        // mask. SETMASK, not BLOCK: a parent may have left other signals blocked (the acceptors' wake signal among them).
        try System.setSignalMask(blocking: [SIGTERM, SIGINT, SIGHUP])
        try System.ignoreSignal(SIGPIPE)

        let level = Logger.Level(rawValue: logLevel)!
        let json = logFormat == "json"
        // With tracing, every line logged inside a span carries its trace_id and span_id.
        #if OTLP
        if otlpEndpoint != nil {
            LoggingSystem.bootstrap({ _, provider in LineLogHandler(logLevel: level, json: json, metadataProvider: provider) },
                                    metadataProvider: OTel.makeLoggingMetadataProvider())
        } else {
            LoggingSystem.bootstrap { _ in LineLogHandler(logLevel: level, json: json) }
        }
        #else
        LoggingSystem.bootstrap { _ in LineLogHandler(logLevel: level, json: json) }
        #endif
        var logger = Logger(label: "agentfcgi")
        let worker = workerName ?? String(getpid())
        logger[metadataKey: "worker"] = .string(worker)
        var tracing: (any Service)?
        #if OTLP
        if let otlpEndpoint {
            do {
                tracing = try WorkerTracing(endpoint: otlpEndpoint, ratio: traceSampleRatio, recordContent: traceContent, worker: worker,
                                            logger: logger)
                logger.info("traces.on", metadata: ["otlp_endpoint": .string(otlpEndpoint), "sample_ratio": "\(traceSampleRatio)",
                                                   "content": "\(traceContent)"])
            } catch {
                logger.critical("config.invalid", metadata: ["error": "traces: \(error)"])
                throw ExitCode(78)
            }
        }
        #endif
        let metrics: WorkerMetrics?
        do {
            metrics = self.metrics == "on" ? try WorkerMetrics(directory: metricsDir, worker: worker, version: agentfcgiVersion) : nil
        } catch {
            logger.critical("metrics.unavailable", metadata: ["metrics_dir": "\(metricsDir ?? "")", "error": "\(error)"])
            throw ExitCode(78)
        }

        let catalog: AgentCatalog
        do {
            catalog = try AgentConfigLoader.load(path: config)
        } catch {
            logger.critical("config.invalid", metadata: ["error": "\(error)"])
            throw ExitCode(78)  // EX_CONFIG
        }
        Metrics.prime(agents: catalog.agents.map { agent in
            (agent.id, agent.model.provider.rawValue, agent.model.name, agent.tools.map(\.spec.name))
        })
        // Not dumpable: a process of the same user (an MCP server this worker started, say) cannot read this one's
        // memory or /proc/<pid>/environ (provider keys, the database URL, the webhook secret), nor attach to it.
        try? System.forbidDumps()
        if scheduleClock != nil { logger.warning("crons.test_clock", metadata: ["schedule_clock": .string(scheduleClock ?? "")]) }

        let address: ListenAddress
        if let listen {
            address = try ListenAddress(parsing: listen)
        } else if let inherited = ListenAddress.inheritedFromEnvironment() {
            address = inherited
        } else {
            throw ValidationError("no --listen given and no socket inherited (LISTEN_FDS or fd 0)")
        }
        let group = try socketGroup.map(Self.groupID)
        let listener: Listener
        do {
            listener = try Listener.open(address, mode: mode_t(socketMode, radix: 8)!, group: group, backlog: backlog)
        } catch {
            logger.critical("listen.failed", metadata: ["error": "\(error)"])
            throw ExitCode(1)
        }

        let store: any AgentStore
        do {
            store = try openStore(database, connections: databaseConnections, busyTimeout: busyTimeout, logger: logger)
        } catch {
            logger.critical("store.open_failed", metadata: ["database": "\(database)", "error": "\(error)"])
            throw ExitCode(1)
        }
        let watchdog = Watchdog()
        // Model servers: a stream that goes silent for a minute is a failed stream.
        let httpClient = Outbound.configuredHostsClient(connectTimeout: .seconds(10), readTimeout: .seconds(60))
        defer { try? httpClient.syncShutdown() }
        let engine = RunEngine(
            store: store, workerID: "\(System.hostName())/\(getpid())/\(UInt32.random(in: 0...UInt32.max))", logger: logger,
            catalog: catalog, formats: .langGraph(catalog: catalog), httpClient: httpClient, watchdog: watchdog,
            lease: .milliseconds(Int64(runLeaseSeconds * 1000)), eventRetention: .seconds(Int64(eventRetentionHours * 3600)),
            maxAttempts: maxRunAttempts, backgroundCapacity: backgroundRuns, maxPendingRuns: maxPendingRuns == 0 ? nil : maxPendingRuns,
            scheduleClock: scheduleClock.flatMap(ScheduleClock.init) ?? .wall)
        var signer: WebhookSigner?
        if let variable = catalog.webhooks.secretEnvironment {
            guard let secrets = getenv(variable).map({ String(cString: $0) }), !secrets.isEmpty else {
                logger.critical("config.invalid", metadata: ["error": "webhooks.secret_env names \(variable), which is not set"])
                throw ExitCode(78)
            }
            do {
                signer = try WebhookSigner(secrets: secrets)
            } catch {
                logger.critical("config.invalid", metadata: ["error": "\(variable): \(error)"])
                throw ExitCode(78)
            }
        }

        let lifecycle = Lifecycle()
        var dependencies = Dependencies(
            catalog: catalog, logger: logger, heartbeat: .milliseconds(Int64(heartbeatSeconds * 1000)), lifecycle: lifecycle,
            httpClient: httpClient, watchdog: watchdog, engine: engine, webhookSigner: signer,
            requireKeys: auth == "required")
        if let metrics { dependencies.metrics = { [store] in await metrics.scrape(store: store) } }
        if auth == "off" { logger.warning("auth.off", metadata: ["detail": "every operation is open to anyone who reaches this worker"]) }
        let dispatcher = WebhookDispatcher(store: store, settings: catalog.webhooks, signer: signer, outbound: Outbound(logger: logger),
                                           workerID: engine.workerID, logger: logger, due: engine.deliveryBell, watchdog: watchdog)
        let drain = DrainBound(.milliseconds(Int64(drainTimeout * 1000)))
        let server = try Server(
            app: makeApp(dependencies), listener: listener,
            options: .init(acceptors: acceptors, maxBodyBytes: maxBodyBytes, maxMediaBodyBytes: maxMediaBodyBytes),
            lifecycle: lifecycle, drain: drain,
            hooks: .init(stopIntake: { engine.stopClaiming() }, onTimeout: { engine.cancelAll() }), logger: logger)

        // SIGTERM, SIGINT or SIGHUP stops the services one after another, last listed first: the transport stops
        // intake and drains its requests (Server+Drain.swift), the runs that outlived them get the rest of the bound,
        // then webhooks and metrics stop, queued spans are sent (at most 3 s), and the tool sources' processes go.
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = []
        let sources = catalog.agents.flatMap(\.toolSources)
        if !sources.isEmpty { services.append(.init(service: ToolSourceShutdown(sources: sources))) }
        // An exporter that fails or ends costs the traces, not the worker: the group lets it go.
        if let tracing {
            services.append(.init(service: tracing, successTerminationBehavior: .ignore, failureTerminationBehavior: .ignore))
        }
        if let metrics, metrics.exposition.shares {
            services.append(.init(service: MetricsPublisher(metrics: metrics, logger: logger)))
        }
        services.append(.init(service: WebhookDelivery(dispatcher: dispatcher)))
        services.append(.init(service: RunSupervisor(engine: engine, drain: drain, logger: logger)))
        services.append(.init(service: server))
        // Its end is not the worker's: it returns once it has done its one thing.
        services.append(.init(service: StartupRelease(logger: logger), successTerminationBehavior: .ignore))
        let serviceGroup = ServiceGroup(configuration: ServiceGroupConfiguration(
            services: services, gracefulShutdownSignals: [.sigterm, .sigint, .sighup], logger: logger))
        logger.info("server.started", metadata: [
            "listen": "\(listen ?? "inherited")", "agents": "\(catalog.agents.count)", "version": "\(agentfcgiVersion)",
        ])
        do {
            try blocking { try await serviceGroup.run() }
        } catch {
            logger.critical("server.failed", metadata: ["error": "\(error)"])
            throw ExitCode(1)
        }
    }

    static func groupID(_ name: String) throws -> gid_t {
        if let number = gid_t(name) { return number }
        guard let group = System.groupID(named: name) else { throw ValidationError("unknown group '\(name)' for --socket-group") }
        return group
    }
}
