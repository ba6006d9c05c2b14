import CoreMetrics
import Synchronization

/// Every series the server exports, by name, with the label values it may take. The layers call these; until the
/// process bootstraps a metrics backend (the executable does, with Prometheus, unless `--metrics off`) and calls
/// `enable()`, they return at once.
///
/// Labels are bounded: route templates never ids, agents, tools and models from the configuration, tenants capped
/// (`TenantLabels`). One name always carries the same label names (Prometheus' rule; the backend stops otherwise).
public enum Metrics {
    // swift-metrics' constructors ask the backend each time, which checks the names and takes its lock; the objects
    // are made once per label set here instead. The backend is bootstrapped before the first metric is recorded (an
    // object made before that would stay a no-op).
    private static let counters = Handles<Counter>()
    private static let timers = Handles<Timer>()
    private static let meters = Handles<Meter>()
    private static let on = Atomic<Bool>(false)
    /// Marked by every recording: the publisher writes this worker's file only after something changed.
    public static let changes = ChangeSignal()

    /// Called once, after the backend is bootstrapped.
    public static func enable() { on.store(true, ordering: .relaxed) }

    static var enabled: Bool { on.load(ordering: .relaxed) }

    // Up to three labels, passed as tuples: an array of them would be allocated on every call.
    typealias Dimension = (String, String)

    static func counter(_ label: String, _ a: Dimension? = nil, _ b: Dimension? = nil, _ c: Dimension? = nil) -> Counter {
        counters.get(Series(label, a, b, c)) { Counter(label: label, dimensions: [a, b, c].compactMap { $0 }) }
    }

    static func timer(_ label: String, _ a: Dimension? = nil, _ b: Dimension? = nil, _ c: Dimension? = nil) -> Timer {
        timers.get(Series(label, a, b, c)) { Timer(label: label, dimensions: [a, b, c].compactMap { $0 }) }
    }

    static func meter(_ label: String) -> Meter {
        meters.get(Series(label, nil, nil, nil)) { Meter(label: label) }
    }

    public static func httpRequest(route: String, method: String, status: Int, duration: Duration) {
        guard enabled else { return }
        let method = knownMethods.contains(method) ? method : "other"
        counter("agentfcgi_http_requests_total", ("route", route), ("method", method), ("status", String(status)))
            .increment()
        timer("agentfcgi_http_request_duration_seconds", ("route", route), ("method", method))
            .recordNanoseconds(duration.telemetryNanoseconds)
    }

    private static let knownMethods: Set<String> = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]

    public static func runStarted(agent: String, protocol origin: String) {
        guard enabled else { return }
        counter("agentfcgi_runs_started_total", ("agent", agent), ("protocol", origin)).increment()
        meter("agentfcgi_runs_running").increment()
    }

    /// `status`: success, error, timeout, interrupted (cancelled or stopped) or pending (handed back at shutdown).
    public static func runFinished(agent: String, protocol origin: String, status: String, duration: Duration) {
        guard enabled else { return }
        counter("agentfcgi_runs_finished_total", ("agent", agent), ("protocol", origin), ("status", status)).increment()
        timer("agentfcgi_run_duration_seconds", ("agent", agent)).recordNanoseconds(duration.telemetryNanoseconds)
        meter("agentfcgi_runs_running").decrement()
    }

    /// From a background run's creation (or its `after_seconds`) to a worker starting it.
    public static func queueWait(agent: String, _ duration: Duration) {
        guard enabled else { return }
        timer("agentfcgi_run_queue_wait_seconds", ("agent", agent)).recordNanoseconds(duration.telemetryNanoseconds)
    }

    /// From the run's start to its first event that a client sees, and to the model's first token.
    public static func firstEvent(agent: String, _ duration: Duration) {
        guard enabled else { return }
        timer("agentfcgi_run_first_event_seconds", ("agent", agent)).recordNanoseconds(duration.telemetryNanoseconds)
    }

    public static func firstToken(agent: String, _ duration: Duration) {
        guard enabled else { return }
        timer("agentfcgi_run_first_token_seconds", ("agent", agent)).recordNanoseconds(duration.telemetryNanoseconds)
    }

    public static func tokens(agent: String, tenant: String, input: Int, output: Int) {
        guard enabled else { return }
        let tenant = TenantLabels.shared.label(tenant)
        if input > 0 {
            counter("agentfcgi_tokens_total", ("agent", agent), ("tenant", tenant), ("type", "input")).increment(by: input)
        }
        if output > 0 {
            counter("agentfcgi_tokens_total", ("agent", agent), ("tenant", tenant), ("type", "output")).increment(by: output)
        }
    }

    /// `outcome`: ok, error (the tool answered with a failure) or cancelled.
    public static func toolCall(tool: String, outcome: String, duration: Duration) {
        guard enabled else { return }
        counter("agentfcgi_tool_calls_total", ("tool", tool), ("outcome", outcome)).increment()
        timer("agentfcgi_tool_call_duration_seconds", ("tool", tool)).recordNanoseconds(duration.telemetryNanoseconds)
    }

    /// `outcome`: ok, error or cancelled.
    public static func modelCall(provider: String, model: String, outcome: String, duration: Duration) {
        guard enabled else { return }
        counter("agentfcgi_model_calls_total", ("provider", provider), ("model", model), ("outcome", outcome))
            .increment()
        timer("agentfcgi_model_call_duration_seconds", ("provider", provider), ("model", model))
            .recordNanoseconds(duration.telemetryNanoseconds)
    }

    /// `outcome`: delivered, retry (a failed attempt that will be tried again) or failed (given up).
    public static func webhookDelivery(outcome: String) {
        guard enabled else { return }
        counter("agentfcgi_webhook_deliveries_total", ("outcome", outcome)).increment()
    }

    /// Event streams open in this process (SSE answers being written).
    public static func streamOpened() { if enabled { meter("agentfcgi_open_streams").increment() } }
    public static func streamClosed() { if enabled { meter("agentfcgi_open_streams").decrement() } }

    /// `operation`: the store method (its name without arguments); `store`: sqlite or postgres.
    public static func storeOperation(store: String, operation: String, duration: Duration, failed: Bool) {
        guard enabled else { return }
        timer("agentfcgi_store_operation_duration_seconds", ("store", store), ("operation", operation))
            .recordNanoseconds(duration.telemetryNanoseconds)
        if failed {
            counter("agentfcgi_store_errors_total", ("store", store), ("operation", operation)).increment()
        }
    }

    /// Spans the trace exporter dropped (its queue full, the collector down or refusing).
    public static func spansDropped(_ count: Int) {
        guard enabled else { return }
        counter("agentfcgi_trace_spans_dropped_total").increment(by: count)
    }

    /// Series that alerts watch, made at 0 when the worker starts: `increase()` cannot count the event that makes a
    /// series, so the first failure after a start would otherwise go unseen.
    public static func prime(agents: [(id: String, provider: String, model: String, tools: [String])]) {
        guard enabled else { return }
        for outcome in ["delivered", "retry", "failed"] {
            counter("agentfcgi_webhook_deliveries_total", ("outcome", outcome)).increment(by: 0)
        }
        counter("agentfcgi_trace_spans_dropped_total").increment(by: 0)
        meter("agentfcgi_open_streams").set(0)
        meter("agentfcgi_runs_running").set(0)
        for agent in agents {
            for origin in ["langgraph", "openai", "mcp"] {
                for status in ["success", "error", "timeout"] {
                    counter("agentfcgi_runs_finished_total", ("agent", agent.id), ("protocol", origin), ("status", status))
                        .increment(by: 0)
                }
            }
            for outcome in ["ok", "error"] {
                counter("agentfcgi_model_calls_total", ("provider", agent.provider), ("model", agent.model), ("outcome", outcome))
                    .increment(by: 0)
                for tool in agent.tools {
                    counter("agentfcgi_tool_calls_total", ("tool", tool), ("outcome", outcome)).increment(by: 0)
                }
            }
        }
    }

    /// `#function` of a store method, as a label: `createRun(_:)` is `createRun`.
    public static func operationName(_ function: String) -> String {
        String(function.prefix { $0 != "(" })
    }

    /// Each family's help and type, for the exposition (swift-metrics carries no help text).
    public static let catalog: [String: (type: String, help: String)] = [
        "agentfcgi_http_requests_total": ("counter", "Requests answered by the workers, by route template, method and status."),
        "agentfcgi_http_request_duration_seconds": ("histogram", "Time from a request's arrival in the worker to its response head."),
        "agentfcgi_runs_started_total": ("counter", "Runs started, by agent and protocol (langgraph, openai, mcp)."),
        "agentfcgi_runs_finished_total": ("counter", "Runs ended, by agent, protocol and status."),
        "agentfcgi_run_duration_seconds": ("histogram", "Run duration, start to end."),
        "agentfcgi_run_queue_wait_seconds": ("histogram", "A background run's wait in the queue before a worker starts it."),
        "agentfcgi_run_first_event_seconds": ("histogram", "From a run's start to its first event."),
        "agentfcgi_run_first_token_seconds": ("histogram", "From a run's start to the model's first token."),
        "agentfcgi_tokens_total": ("counter", "Model tokens by agent, tenant (the first 1,000 seen, then other) and type (input, output)."),
        "agentfcgi_tool_calls_total": ("counter", "Tool calls by tool and outcome (ok, error, cancelled)."),
        "agentfcgi_tool_call_duration_seconds": ("histogram", "Tool call duration."),
        "agentfcgi_model_calls_total": ("counter", "Model calls by provider, model and outcome (ok, error, cancelled)."),
        "agentfcgi_model_call_duration_seconds": ("histogram", "Model call duration, request to last token."),
        "agentfcgi_webhook_deliveries_total": ("counter", "Webhook delivery attempts by outcome (delivered, retry, failed)."),
        "agentfcgi_open_streams": ("gauge", "Event streams open now."),
        "agentfcgi_runs_running": ("gauge", "Runs executing now."),
        "agentfcgi_runs_queued": ("gauge", "Background runs waiting in the store's queue (the whole store: the same on every worker)."),
        "agentfcgi_store_operation_duration_seconds": ("histogram", "Store operation latency by store and operation."),
        "agentfcgi_store_errors_total": ("counter", "Store operations that failed."),
        "agentfcgi_trace_spans_dropped_total": ("counter", "Spans the trace exporter dropped (queue full, collector down)."),
        "agentfcgi_worker_info": ("gauge", "1 for each live worker, with its version."),
        "process_cpu_seconds_total": ("counter", "CPU time the worker used, user and system."),
        "process_resident_memory_bytes": ("gauge", "The worker's resident memory."),
        "process_open_fds": ("gauge", "File descriptors the worker holds open."),
        "process_max_fds": ("gauge", "The worker's limit of open file descriptors."),
        "process_threads": ("gauge", "Threads of the worker."),
        "process_start_time_seconds": ("gauge", "When the worker started, in seconds since 1970."),
    ]
}

/// Tenants as a label: the first `limit` seen by this process keep their names, later ones count as `other`, so a
/// host with many tenants cannot grow the series without bound.
public final class TenantLabels: Sendable {
    public static let shared = TenantLabels(limit: 1000)

    private let limit: Int
    private let seen = Mutex<Set<String>>([])

    public init(limit: Int) { self.limit = limit }

    public func label(_ tenant: String) -> String {
        let tenant = tenant.isEmpty ? "none" : String(tenant.prefix(64))
        return seen.withLock { seen in
            if seen.contains(tenant) { return tenant }
            guard seen.count < limit else { return "other" }
            seen.insert(tenant)
            return tenant
        }
    }
}

extension Duration {
    var telemetryNanoseconds: Int64 {
        components.seconds &* 1_000_000_000 &+ components.attoseconds / 1_000_000_000
    }
}

/// A series' name and label values: one name always has the same label names.
struct Series: Hashable {
    let label: String
    let values: (String, String, String)

    init(_ label: String, _ a: Metrics.Dimension?, _ b: Metrics.Dimension?, _ c: Metrics.Dimension?) {
        self.label = label
        values = (a?.1 ?? "", b?.1 ?? "", c?.1 ?? "")
    }

    static func == (l: Series, r: Series) -> Bool { l.label == r.label && l.values == r.values }

    func hash(into hasher: inout Hasher) {
        hasher.combine(label)
        hasher.combine(values.0)
        hasher.combine(values.1)
        hasher.combine(values.2)
    }
}

/// Metric objects by series.
final class Handles<M: Sendable>: Sendable {
    private let made = Mutex<[Series: M]>([:])

    /// Called for every recording (the handle is used at once), so it is where a change is marked.
    func get(_ key: Series, _ make: () -> M) -> M {
        Metrics.changes.mark()
        if let handle = made.withLock({ $0[key] }) { return handle }
        let handle = make()
        return made.withLock { made in
            if let existing = made[key] { return existing }
            made[key] = handle
            return handle
        }
    }
}
