import HTTPTypes
import AgentRuntime
import AsyncHTTPClient
import Foundation
import Logging
import Telemetry
import Tracing
import Runs
import Store
import Synchronization

/// Everything the handlers need from outside, passed in (no singletons): tests build their own.
public struct Dependencies: Sendable {
    public var catalog: AgentCatalog
    public var clock: any Clock<Duration>
    public var logger: Logger
    /// Silence after which an event stream sends a `: ping` comment.
    public var heartbeat: Duration
    public var version: String
    public var lifecycle: Lifecycle
    public var makeID: @Sendable () -> String
    /// For model providers that speak HTTP.
    public var httpClient: HTTPClient
    /// Run deadlines, shared by every run of the process.
    public var watchdog: Watchdog
    /// The run engine over the store: threads, stored runs and their event log. Without one, stateless runs use an
    /// engine of their own and the thread routes answer 503.
    public var engine: RunEngine?
    /// Signs webhook deliveries; without it runs may not ask for a `webhook`.
    public var webhookSigner: WebhookSigner?
    /// Every operation but health, info and metrics needs an API key with the operation's scope.
    public var requireKeys: Bool
    /// The host's series in Prometheus text, for `GET /metrics`; nil: no metrics (404).
    public var metrics: (@Sendable () async -> String)?

    public init(
        catalog: AgentCatalog, clock: any Clock<Duration> = ContinuousClock(), logger: Logger,
        heartbeat: Duration = .seconds(15), version: String = agentfcgiVersion, lifecycle: Lifecycle = Lifecycle(),
        makeID: @escaping @Sendable () -> String = { RandomID.uuid() },
        httpClient: HTTPClient = .shared, watchdog: Watchdog = Watchdog(), engine: RunEngine? = nil,
        webhookSigner: WebhookSigner? = nil, requireKeys: Bool = false
    ) {
        self.requireKeys = requireKeys
        self.engine = engine
        self.webhookSigner = webhookSigner
        self.httpClient = httpClient
        self.watchdog = watchdog
        self.catalog = catalog
        self.clock = clock
        self.logger = logger
        self.heartbeat = heartbeat
        self.version = version
        self.lifecycle = lifecycle
        self.makeID = makeID
    }
}

/// Process-wide state the handlers may consult: whether the server is draining.
public final class Lifecycle: Sendable {
    private let draining = Atomic<Bool>(false)
    public init() {}
    public var isDraining: Bool { draining.load(ordering: .relaxed) }
    public func beginDraining() { draining.store(true, ordering: .relaxed) }
}

/// The transport-independent application: a route table and a way to answer a request.
public struct Application: Sendable {
    public let router: Router
    public let logger: Logger
    let authenticator: Authenticator?

    init(router: Router, logger: Logger, authenticator: Authenticator? = nil) {
        self.router = router
        self.logger = logger
        self.authenticator = authenticator
    }

    /// How the transport should proceed with a request.
    public enum Dispatch: Sendable {
        /// Answered already, on the caller's thread.
        case immediate(Response)
        /// Needs the async world: run it in a Task.
        case deferred(@Sendable () async -> Response)

        func response() async -> Response {
            switch self {
            case .immediate(let response): response
            case .deferred(let work): await work()
            }
        }
    }

    static let maxPathBytes = 2048
    static let maxQueryBytes = 4096
    static let maxHeaderValueBytes = 8192
    static let maxHeaders = 100

    /// Bounds on what arrives outside the body; nginx has its own, these hold behind any proxy.
    func checkBounds(_ request: Request) -> APIError? {
        if request.path.utf8.count > Self.maxPathBytes || request.query.utf8.count > Self.maxQueryBytes {
            return APIError(status: 414, code: "uri_too_long",
                            detail: "The path may have \(Self.maxPathBytes) bytes and the query \(Self.maxQueryBytes).")
        }
        var count = 0
        for field in request.headers {
            count += 1
            if field.value.utf8.count > Self.maxHeaderValueBytes || count > Self.maxHeaders {
                return APIError(status: 431, code: "headers_too_large",
                                detail: "At most \(Self.maxHeaders) headers of \(Self.maxHeaderValueBytes) bytes each are accepted.")
            }
        }
        return nil
    }

    public func dispatch(_ request: Request) -> Dispatch {
        let arrived = ContinuousClock.now
        if let problem = checkBounds(request) {
            return .immediate(finish(problem.response(for: request), request, route: "unmatched", arrived: arrived))
        }
        switch router.match(method: request.method.rawValue, path: request.path) {
        case .notFound:
            return .immediate(finish(APIError(status: 404, code: "not_found",
                                              detail: "No route for \(request.method) \(request.path.prefix(200)).")
                .response(for: request), request, route: "unmatched", arrived: arrived))
        case .methodNotAllowed(let allowed):
            let error = APIError(status: 405, code: "method_not_allowed",
                                 detail: "\(request.method) is not allowed here; allowed: \(allowed.joined(separator: ", ")).",
                                 headers: [.allow: allowed.joined(separator: ", ")])
            return .immediate(finish(error.response(for: request), request, route: "unmatched", arrived: arrived))
        case .found(let route, let parameters):
            // Sampled (tracing on, and this server's draw): the whole answer in the request's server span, its stream
            // included; an inline answer stays inline. Otherwise no span at all.
            guard Traces.enabled,
                  let parent = Traces.incoming(traceParent: request.headers[.traceparent], traceState: request.headers[.tracestate]),
                  let span = Traces.start("\(request.method) \(route.path)", kind: .server, context: parent)
            else { return found(route, parameters, request, arrived: arrived) }
            span.updateAttributes { attributes in
                attributes["http.request.method"] = request.method.rawValue
                attributes["http.route"] = route.path
                attributes["agentfcgi.request.id"] = request.requestID
            }
            let dispatch = ServiceContext.withValue(span.context) {
                Traces.$active.withValue(true) { found(route, parameters, request, arrived: arrived) }
            }
            // Held by what the transport may drop unrun (a deferred answer, a stream), which then ends the span.
            let ending = SpanEnding(span)
            switch dispatch {
            case .immediate(let response):
                return .immediate(Self.ending(ending, response))
            case .deferred(let work):
                return .deferred {
                    let response = await ServiceContext.withValue(span.context) { await Traces.$active.withValue(true) { await work() } }
                    return Self.ending(ending, response)
                }
            }
        }
    }

    /// Notes the status on a request's span and ends it: now, or when its stream ends.
    private static func ending(_ ending: SpanEnding, _ response: Response) -> Response {
        let span = ending.span
        span.attributes["http.response.status_code"] = response.status.code
        if response.status.code >= 500 { span.setStatus(SpanStatus(code: .error)) }
        guard case .stream(let heartbeat, let body) = response.body else {
            ending.end()
            return response
        }
        var response = response
        response.body = .stream(heartbeat: heartbeat) { writer in
            defer { ending.end() }
            try await ServiceContext.withValue(span.context) { try await Traces.$active.withValue(true) { try await body(writer) } }
        }
        return response
    }

    /// A matched route's answer: inline on this thread when it can be, else deferred to a Task.
    private func found(_ route: Route, _ parameters: [String: String], _ request: Request, arrived: ContinuousClock.Instant) -> Dispatch {
        let template = route.path
        var logger = self.logger
        logger[metadataKey: "request.id"] = .string(request.requestID)
        let context = RequestContext(parameters: parameters, requestID: request.requestID, logger: logger)
        if let authenticator, route.access.needsKey {
            return .deferred {
                var context = context
                do {
                    let principal = try await authenticator.authenticate(request, scope: route.access.scope)
                    context.principal = principal
                    context.logger[metadataKey: "key.id"] = .string(principal.keyID)
                    switch route.handler {
                    case .inline(let handler): return finish(try handler(request, context), request, route: template, arrived: arrived)
                    case .async(let handler): return finish(try await handler(request, context), request, route: template, arrived: arrived)
                    }
                } catch {
                    return finish(errorResponse(error, request, context), request, route: template, arrived: arrived)
                }
            }
        }
        switch route.handler {
        case .inline(let handler):
            do {
                return .immediate(finish(try handler(request, context), request, route: template, arrived: arrived))
            } catch {
                return .immediate(finish(errorResponse(error, request, context), request, route: template, arrived: arrived))
            }
        case .async(let handler):
            return .deferred {
                do {
                    return finish(try await handler(request, context), request, route: template, arrived: arrived)
                } catch {
                    return finish(errorResponse(error, request, context), request, route: template, arrived: arrived)
                }
            }
        }
    }

    /// Dispatches and waits: what in-process tests call.
    public func respond(to request: Request) async -> Response {
        await dispatch(request).response()
    }

    private func finish(_ response: Response, _ request: Request, route: String, arrived: ContinuousClock.Instant) -> Response {
        Metrics.httpRequest(route: route, method: request.method.rawValue, status: response.status.code, duration: ContinuousClock.now - arrived)
        var response = response
        if !request.requestID.isEmpty {
            response.headers.append(HTTPField(name: .xRequestID, value: request.requestID))
        }
        // API answers are per caller (threads, runs, a key's view): no shared or browser cache may keep them.
        if response.headers[.cacheControl] == nil {
            response.headers.append(HTTPField(name: .cacheControl, value: "no-store"))
        }
        return response
    }

    private func errorResponse(_ error: any Error, _ request: Request, _ context: RequestContext) -> Response {
        switch error {
        case let error as APIError:
            return error.response(for: request)
        case let error as any RunProblemConvertible:
            return APIError(error.problem).response(for: request)
        case is CancellationError, is ClientDisconnected:
            return APIError(status: 503, code: "cancelled", detail: "The request was cancelled.")
                .response(for: request)
        default:
            context.logger.error("request.failed", metadata: ["error": "\(String(reflecting: error))", "path": "\(request.path)"])
            return APIError.internalError(requestID: request.requestID).response(for: request)
        }
    }
}

/// Builds the application: one function used by `main` and by the tests.
public func makeApp(_ dependencies: Dependencies) -> Application {
    // Without a store the thread routes still exist (and are documented); they answer 503.
    let engine = dependencies.engine ?? RunEngine(
        store: UnavailableStore(), workerID: "none", logger: dependencies.logger, catalog: dependencies.catalog, formats: .langGraph(catalog: dependencies.catalog),
        clock: dependencies.clock, makeID: dependencies.makeID, httpClient: dependencies.httpClient, watchdog: dependencies.watchdog)
    var router = Router()
    MetaEndpoints(dependencies: dependencies).register(in: &router)
    let resolver = AgentResolver(catalog: dependencies.catalog, reader: engine.reader)
    AgentEndpoints(resolver: resolver).register(in: &router)
    AssistantEndpoints(resolver: resolver, engine: engine).register(in: &router)
    AssistantGraphEndpoints(resolver: resolver).register(in: &router)
    ToolEndpoints(dependencies: dependencies, resolver: resolver).register(in: &router)
    RunEndpoints(dependencies: dependencies, engine: engine).register(in: &router)
    ThreadEndpoints(engine: engine, makeID: dependencies.makeID).register(in: &router)
    ThreadRunEndpoints(dependencies: dependencies, engine: engine).register(in: &router)
    CronEndpoints(runs: ThreadRunEndpoints(dependencies: dependencies, engine: engine)).register(in: &router)
    ThreadStreamEndpoints(dependencies: dependencies, engine: engine).register(in: &router)
    OpenAIEndpoints(dependencies: dependencies, engine: engine).register(in: &router)
    MCPEndpoints(dependencies: dependencies, engine: engine).register(in: &router)
    BulkEndpoints(dependencies: dependencies, engine: engine).register(in: &router)
    ThreadStateEndpoints(engine: engine, makeID: dependencies.makeID).register(in: &router)
    StoreEndpoints(engine: engine).register(in: &router)
    return Application(router: router, logger: dependencies.logger,
                       authenticator: dependencies.requireKeys ? Authenticator(store: engine.reader) : nil)
}

/// Ends a request's span once: after its stream, or when the stream is dropped unwritten (the client left before the
/// head went out, and the transport released the body without running it).
final class SpanEnding: Sendable {
    let span: any Span
    private let open = Atomic<Bool>(true)

    init(_ span: any Span) { self.span = span }

    func end() {
        if open.exchange(false, ordering: .acquiringAndReleasing) { span.end() }
    }

    deinit { end() }
}
