import Testing

/// Where a live cluster's workers run and which store they share. A test that must hold however the workers are
/// deployed takes it as its argument (`@Test(arguments: Topology.allCases)`) instead of being copied per variant.
enum Topology: String, CaseIterable, Sendable, CustomTestStringConvertible {
    /// Workers on unix sockets beside nginx, one SQLite file: one host.
    case oneHostSQLite
    /// Workers on TCP ports of this machine, one PostgreSQL database.
    case postgresOverTCP
    /// Each worker in a network namespace of its own, reached over a veth pair and reaching PostgreSQL through its
    /// gateway: separate hosts on one machine (needs root).
    case separateHosts

    var database: LiveDatabase { self == .oneHostSQLite ? .sqlite : .postgres }

    var testDescription: String {
        switch self {
        case .oneHostSQLite: "one host, SQLite"
        case .postgresOverTCP: "PostgreSQL over TCP"
        case .separateHosts: "separate hosts, PostgreSQL"
        }
    }
}

/// The store a live test's workers share: a SQLite file on this host, or a new database on the PostgreSQL server
/// that scripts/test.sh starts (POSTGRES_URL).
enum LiveDatabase: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case sqlite
    case postgres

    var testDescription: String { self == .sqlite ? "SQLite" : "PostgreSQL" }

    /// The `--database` of a cluster: nil for the cluster's own SQLite file, else a new PostgreSQL database.
    func clusterURL() async throws -> String? {
        self == .sqlite ? nil : try await postgresDatabase()
    }
}

/// Runs `body` against a fresh cluster laid out as `topology` says, and always stops it.
func withCluster(topology: Topology, workers: Int = 2, arguments: [String] = [],
                 _ body: (LiveCluster) async throws -> Void) async throws {
    try await withCluster(workers: workers, arguments: arguments, postgres: try await topology.database.clusterURL(),
                          tcp: topology == .postgresOverTCP, hosts: topology == .separateHosts, body)
}
