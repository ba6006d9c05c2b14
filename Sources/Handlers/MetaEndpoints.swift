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
    }

    struct Info: Encodable {
        var name = "agentfcgi"
        var version: String
        var flags: [String: Bool] = ["assistants": true, "agents": true, "streaming": true, "threads": true, "background_runs": true, "webhooks": true, "crons": true, "store": true]
    }
}
