import Foundation
import Testing

/// A new database on the throw-away PostgreSQL server that scripts/test.sh starts (POSTGRES_URL), for one live test.
func postgresDatabase() async throws -> String {
    let base = try #require(ProcessInfo.processInfo.environment["POSTGRES_URL"], "POSTGRES_URL is not set: run the tests through scripts/test.sh")
    var components = try #require(URLComponents(string: base))
    let name = "live_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(12).lowercased()
    let created = try LiveCluster.run("/usr/bin/createdb", ["-h", components.host ?? "127.0.0.1", "-p", String(components.port ?? 5432),
                                                            "-U", components.user ?? "postgres", name])
    guard created.status == 0 else { throw LiveError("createdb failed: \(created.output)") }
    components.path = "/" + name
    return components.string!
}
