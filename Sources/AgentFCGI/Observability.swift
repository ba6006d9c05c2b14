import CoreMetrics
import Foundation
import Logging
import Prometheus
import Store
import Telemetry

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
        if let directory {
            // The workers' own folder: group and others get nothing (the series name agents, tools and tenants).
            if mkdir(directory, 0o700) != 0, errno != EEXIST { throw ExpositionError(path: directory, code: errno) }
        }
        exposition = try MetricsExposition(directory: directory, worker: worker)
        info = "# TYPE agentfcgi_worker_info gauge\nagentfcgi_worker_info{version=\"\(version)\"} 1\n"
    }

    /// This worker's series now, without the worker label.
    func own() -> String {
        registry.emitToString() + ProcessMetrics.text() + info
    }

    /// Writes this worker's file every second until cancelled, so a scrape answered by another worker sees it.
    func publish(every interval: Duration = .seconds(1), logger: Logger) async {
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
