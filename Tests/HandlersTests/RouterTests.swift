import HTTPTypes
@testable import Handlers
import Testing

@Suite struct RouterTests {
    func router() -> Router {
        var router = Router()
        router.add(Route("GET", "/runs/{run_id}", operationID: "a", access: .open, summary: "", handler: .inline { _, _ in Response() }))
        router.add(Route("POST", "/runs/stream", operationID: "b", access: .open, summary: "", handler: .inline { _, _ in Response() }))
        router.add(Route("DELETE", "/runs/{run_id}", operationID: "c", access: .open, summary: "", handler: .inline { _, _ in Response() }))
        return router
    }

    @Test func literalSegmentsWinOverParameters() throws {
        guard case .found(let route, let parameters) = router().match(method: "POST", path: "/runs/stream") else {
            Issue.record("no match")
            return
        }
        #expect(route.operationID == "b")
        #expect(parameters.isEmpty)
    }

    @Test func parametersArePercentDecoded() {
        guard case .found(let route, let parameters) = router().match(method: "GET", path: "/runs/a%20b/") else {
            Issue.record("no match")
            return
        }
        #expect(route.operationID == "a")
        #expect(parameters == ["run_id": "a b"])
    }

    @Test func wrongMethodListsAllowedMethods() {
        guard case .methodNotAllowed(let allowed) = router().match(method: "PUT", path: "/runs/123") else {
            Issue.record("expected 405")
            return
        }
        #expect(Set(allowed) == ["GET", "DELETE"])
    }

    @Test func aLiteralRouteWithAnotherMethodIsA405NotAParameterMatch() {
        guard case .methodNotAllowed(let allowed) = router().match(method: "GET", path: "/runs/stream") else {
            Issue.record("expected 405")
            return
        }
        #expect(allowed == ["POST"])
    }

    @Test func threadRoutesAreUniqueToo() throws {
        let routes = try ThreadHarness().app.router.routes
        let keys = routes.map { "\($0.method) \($0.shape)" }
        #expect(Set(keys).count == keys.count)
        #expect(Set(routes.map(\.operationID)).count == routes.count)
        for path in ["/threads", "/threads/{thread_id}/runs/stream", "/threads/{thread_id}/runs/{run_id}/stream", "/runs/{run_id}/cancel"] {
            #expect(routes.contains { $0.path == path }, "missing \(path)")
        }
    }

    @Test func unknownPathIsNotFound() {
        guard case .notFound = router().match(method: "GET", path: "/nope/1/2") else {
            Issue.record("expected 404")
            return
        }
    }

    @Test func appRoutesHaveUniqueShapesAndOperationIDs() {
        let routes = makeTestApp().router.routes
        let keys = routes.map { "\($0.method) \($0.shape)" }
        #expect(Set(keys).count == keys.count)
        #expect(Set(routes.map(\.operationID)).count == routes.count)
        for path in ["/ok", "/info", "/agents/search", "/agents/{agent_id}", "/agents/{agent_id}/schemas",
                     "/assistants/search", "/runs/wait", "/runs/stream"] {
            #expect(routes.contains { $0.path == path }, "missing \(path)")
        }
    }

    @Test func appAnswers404And405AsProblems() async throws {
        let app = makeTestApp()
        let missing = await app.respond(to: Request(method: .get, path: "/nope", requestID: "r1"))
        #expect(missing.status == 404)
        #expect(missing.headers[.contentType] == "application/problem+json")
        #expect(missing.headers[.xRequestID] == "r1")
        let wrong = await app.respond(to: Request(method: .delete, path: "/ok"))
        #expect(wrong.status == 405)
        #expect(wrong.headers[.allow] == "GET")
        let problem = try await jsonObject(wrong)
        #expect(problem["code"] as? String == "method_not_allowed")
    }

    /// The walk over every route in specificity order that the router did before it kept routes by segment count.
    static func walkAll(_ routes: [Route], method: String, path: String) -> RouteMatch {
        let parts = path.split(separator: "/", omittingEmptySubsequences: true)
        var allowed: [String] = []
        var bestSpecificity: Int?
        for route in routes {
            if let best = bestSpecificity, route.specificity < best { break }
            guard let parameters = route.match(parts) else { continue }
            bestSpecificity = route.specificity
            if route.method == method || (method == "HEAD" && route.method == "GET") { return .found(route, parameters: parameters) }
            if !allowed.contains(route.method) { allowed.append(route.method) }
        }
        return allowed.isEmpty ? .notFound : .methodNotAllowed(allowed: allowed)
    }

    static func describe(_ match: RouteMatch) -> String {
        switch match {
        case .found(let route, let parameters): "found \(route.operationID) \(parameters.sorted { $0.key < $1.key })"
        case .methodNotAllowed(let allowed): "405 \(allowed)"
        case .notFound: "404"
        }
    }

    /// Paths made from the app's own templates (parameters filled, segments dropped, added, doubled slashes), every
    /// method: the router gives what the walk over the whole table gives.
    @Test func matchingByCountAgreesWithTheWalkOverEveryRoute() {
        let router = makeTestApp().router
        var generator = SystemRandomNumberGenerator()
        let words = ["runs", "wait", "stream", "threads", "x", "a%20b", "", "history", "state", "v1", "ok", "search"]
        var checked = 0
        for route in router.routes {
            for _ in 0..<8 {
                var parts = route.path.split(separator: "/").map { $0.hasPrefix("{") ? words.randomElement(using: &generator)! : String($0) }
                switch Int.random(in: 0..<4, using: &generator) {
                case 0: if !parts.isEmpty { parts.removeLast() }
                case 1: parts.append(words.randomElement(using: &generator)!)
                case 2: if !parts.isEmpty { parts[Int.random(in: 0..<parts.count, using: &generator)] = words.randomElement(using: &generator)! }
                default: break
                }
                let path = "/" + parts.joined(separator: Bool.random(using: &generator) ? "/" : "//") + (Bool.random(using: &generator) ? "/" : "")
                for method in ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"] {
                    let fast = Self.describe(router.match(method: method, path: path))
                    #expect(fast == Self.describe(Self.walkAll(router.routes, method: method, path: path)), "\(method) \(path)")
                    checked += 1
                }
            }
        }
        #expect(checked > 1_000)
        #expect(Self.describe(router.match(method: "GET", path: "/")) == Self.describe(Self.walkAll(router.routes, method: "GET", path: "/")))
        #expect(Self.describe(router.match(method: "GET", path: "/a/b/c/d/e/f/g/h/i/j")) == "404")
    }
}
