import HTTPTypes
import Foundation
@testable import Handlers
import TestSupport
import Testing

/// The in-process driver of `APIClient`: each request goes straight to `Application.respond(to:)`, as the transport
/// hands it over (path and query apart, a request id of its own), with an admin key of tenant `t` unless the
/// request says otherwise; a streamed body is read to its end.
struct InProcessClient: APIClient {
    let harness: ThreadHarness
    let key: String

    /// A fresh application over its own SQLite file that requires keys, as a worker does.
    static func make() async throws -> InProcessClient {
        let harness = try ThreadHarness(requireKeys: true)
        return InProcessClient(harness: harness, key: try await harness.makeKey(tenant: "t", scopes: ["admin"]))
    }

    func send(_ request: APIRequest) async throws -> APIResult {
        let method = try #require(HTTPRequest.Method(request.method), "method \(request.method)")
        let parts = request.path.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)
        var fields = HTTPFields()
        for (name, value) in request.headers {
            fields.append(HTTPField(name: try #require(HTTPField.Name(name), "header \(name)"), value: value))
        }
        if request.authenticated, !request.namesACredential {
            fields.append(HTTPField(name: .xAPIKey, value: key))
        }
        let incoming = Request(method: method, path: String(parts[0]), query: parts.count > 1 ? String(parts[1]) : "",
                               headers: fields, requestID: UUID().uuidString.lowercased(), body: request.body ?? [])
        let response = await harness.app.respond(to: incoming)
        let body: [UInt8]
        switch response.body {
        case .bytes(let bytes): body = bytes
        case .stream:
            let writer = CollectingWriter()
            body = Array(try await bodyText(response, writer: writer).utf8)
        }
        return APIResult(status: response.status.code,
                         headers: response.headers.map { ($0.name.canonicalName, $0.value) },
                         body: body)
    }
}

/// The scenarios that LiveScenarioTests runs through nginx, each on a fresh application here.
@Suite struct ScenarioTests {
    @Test(arguments: Scenario.allCases)
    func inProcess(_ scenario: Scenario) async throws {
        let client = try await InProcessClient.make()
        defer { client.harness.loop.cancel() }
        try await scenario.run(on: client)
    }
}
