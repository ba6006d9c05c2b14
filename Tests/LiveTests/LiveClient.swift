import AsyncHTTPClient
import NIOHTTP1
import TestSupport
import Testing

/// The live driver of `APIClient`: HTTPS through the cluster's nginx to its workers, with the cluster's admin key
/// unless the request says otherwise; the body is read to its end.
struct LiveClient: APIClient {
    let cluster: LiveCluster

    func send(_ request: APIRequest) async throws -> APIResult {
        // Content-Type travels in the request's headers, as the scenario set it.
        let response = try await cluster.fetch(HTTPMethod(rawValue: request.method), request.path, bytes: request.body,
                                               headers: request.headers.map { ($0.name, $0.value) }, contentType: nil,
                                               authenticated: request.authenticated)
        return APIResult(status: response.status, headers: response.headers.map { ($0.0, $0.1) }, body: Array(response.body.utf8))
    }
}

/// One cluster for a whole suite: started before its first test and stopped after its last (a suite trait that is not
/// recursive scopes the suite once); its tests reach it as `SharedCluster.current`.
struct SharedCluster: SuiteTrait, TestScoping {
    @TaskLocal static var current: LiveCluster?

    func provideScope(for test: Test, testCase: Test.Case?, performing function: @Sendable () async throws -> Void) async throws {
        try await withCluster(workers: 2) { cluster in
            try await Self.$current.withValue(cluster) { try await function() }
        }
    }
}

extension Trait where Self == SharedCluster {
    static var sharedCluster: Self { Self() }
}

/// The scenarios that HandlersTests' ScenarioTests run in-process, here through nginx and two workers on one
/// SQLite file: one cluster for all of them, so that they add requests to the live suite and no cluster start.
/// Serialized: they share the cluster's tenant, and one counts its threads.
@Suite(.serialized, .sharedCluster) struct LiveScenarioTests {
    @Test(arguments: Scenario.allCases)
    func throughNginx(_ scenario: Scenario) async throws {
        let cluster = try #require(SharedCluster.current, "the suite's cluster")
        try await scenario.run(on: LiveClient(cluster: cluster))
    }
}
