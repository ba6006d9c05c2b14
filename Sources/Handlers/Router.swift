import AgentRuntime
import Logging

/// What a route runs. `inline` handlers are synchronous and cheap (health, info, listings): the transport
/// calls them on its own thread and skips the hop to a Task. Everything that waits goes `async`.
public enum RouteHandler: Sendable {
    case inline(@Sendable (Request, RequestContext) throws -> Response)
    case async(@Sendable (Request, RequestContext) async throws -> Response)
}

/// Who may call an operation: anyone (health, info), a key with that scope (or `admin`), or any valid key whose
/// scopes the handler checks per operation inside the request (MCP's JSON-RPC methods; the text says which).
public enum Access: Sendable, Equatable {
    case open
    case scope(String)
    case perOperation(String)

    /// The scope a key needs; nil for an open operation and for one the handler checks itself.
    public var scope: String? {
        if case .scope(let scope) = self { scope } else { nil }
    }

    var needsKey: Bool { self != .open }
}

/// One operation: the route table is data, so it can be listed (OpenAPI, docs) and checked for clashes. Each route
/// states its own access: authentication and the OpenAPI document read it here, so they cannot disagree.
///
/// A class: matching walks the table on every request, and copying a struct this size (its documentation included)
/// cost a retain and a release per field per route walked.
public final class Route: Sendable {
    public let method: String
    /// A template such as `/agents/{agent_id}/schemas`.
    public let path: String
    public let operationID: String
    public let access: Access
    public let summary: String
    /// What the OpenAPI document says of it beyond the summary: bodies, parameters, responses.
    let doc: OpenAPIDocument.Operation?
    public let handler: RouteHandler
    let segments: [Segment]
    /// More literal segments win: `POST /runs/stream` before `POST /runs/{run_id}`.
    let specificity: Int

    enum Segment: Sendable, Equatable {
        case literal(String)
        case parameter(String)
    }

    public convenience init(_ method: String, _ path: String, operationID: String, access: Access, summary: String, handler: RouteHandler) {
        self.init(method, path, operationID: operationID, access: access, summary: summary, doc: nil, handler: handler)
    }

    init(_ method: String, _ path: String, operationID: String, access: Access, summary: String, doc: OpenAPIDocument.Operation?,
         handler: RouteHandler) {
        self.doc = doc
        self.method = method
        self.path = path
        self.operationID = operationID
        self.access = access
        self.summary = summary
        self.handler = handler
        let segments: [Segment] = path.split(separator: "/").map { part in
            part.hasPrefix("{") && part.hasSuffix("}")
                ? .parameter(String(part.dropFirst().dropLast())) : .literal(String(part))
        }
        self.segments = segments
        self.specificity = segments.count { if case .literal = $0 { true } else { false } }
    }

    /// Path parameters when `parts` fit this template; literals must match exactly.
    func match(_ parts: [Substring]) -> [String: String]? {
        guard parts.count == segments.count else { return nil }
        var parameters: [String: String] = [:]
        for (segment, part) in zip(segments, parts) {
            switch segment {
            case .literal(let literal):
                guard part == literal else { return nil }
            case .parameter(let name):
                guard !part.isEmpty else { return nil }
                parameters[name] = percentDecode(part, plusAsSpace: false)
            }
        }
        return parameters
    }

    /// The template with parameter names erased: two routes with the same shape and method clash.
    var shape: String {
        segments.map { if case .literal(let text) = $0 { text } else { "{}" } }.joined(separator: "/")
    }
}

public enum RouteMatch: Sendable {
    case found(Route, parameters: [String: String])
    case methodNotAllowed(allowed: [String])
    case notFound
}

/// Routes by method and path segments. Built once at start-up; matching allocates only the parameters.
public struct Router: Sendable {
    public private(set) var routes: [Route] = []
    /// `routes` by their number of segments, each list in the order of `routes`: only a route with as many segments
    /// as the path can fit it, so a request walks a handful of routes, not the whole table.
    private var bySegmentCount: [[Route]] = []

    public init() {}

    /// Adds a route. Two routes with the same method and shape are a programming error caught at start-up.
    public mutating func add(_ route: Route) {
        precondition(!routes.contains { $0.method == route.method && $0.shape == route.shape },
                     "route clash: \(route.method) \(route.path)")
        routes.append(route)
        routes.sort { $0.specificity > $1.specificity }
        bySegmentCount = Array(repeating: [], count: (routes.map(\.segments.count).max() ?? 0) + 1)
        for route in routes { bySegmentCount[route.segments.count].append(route) }
    }

    public func match(method: String, path: String) -> RouteMatch {
        let parts = path.split(separator: "/", omittingEmptySubsequences: true)
        // A trailing slash or doubled slashes are tolerated; an empty path is the root.
        guard parts.count < bySegmentCount.count else { return .notFound }
        var allowed: [String] = []
        var bestSpecificity: Int?
        for route in bySegmentCount[parts.count] {
            // Once a route fits, only routes as literal as it compete: `GET /runs/wait` is a wrong method on
            // `POST /runs/wait` (405), not a run named "wait".
            if let best = bestSpecificity, route.specificity < best { break }
            guard let parameters = route.match(parts) else { continue }
            bestSpecificity = route.specificity
            if route.method == method || (method == "HEAD" && route.method == "GET") {
                return .found(route, parameters: parameters)
            }
            if !allowed.contains(route.method) { allowed.append(route.method) }
        }
        return allowed.isEmpty ? .notFound : .methodNotAllowed(allowed: allowed)
    }
}

/// What a handler gets besides the request.
public struct RequestContext: Sendable {
    public var parameters: [String: String]
    public var requestID: String
    public var logger: Logger
    /// The caller, when the server requires API keys.
    public var principal: Principal?

    public init(parameters: [String: String] = [:], requestID: String = "", logger: Logger) {
        self.parameters = parameters
        self.requestID = requestID
        self.logger = logger
    }

    public func parameter(_ name: String) -> String { parameters[name] ?? "" }
}
