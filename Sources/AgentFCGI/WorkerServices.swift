import AgentRuntime
import Logging
import Runs
import ServiceLifecycle
import Transport

// The long-running parts of a worker besides the transport (Server+Drain.swift) and the trace exporter
// (Observability.swift), each a `Service` of the one group that `serve` runs. The group stops them one after another,
// last listed first, each when the one before has returned.

/// The run engine's loop: leases, cancellations from other workers, the queue, crons. Stopped after the transport: it
/// keeps renewing leases while requests drain. Then the runs that outlived their requests (`on_disconnect: continue`,
/// background runs) get what is left of the bound; those still going are cancelled (a background run goes back to the
/// queue, others write their closing events) and get 2 s more.
struct RunSupervisor: Service {
    let engine: RunEngine
    let drain: DrainBound
    let logger: Logger

    func run() async {
        await withDiscardingTaskGroup { group in
            group.addTask { await engine.run() }
            if (try? await gracefulShutdown()) != nil {
                engine.stopClaiming()
                if await !engine.waitForNoRuns(until: drain.begin()) {
                    logger.warning("runs.stopped_by_shutdown", metadata: ["runs": "\(engine.activeRuns)"])
                    engine.cancelAll()
                    _ = await engine.waitForNoRuns(until: ContinuousClock.now + .seconds(2))
                }
            } else {
                engine.cancelAll()
            }
            group.cancelAll()
        }
    }
}

/// Webhook deliveries, until the group's shutdown reaches them (after the runs, whose ends make deliveries).
struct WebhookDelivery: Service {
    let dispatcher: WebhookDispatcher

    func run() async {
        await cancelWhenGracefulShutdown { await dispatcher.run() }
    }
}

/// This worker's metrics file for the host's `/metrics`, rewritten within a second of a change (and every 10 s while
/// nothing changes) until the shutdown reaches it.
struct MetricsPublisher: Service {
    let metrics: WorkerMetrics
    let logger: Logger

    func run() async {
        await cancelWhenGracefulShutdown { [metrics, logger] in await metrics.publish(logger: logger) }
    }
}

/// The processes the agents' tool sources started (MCP servers over stdio): stopped last, each with its process
/// group, within `bound` in all. Cancelled, it stops them all the same.
struct ToolSourceShutdown: Service {
    let sources: [any ToolSource]
    var bound: Duration = .seconds(5)

    func run() async {
        _ = try? await gracefulShutdown()
        let sources = self.sources
        let deadline = ContinuousClock.now + bound
        // A task the group's cancellation does not reach, so that the bound is a real one.
        await Task {
            _ = await withDeadline(deadline) {
                for source in sources { await source.shutdown() }
            }
        }.value
    }
}

/// Once start-up is over (`after` the transport started), lets go of the code pages start-up touched and the memory
/// malloc kept (`System.releaseStartupPages`): an idle worker then holds about its own memory, not every library it
/// loaded its configuration with. What later requests need comes back as they run.
struct StartupRelease: Service {
    var after: Duration = .seconds(5)
    let logger: Logger

    func run() async {
        // A shutdown within the wait ends it: the group waits for each service, last listed first.
        let waited = await cancelWhenGracefulShutdown { [after] in (try? await Task.sleep(for: after)) != nil }
        guard waited == true, !Task.isCancelled else { return }
        let released = System.releaseStartupPages()
        logger.debug("memory.startup_released", metadata: [
            "mapped_bytes": "\(released.mappedBytes)", "kept_mappings": "\(released.keptMappings)",
        ])
    }
}
