import Synchronization
import Tracing

/// Spans and W3C trace context for the layers, over swift-distributed-tracing: the executable bootstraps a tracer
/// (swift-otel) only when a collector is configured; until then every helper here is a plain call.
///
/// Sampling is decided once, where a trace enters this server, by this server's own draw at the configured ratio:
/// a request (a client's `traceparent` keeps its trace id and parent, never its sampled flag, so no client can make
/// the server record more than that), or a run that no sampled request made (a cron's, say). Work outside a sampled
/// trace makes no span at all, so tracing that is configured but not sampled costs a draw per request. Inside one,
/// everything follows: the task-local `active` marks it, and a run stores the `traceparent` of the request that made
/// it, so any worker that runs it continues the trace. Outgoing HTTP (model providers, tools, webhooks) goes through
/// AsyncHTTPClient, which makes its own client span under the current one and sends its `traceparent`.
public enum Traces {
    private static let state = Atomic<UInt64>(0)
    private static let content = Atomic<Bool>(false)

    /// Inside a sampled trace: its spans are current.
    @TaskLocal public static var active = false

    /// Tracing is configured (a tracer is bootstrapped).
    public static var enabled: Bool { state.load(ordering: .relaxed) != 0 }

    /// The share of traces recorded, 0...1.
    public static var ratio: Double {
        let bits = state.load(ordering: .relaxed)
        return bits == 0 ? 0 : Double(bitPattern: bits & ~(1 << 63))
    }

    /// Spans may carry message and tool content (`--trace-content`); off by default.
    public static var recordsContent: Bool { content.load(ordering: .relaxed) }

    /// Called once by the process that bootstrapped a tracer.
    public static func enable(ratio: Double, recordContent: Bool) {
        // The top bit marks "on", so that a ratio of 0 (nothing recorded) is configured too.
        state.store(Double(min(max(ratio, 0), 1)).bitPattern | (1 << 63), ordering: .relaxed)
        content.store(recordContent, ordering: .relaxed)
    }

    /// This server's draw: whether a new trace is recorded.
    static func draw() -> Bool {
        let ratio = ratio
        return ratio >= 1 || (ratio > 0 && Double.random(in: 0..<1) < ratio)
    }

    // MARK: - Context

    /// The context a request's span continues when the request is sampled: the client's `traceparent` (and
    /// `tracestate`) with the sampled flag set, or a new trace; nil when it is not sampled (or tracing is off). A
    /// malformed header is ignored, as W3C Trace Context says.
    public static func incoming(traceParent: String?, traceState: String?) -> ServiceContext? {
        guard enabled, draw() else { return nil }
        var context = ServiceContext.topLevel
        guard let traceParent, let decided = decide(traceParent, ratio: 1, draw: 0) else { return context }
        var headers = ["traceparent": decided]
        if let traceState, traceState.utf8.count <= 512 { headers["tracestate"] = traceState }
        InstrumentationSystem.instrument.extract(headers, into: &context, using: HeaderExtractor())
        return context
    }

    /// A client's `traceparent` with the sampled flag of this server's draw (`draw` in 0..<1, sampled below
    /// `ratio`); nil when it is malformed.
    static func decide(_ traceParent: String, ratio: Double, draw: Double) -> String? {
        TraceParent(traceParent)?.with(sampled: draw < ratio)
    }

    /// The `traceparent` of the current span, inside a sampled trace; nil outside one.
    public static func traceParent() -> String? {
        guard enabled, active, let context = ServiceContext.current else { return nil }
        var headers: [String: String] = [:]
        InstrumentationSystem.instrument.inject(context, into: &headers, using: HeaderInjector())
        return headers["traceparent"]
    }

    /// A context that continues a stored `traceparent` (a run started by another request, maybe on another worker).
    public static func context(traceParent: String?) -> ServiceContext? {
        guard enabled, let traceParent, TraceParent(traceParent) != nil else { return nil }
        var context = ServiceContext.topLevel
        InstrumentationSystem.instrument.extract(["traceparent": traceParent], into: &context, using: HeaderExtractor())
        return context
    }

    /// The trace id in a `traceparent`.
    public static func traceID(of traceParent: String?) -> String? {
        traceParent.flatMap(TraceParent.init)?.traceID
    }

    // MARK: - Spans

    /// The parent of a span that continues `parent` (a stored `traceparent`), or the current sampled trace, or,
    /// with `root`, a new trace when this server's draw says so; nil: no span. Callers that hold a span for long (a
    /// run) decide first, so that an untraced run's frames hold nothing of tracing.
    public static func parent(continuing parent: String?, root: Bool) -> ServiceContext? {
        guard enabled else { return nil }
        if let parent, let continued = context(traceParent: parent) { return continued }
        if active { return .current ?? .topLevel }
        return root && draw() ? .topLevel : nil
    }

    /// Runs `body` in a span under `context` (from `parent(continuing:root:)`), inside a sampled trace; without a
    /// context, as it is.
    public static func span<T>(_ name: String, kind: SpanKind = .internal, under context: ServiceContext?,
                               isolation: isolated (any Actor)? = #isolation,
                               _ body: (any Span) async throws -> T) async rethrows -> T {
        guard let context else { return try await body(NoOpTracer.NoOpSpan(context: .topLevel)) }
        return try await $active.withValue(true, operation: {
            try await withSpan(name, context: context, ofKind: kind, isolation: isolation, body)
        }, isolation: isolation)
    }

    /// A request's span, which the caller ends (its stream outlives the handler); nil when tracing is off.
    public static func start(_ name: String, kind: SpanKind, context: ServiceContext) -> (any Span)? {
        guard enabled else { return nil }
        return startSpan(name, context: context, ofKind: kind)
    }
}

/// A W3C `traceparent`: version 00, a non-zero trace id and parent id, flags.
struct TraceParent {
    let traceID: String
    let parentID: String
    let flags: UInt8

    init?(_ text: String) {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 4, parts[0] == "00", parts[1].utf8.count == 32, parts[2].utf8.count == 16, parts[3].utf8.count == 2,
              parts[1].utf8.allSatisfy(Self.isLowerHex), parts[2].utf8.allSatisfy(Self.isLowerHex),
              parts[1] != String(repeating: "0", count: 32), parts[2] != String(repeating: "0", count: 16),
              let flags = UInt8(parts[3], radix: 16)
        else { return nil }
        traceID = String(parts[1])
        parentID = String(parts[2])
        self.flags = flags
    }

    func with(sampled: Bool) -> String {
        let flags = sampled ? (self.flags | 1) : (self.flags & ~1)
        let hex = String(flags, radix: 16)
        return "00-\(traceID)-\(parentID)-\(hex.count == 1 ? "0" + hex : hex)"
    }

    static func isLowerHex(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains(byte)
    }
}

struct HeaderExtractor: Extractor {
    func extract(key: String, from carrier: [String: String]) -> String? { carrier[key] }
}

struct HeaderInjector: Injector {
    func inject(_ value: String, forKey key: String, into carrier: inout [String: String]) { carrier[key] = value }
}
