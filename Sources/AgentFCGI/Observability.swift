import CoreMetrics
import Foundation
import Runs
import Logging
#if OTLP
import OTel
#endif
import Prometheus
import ServiceLifecycle
import Store
import Synchronization
import Telemetry
import Transport

/// This worker's metrics backend (swift-prometheus behind swift-metrics) and its part of the host's `/metrics`.
final class WorkerMetrics: Sendable {
    let registry: PrometheusCollectorRegistry
    let exposition: MetricsExposition
    private let info: String

    /// Bootstraps swift-metrics once per process.
    init(directory: String?, worker: String, version: String) throws {
        registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: registry)
        // Runs and model calls take seconds to minutes; requests and store operations milliseconds.
        factory.defaultDurationHistogramBuckets = [
            .milliseconds(1), .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100),
            .milliseconds(250), .milliseconds(500), .seconds(1), .milliseconds(2500), .seconds(5), .seconds(10), .seconds(30),
            .seconds(60), .seconds(120), .seconds(300),
        ]
        MetricsSystem.bootstrap(factory)
        Metrics.enable()
        if let directory {
            // The workers' own folder: group and others get nothing (the series name agents, tools and tenants).
            do throws(TransportError) {
                try System.makeDirectory(directory, mode: 0o700)
            } catch {
                if error.code != EEXIST { throw ExpositionError(path: directory, code: error.code ?? 0) }
            }
        }
        exposition = try MetricsExposition(directory: directory, worker: worker)
        info = "# TYPE agentfcgi_worker_info gauge\nagentfcgi_worker_info{version=\"\(version)\"} 1\n"
    }

    /// This worker's series now, without the worker label.
    func own() -> String {
        registry.emitToString() + ProcessMetrics.text() + info
    }

    /// Writes this worker's file until cancelled, so that a scrape answered by another worker sees it: within
    /// `interval` of a change (at most once per `interval`), and at least every `keepAlive` while nothing changes, so
    /// that the file stays younger than `MetricsExposition.staleAfter` (a live worker's file older than that is taken
    /// for a hung worker's and left out). An idle worker thus wakes every `keepAlive`, not every second.
    func publish(every interval: Duration = .seconds(1), keepAlive: Duration = .seconds(10), logger: Logger) async {
        guard exposition.shares else { return }
        var failing = false
        while !Task.isCancelled {
            do {
                try exposition.publish(own())
                failing = false
            } catch {
                if !failing { logger.warning("metrics.publish_failed", metadata: ["error": "\(error)"]) }
                failing = true
            }
            try? await Task.sleep(for: interval)
            // A failed write is tried again every interval, as before.
            if !failing { await Metrics.changes.wait(timeout: keepAlive - interval) }
        }
    }

    /// The host's exposition: every live worker's series, and the store's queue depth.
    func scrape(store: any AgentStore) async -> String {
        var extra = ""
        if let queued = try? await store.queuedRunCount() {
            extra = "# TYPE agentfcgi_runs_queued gauge\nagentfcgi_runs_queued \(queued)\n"
        }
        return exposition.gather(own: own(), extra: extra)
    }
}

#if OTLP
/// Traces exported with swift-otel over OTLP/HTTP (protobuf) to the configured collector. The exporter runs beside
/// the requests: spans go to a bounded queue that drops (and counts) what the collector cannot take. A `Service` of
/// the worker's group, stopped late: the spans of the drain are sent too.
final class WorkerTracing: Service {
    private let exporter: any Service
    private let executor: BatchingExecutor
    /// The most that sending the queued spans may take at shutdown.
    let flushBound: Duration

    /// Environment variables of OpenTelemetry that may still apply (collector credentials, resource); the sampler,
    /// endpoint and protocol are this command line's alone.
    static let allowedEnvironment: Set<String> = [
        "OTEL_EXPORTER_OTLP_HEADERS", "OTEL_EXPORTER_OTLP_TRACES_HEADERS", "OTEL_EXPORTER_OTLP_COMPRESSION",
        "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION", "OTEL_SERVICE_NAME", "OTEL_RESOURCE_ATTRIBUTES",
    ]

    init(endpoint: String, ratio: Double, recordContent: Bool, worker: String, logger: Logger,
         flushBound: Duration = .seconds(3)) throws {
        var config = OTel.Configuration.default
        config.serviceName = "agentfcgi"
        config.resourceAttributes = ["service.instance.id": "\(System.hostName())/\(worker)", "service.version": agentfcgiVersion]
        config.diagnosticLogger = .custom(Logger(label: "otel") { _ in ExporterDiagnostics(forwardingTo: logger) })
        config.logs.enabled = false
        config.metrics.enabled = false
        config.traces.exporter = .otlp
        config.traces.otlpExporter.protocol = .httpProtobuf
        config.traces.otlpExporter.endpoint = endpoint
        config.traces.otlpExporter.timeout = .seconds(3)
        // Every span made is recorded: spans are made only inside a trace this server's draw sampled (Traces).
        config.traces.sampler = .alwaysOn
        // The processor sends one batch per tick, and ticks early only when the queue is full: batches as large as
        // the collector takes comfortably keep up with thousands of spans a second.
        config.traces.batchSpanProcessor.maxQueueSize = 8192
        config.traces.batchSpanProcessor.maxExportBatchSize = 2048
        config.traces.batchSpanProcessor.scheduleDelay = .seconds(1)
        config.traces.batchSpanProcessor.exportTimeout = .seconds(5)
        let environment = ProcessInfo.processInfo.environment.filter { Self.allowedEnvironment.contains($0.key) }
        exporter = try OTel.bootstrap(configuration: config, environment: environment)
        executor = try BatchingExecutor(name: "otel")
        self.flushBound = flushBound
        Traces.enable(ratio: ratio, recordContent: recordContent)
    }

    /// Exports until the group's shutdown reaches it; then swift-otel sends what is queued, for at most `flushBound`.
    /// swift-otel's tasks (its child tasks inherit the preference) run on the batching executor.
    func run() async throws {
        let (exporter, flushBound) = (self.exporter, self.flushBound)
        try await withTaskExecutorPreference(executor) {
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await exporter.run() }
                group.addTask {
                    try await gracefulShutdown()
                    try await Task.sleep(for: flushBound)
                }
                try await group.next()
                group.cancelAll()
            }
        }
    }
}
#endif

/// swift-otel's own log, turned into the drop counter (spans that did not fit the queue, batches the collector did
/// not take) and, at most once a minute per message, a warning in the worker's log.
struct ExporterDiagnostics: LogHandler {
    var logLevel: Logger.Level = .warning
    var metadata: Logger.Metadata = [:]
    let target: Logger
    private let lastSaid = LastSaid.shared

    init(forwardingTo logger: Logger) { target = logger }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var merged = metadata
        if let extra = event.metadata { merged.merge(extra) { _, new in new } }
        let message = "\(event.message)"
        if message.hasPrefix("Spans were dropped"), let count = merged["dropped_count"].flatMap({ Int("\($0)") }) {
            Metrics.spansDropped(count)
        } else if message.hasPrefix("Failed to export batch"), let count = merged["batch_size"].flatMap({ Int("\($0)") }) {
            Metrics.spansDropped(count)
        }
        guard event.level >= .warning, lastSaid.due(message) else { return }
        target.warning("traces.exporter", metadata: ["detail": .string(message), "error": merged["error.message"] ?? merged["error"] ?? "-"])
    }

    final class LastSaid: Sendable {
        static let shared = LastSaid()
        private let said = Mutex<[String: ContinuousClock.Instant]>([:])

        func due(_ message: String) -> Bool {
            said.withLock { said in
                let now = ContinuousClock.now
                if let last = said[message], now - last < .seconds(60) { return false }
                said[message] = now
                return true
            }
        }
    }
}
