import HTTPTypes
import Runs
import AgentRuntime
import Foundation
@testable import Handlers
import Testing

@Suite struct OpenAPITests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    func document(_ app: Application, catalog: AgentCatalog) -> JSONValue {
        OpenAPIDocument.make(routes: app.router.routes, catalog: catalog, version: agentfcgiVersion)
    }

    @Test func everyRouteCarriesItsDocumentation() throws {
        let h = try ThreadHarness()
        let undocumented = OpenAPIDocument.undocumented(h.app.router.routes)
        #expect(undocumented.isEmpty, "routes without documentation: \(undocumented)")
        let paths = document(h.app, catalog: AgentCatalog(agents: ThreadHarness.agents)).objectValue?["paths"]?.objectValue ?? [:]
        let operations = paths.values.reduce(0) { $0 + ($1.objectValue?.count ?? 0) }
        #expect(operations == h.app.router.routes.count)
    }

    @Test func theCommittedCopyIsWhatTheBinaryGenerates() throws {
        let catalog = try AgentConfigLoader.load(path: Self.repository.appendingPathComponent("agents.yaml").path)
        let generated = OpenAPIDocument.encoded(document(makeTestApp(), catalog: catalog))
        let committed = try Data(contentsOf: Self.repository.appendingPathComponent("deploy/openapi.json"))
        #expect(Array(committed) == generated,
                "deploy/openapi.json is stale: run `.build/debug/agentfcgi openapi --config agents.yaml > deploy/openapi.json`")
    }

    @Test func everyReferenceResolves() throws {
        let doc = document(makeTestApp(), catalog: AgentCatalog(agents: ThreadHarness.agents))
        let text = String(decoding: OpenAPIDocument.encoded(doc), as: UTF8.self)
        let components = doc.objectValue?["components"]?.objectValue ?? [:]
        let refs = Set(text.matches(of: /"\$ref" : "#\/components\/(\w+)\/(\w+)"/).map { (String($0.1), String($0.2)) }.map { "\($0.0)/\($0.1)" })
        #expect(!refs.isEmpty)
        for ref in refs {
            let parts = ref.split(separator: "/").map(String.init)
            #expect(components[parts[0]]?.objectValue?[parts[1]] != nil, "dangling $ref \(ref)")
        }
    }

    /// Real answers of the handlers, checked against the response schemas the document gives for them.
    @Test func responsesMatchTheirSchemas() async throws {
        let h = try ThreadHarness()
        let doc = document(h.app, catalog: AgentCatalog(agents: ThreadHarness.agents))
        let thread = try await h.newThread()
        let waited = await h.call("POST", "/threads/\(thread)/runs/wait", ThreadHarness.input("hello"))
        let runs = try JSONSerialization.jsonObject(with: Data(try await bodyText(h.call("GET", "/threads/\(thread)/runs")).utf8)) as? [[String: Any]]
        let runID = try #require(runs?.first?["run_id"] as? String)
        let checks: [(String, String, String?, Int)] = [
            ("GET", "/ok", nil, 200), ("GET", "/info", nil, 200), ("POST", "/agents/search", "{}", 200),
            ("GET", "/assistants/echo", nil, 200), ("GET", "/agents/echo/schemas", nil, 200), ("GET", "/agents/echo/tools", nil, 200),
            ("GET", "/threads/\(thread)", nil, 200), ("GET", "/threads/\(thread)/state", nil, 200),
            ("POST", "/threads/\(thread)/history", "{}", 200), ("GET", "/threads/\(thread)/runs", nil, 200),
            ("GET", "/threads/\(thread)/runs/\(runID)", nil, 200), ("GET", "/runs/\(runID)/webhooks", nil, 200),
            ("GET", "/threads/\(thread)/runs/\(runID)/join", nil, 200), ("POST", "/threads/search", "{}", 200),
            ("POST", "/runs", ThreadHarness.input("queued"), 200), ("POST", "/runs/wait", ThreadHarness.input("x"), 200),
            ("GET", "/threads/nope", nil, 404), ("POST", "/threads", #"{"ttl":-1}"#, 422), ("POST", "/runs/wait", "{", 400),
            ("GET", "/v1/models", nil, 200), ("GET", "/v1/models/echo", nil, 200), ("GET", "/v1/models/nope", nil, 404),
            ("POST", "/v1/chat/completions", #"{"model":"echo","messages":[{"role":"user","content":"hi"}]}"#, 200),
            ("POST", "/v1/chat/completions", #"{"model":"echo","messages":[]}"#, 400),
            ("POST", "/v1/responses", #"{"model":"echo","input":"hi","store":false}"#, 200),
            ("POST", "/v1/responses", #"{"model":"echo","input":"hi","background":true}"#, 200),
            ("GET", "/v1/responses/resp_nope", nil, 404),
        ]
        var responses = checks.map { ($0.0, $0.1, $0.3) }
        #expect(waited.status == 200)
        for (method, path, body, _) in checks {
            let response = await h.call(method, path, body)
            let template = try #require(h.app.router.routes.first { route in
                route.method == method && route.match(path.split(separator: "/")) != nil
            }?.path)
            let text = try await bodyText(response)
            let value = try JSONDecoder().decode(JSONValue.self, from: Data(text.utf8))
            let schema = try #require(Self.responseSchema(doc, path: template, method: method, status: response.status.code),
                                      "\(method) \(template) \(response.status) is not documented")
            let violations = JSONSchemaValidator.validate(value, against: Self.resolve(schema, in: doc), path: "body")
            #expect(violations.isEmpty, "\(method) \(path) -> \(response.status): \(violations)")
            responses.removeAll { $0.0 == method && $0.1 == path && $0.2 == response.status.code }
        }
        #expect(responses.isEmpty, "unexpected statuses: \(responses)")
    }

    static func responseSchema(_ doc: JSONValue, path: String, method: String, status: Int) -> JSONValue? {
        guard var response = doc.objectValue?["paths"]?.objectValue?[path]?.objectValue?[method.lowercased()]?
            .objectValue?["responses"]?.objectValue?[String(status)] else { return nil }
        if let ref = response.objectValue?["$ref"], case .string(let target) = ref {
            response = doc.objectValue?["components"]?.objectValue?["responses"]?.objectValue?[String(target.split(separator: "/").last!)] ?? .null
        }
        let content = response.objectValue?["content"]?.objectValue
        return (content?["application/json"] ?? content?["application/problem+json"])?.objectValue?["schema"]
    }

    /// Inlines `$ref`s (the components are not recursive).
    static func resolve(_ schema: JSONValue, in doc: JSONValue) -> JSONValue {
        switch schema {
        case .object(let object):
            if case .string(let ref)? = object["$ref"] {
                let name = String(ref.split(separator: "/").last!)
                return resolve(doc.objectValue?["components"]?.objectValue?["schemas"]?.objectValue?[name] ?? .null, in: doc)
            }
            return .object(object.mapValues { resolve($0, in: doc) })
        case .array(let items):
            return .array(items.map { resolve($0, in: doc) })
        default:
            return schema
        }
    }
}
