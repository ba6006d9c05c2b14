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
}
