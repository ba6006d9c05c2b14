import HTTPTypes
import Runs
/// Health and version: cheap, inline, no authentication.
struct MetaEndpoints {
    let dependencies: Dependencies

    func register(in router: inout Router) {
        let ok = Array(#"{"ok":true}"#.utf8)
        router.add(Route("GET", "/ok", operationID: "health", access: .open, summary: "Health check", doc: .health, handler: .inline { _, _ in
            .json(ok)
        }))
        let info = encodeJSON(Info(version: dependencies.version))
        router.add(Route("GET", "/info", operationID: "info", access: .open, summary: "Server name, version and features", doc: .info, handler: .inline { _, _ in
            .json(info)
        }))
        // No key: nginx admits only METRICS_ALLOW's addresses, and the workers' sockets are nginx's alone.
        let metrics = dependencies.metrics
        router.add(Route("GET", "/metrics", operationID: "metrics", access: .open, summary: "Prometheus metrics of every worker of this host",
                         doc: .metrics, handler: .async { _, _ in
            guard let metrics else {
                throw APIError(status: 404, code: "not_found", detail: "This server exports no metrics.")
            }
            var headers = HTTPFields()
            headers.append(HTTPField(name: .contentType, value: "text/plain; version=0.0.4; charset=utf-8"))
            return Response(status: 200, headers: headers, body: .bytes(Array(await metrics().utf8)))
        }))
    }

    struct Info: Encodable {
        var name = "agentfcgi"
        var version: String
        var flags: [String: Bool] = ["assistants": true, "agents": true, "streaming": true, "threads": true, "background_runs": true, "webhooks": true, "crons": true, "store": true]
    }
}
