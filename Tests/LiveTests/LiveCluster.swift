import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import NIOSSL
import Testing

/// The real thing on loopback: N `agentfcgi` worker processes behind a real nginx speaking HTTPS, rendered from
/// `deploy/nginx` with a CA from `scripts/certs.sh`, exactly as the run command does it. Stopped by `stop()`.
final class LiveCluster: @unchecked Sendable {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    static var binary: String {
        ProcessInfo.processInfo.environment["AGENTFCGI_BIN"] ?? repository.appendingPathComponent(".build/debug/agentfcgi").path
    }

    /// Agents for the live tests; the built-in model's delay makes streams observable in time.
    static let config = """
        agents:
          - id: echo
            model: {provider: builtin, token_delay_ms: 0}
            limits: {max_context_tokens: 1000000, max_input_chars: 1000000}   # the stalled-client test echoes 120,000 words
          - id: ticker
            model: {provider: builtin, token_delay_ms: 100}
          - id: slow
            model: {provider: builtin, token_delay_ms: 700}
          - id: assistant
            model: {provider: builtin, token_delay_ms: 10}
            tools: [calculator, current_time]
          - id: careful
            model: {provider: builtin, token_delay_ms: 10}
            tools: [calculator]
            approvals: {calculator: always}
          - id: kb
            model: {provider: builtin}
            tools: [{name: knowledge_search, folder: "\(repository.appendingPathComponent("Tests/Fixtures/knowledge").path)"}]
        """

    let directory: URL
    let httpsPort: Int
    let client: HTTPClient
    private(set) var workers: [Process] = []
    private var nginx: Process?
    let workerArguments: [String]
    let workerCount: Int
    let httpPort: Int

    var baseURL: String { "https://127.0.0.1:\(httpsPort)" }

    init(workers count: Int = 2, workerArguments: [String] = [], http2: Bool = false, extraAgents: String = "") throws {
        let binary = Self.binary
        #expect(FileManager.default.isExecutableFile(atPath: binary), "build the worker first: \(binary)")
        let directory = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("agentfcgi-live-\(UUID().uuidString.prefix(8))")
        for sub in ["run", "logs", "certs", "nginx", "docs"] {
            try FileManager.default.createDirectory(at: directory.appendingPathComponent(sub), withIntermediateDirectories: true)
        }
        // nginx's workers run as www-data and must reach the sockets.
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: directory.path)
        try (Self.config + "\n" + extraAgents).write(to: directory.appendingPathComponent("agents.yaml"), atomically: true, encoding: .utf8)
        self.directory = directory
        self.workerArguments = workerArguments
        self.httpsPort = try Self.freePort()
        self.httpPort = try Self.freePort()
        self.workerCount = count

        try Self.runToEnd("/bin/bash", [Self.repository.appendingPathComponent("scripts/certs.sh").path, directory.appendingPathComponent("certs").path])
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.trustRoots = .file(directory.appendingPathComponent("certs/ca.crt").path)
        var configuration = HTTPClient.Configuration(tlsConfiguration: tls)
        configuration.httpVersion = http2 ? .automatic : .http1Only
        configuration.timeout = .init(connect: .seconds(5), read: .seconds(60))
        client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }

    /// Starts the workers and nginx and waits until `/ok` answers through nginx.
    func start() async throws {
        let count = workerCount
        // An admin key for the tests' requests, made the way an operator makes one.
        let created = try Self.run(Self.binary, ["keys", "create", "--database", databasePath, "--name", "live-tests",
                                                 "--tenant", "live", "--scopes", "admin", "--quiet"])
        guard created.status == 0 else { throw LiveError("keys create failed: \(created.output)") }
        apiKey = created.output.split(separator: "\n").last.map { $0.trimmingCharacters(in: .whitespaces) } ?? ""
        guard apiKey.hasPrefix("afk_") else { throw LiveError("keys create printed no key: \(created.output)") }
        for index in 1...count {
            try startWorker(index)
        }
        for index in 1...count where tcpPorts == nil && hostNamespaces == nil {
            try await waitForFile(socketPath(index))
            if launches[index, default: .listen] != .listen {
                // The parent made this socket, with its own umask: let nginx's workers in.
                chmod(socketPath(index), 0o666)
            }
        }
        var environment = ProcessInfo.processInfo.environment
        environment["PREFIX"] = directory.appendingPathComponent("nginx").path
        environment["UPSTREAMS"] = hostNamespaces != nil ? (1...count).map { "\(hostAddress($0).worker):9000" }.joined(separator: " ")
            : tcpPorts.map { $0.map { "127.0.0.1:\($0)" }.joined(separator: " ") }
            ?? (1...count).map { "unix:" + socketPath($0) }.joined(separator: " ")
        environment["TLS_CERT"] = directory.appendingPathComponent("certs/server.crt").path
        environment["TLS_KEY"] = directory.appendingPathComponent("certs/server.key").path
        environment["HTTPS_PORT"] = String(httpsPort)
        environment["HTTP_PORT"] = String(httpPort)
        environment["DOCS_ROOT"] = directory.appendingPathComponent("docs").path
        environment["RATE"] = "10000r/s"
        environment["KEY_RATE"] = "10000r/s"
        environment["BURST"] = "10000"
        environment["MAX_STREAMS"] = "0"
        environment["MAX_CONNS"] = "0"
        environment["KEY_STREAMS"] = "0"
        if getuid() == 0 { environment["NGINX_USER"] = "www-data" }
        environment.merge(nginxEnvironment) { _, new in new }
        try Self.runToEnd(Self.launcher, ["nginx-config"], environment: environment)

        let nginx = Process()
        nginx.executableURL = URL(fileURLWithPath: Self.launcher)
        nginx.arguments = ["nginx", directory.appendingPathComponent("nginx").path]
        nginx.standardOutput = FileHandle.nullDevice
        nginx.standardError = try FileHandle(forWritingTo: touch(directory.appendingPathComponent("logs/nginx.out")))
        try nginx.run()
        self.nginx = nginx
        try await waitForOK()
    }

    /// One SQLite file for every worker of the cluster, as on one host; or a PostgreSQL URL, as across hosts.
    var databaseURL: String?
    var databasePath: String { databaseURL ?? directory.appendingPathComponent("data/agentfcgi.sqlite").path }
    /// Workers on TCP ports (as on other hosts) instead of unix sockets.
    var tcpPorts: [Int]?
    /// Workers each in a network namespace of its own, reached over a veth pair: separate hosts on one machine.
    var hostNamespaces: [String]?

    /// The address a worker listens on, and the address it reaches this machine (PostgreSQL) at.
    func hostAddress(_ index: Int) -> (worker: String, gateway: String) { ("10.77.\(index).2", "10.77.\(index).1") }

    static func ip(_ arguments: [String]) throws {
        let result = try run("/usr/sbin/ip", arguments)
        guard result.status == 0 else { throw LiveError("ip \(arguments.joined(separator: " ")): \(result.output)") }
    }

    /// One namespace per worker, with a veth pair to this one; leftovers of an earlier run are removed first.
    func makeHosts(_ count: Int) throws {
        let existing = (try? Self.run("/usr/sbin/ip", ["netns", "list"]).output) ?? ""
        for line in existing.split(separator: "\n") where line.hasPrefix("afcgi-h") {
            _ = try? Self.run("/usr/sbin/ip", ["netns", "delete", String(line.split(separator: " ")[0])])
        }
        var names: [String] = []
        for index in 1...count {
            let name = "afcgi-h\(index)"
            let (worker, gateway) = hostAddress(index)
            try Self.ip(["netns", "add", name])
            names.append(name)
            try Self.ip(["link", "add", "afcgi-v\(index)a", "type", "veth", "peer", "name", "afcgi-v\(index)b"])
            try Self.ip(["link", "set", "afcgi-v\(index)b", "netns", name])
            try Self.ip(["addr", "add", "\(gateway)/24", "dev", "afcgi-v\(index)a"])
            try Self.ip(["link", "set", "afcgi-v\(index)a", "up"])
            try Self.ip(["-n", name, "addr", "add", "\(worker)/24", "dev", "afcgi-v\(index)b"])
            try Self.ip(["-n", name, "link", "set", "afcgi-v\(index)b", "up"])
            try Self.ip(["-n", name, "link", "set", "lo", "up"])
        }
        hostNamespaces = names
    }

    func removeHosts() {
        for name in hostNamespaces ?? [] { _ = try? Self.run("/usr/sbin/ip", ["netns", "delete", name]) }
    }

    func socketPath(_ index: Int) -> String { directory.appendingPathComponent("run/worker-\(index).sock").path }
    func logPath(_ index: Int) -> URL { directory.appendingPathComponent("logs/worker-\(index).log") }

    /// How a worker gets its listening socket.
    enum Launch {
        /// `--listen unix:PATH`: the worker creates the socket.
        case listen
        /// systemd's socket-activation protocol (`LISTEN_FDS`, fd 3).
        case systemdActivation
        /// The socket on fd 0, as spawn-fcgi and `StandardInput=socket` pass it.
        case standardInput
    }

    var launches: [Int: Launch] = [:]
    /// Overrides of deploy/nginx/render.sh's settings (RATE, KEY_RATE, BURST ...).
    var nginxEnvironment: [String: String] = [:]
    /// Sent with every request the helpers make (X-Api-Key).
    var apiKey = ""
    /// Extra environment for the workers (webhook secrets).
    var workerEnvironment: [String: String] = [:]
    /// Listening sockets this harness holds for its workers, as systemd does: they outlive a worker's restart.
    private var heldSockets: [Int: Int32] = [:]

    func inheritedSocket(_ index: Int) throws -> FileHandle {
        let fd = try heldSockets[index] ?? Self.listeningSocket(socketPath(index))
        heldSockets[index] = fd
        return FileHandle(fileDescriptor: fd, closeOnDealloc: false)
    }

    /// scripts/launch.sh: how the service, the benchmark and these tests start workers and nginx.
    static let launcher = repository.appendingPathComponent("scripts/launch.sh").path

    func startWorker(_ index: Int) throws {
        var arguments = ["serve", "--config", directory.appendingPathComponent("agents.yaml").path, "--worker-name", "w\(index)",
                         "--database", databasePath]
        // The launcher and everything it runs exec in place: the pid is the worker's.
        var launcher = [Self.launcher]
        let process = Process()
        switch launches[index] ?? .listen {
        case .listen where hostNamespaces != nil:
            // `ip netns exec` enters the namespace and execs the launcher.
            var url = URLComponents(string: databasePath)!
            url.host = hostAddress(index).gateway
            arguments = arguments.map { $0 == databasePath ? url.string! : $0 }
            arguments += ["--listen", "\(hostAddress(index).worker):9000", "--database-connections", "8"]
            launcher = ["/usr/sbin/ip", "netns", "exec", hostNamespaces![index - 1], Self.launcher]
        case .listen where tcpPorts != nil:
            arguments += ["--listen", "127.0.0.1:\(tcpPorts![index - 1])", "--database-connections", "8"]
        case .listen:
            arguments += ["--listen", "unix:" + socketPath(index), "--socket-mode", getuid() == 0 ? "0660" : "0666"]
            if getuid() == 0 { arguments += ["--socket-group", "www-data"] }
        case .systemdActivation:
            // What systemd does: the socket as fd 3, LISTEN_FDS=1 and LISTEN_PID naming the worker's own pid.
            launcher = ["/bin/bash", "-c", #"exec 3<&0 0</dev/null; LISTEN_PID=$$ LISTEN_FDS=1 exec "$0" "$@""#, Self.launcher]
            process.standardInput = try inheritedSocket(index)
        case .standardInput:
            process.standardInput = try inheritedSocket(index)
        }
        process.executableURL = URL(fileURLWithPath: launcher[0])
        process.arguments = Array(launcher.dropFirst()) + ["worker", "--", Self.binary] + arguments + workerArguments
        if !workerEnvironment.isEmpty {
            process.environment = ProcessInfo.processInfo.environment.merging(workerEnvironment) { _, new in new }
        }
        let log = try FileHandle(forWritingTo: touch(logPath(index)))
        log.seekToEndOfFile()
        process.standardOutput = log
        process.standardError = log
        try process.run()
        if workers.count >= index { workers[index - 1] = process } else { workers.append(process) }
    }

    func log(_ index: Int) -> String {
        (try? String(contentsOf: logPath(index), encoding: .utf8)) ?? ""
    }

    var allLogs: String { (1...workers.count).map(log).joined() }

    /// The index of the worker whose log mentions `text` (a run id, a request id).
    func worker(mentioning text: String) -> Int? {
        (1...workers.count).first { log($0).contains(text) }
    }

    func signal(worker index: Int, _ signal: Int32) {
        kill(workers[index - 1].processIdentifier, signal)
    }

    /// Waits for a worker to exit and returns its exit status.
    func waitForExit(worker index: Int, timeout: Duration = .seconds(60)) async throws -> Int32 {
        let process = workers[index - 1]
        let deadline = ContinuousClock.now + timeout
        while process.isRunning {
            guard ContinuousClock.now < deadline else { throw LiveError("worker \(index) did not exit within \(timeout)") }
            try await Task.sleep(for: .milliseconds(20))
        }
        return process.terminationStatus
    }

    func stop() async {
        try? await client.shutdown()
        if let nginx, nginx.isRunning {
            nginx.terminate()
            nginx.waitUntilExit()
        }
        for process in workers where process.isRunning {
            process.terminate()
        }
        // A worker that no longer answers (deadlocked) ignores SIGTERM: the failed test must still end, and take it along.
        let deadline = ContinuousClock.now + .seconds(30)
        while workers.contains(where: \.isRunning), ContinuousClock.now < deadline { try? await Task.sleep(for: .milliseconds(50)) }
        for process in workers where process.isRunning {
            print("live: worker \(process.processIdentifier) still running 30 s after SIGTERM: SIGKILL")
            kill(process.processIdentifier, SIGKILL)
        }
        for process in workers { process.waitUntilExit() }
        removeHosts()
        for fd in heldSockets.values { close(fd) }
        if ProcessInfo.processInfo.environment["KEEP_LIVE_DIRS"] == nil {
            try? FileManager.default.removeItem(at: directory)
        }
    }

    // MARK: HTTP

    /// `authenticated`: whether the cluster's admin key goes with the request when `headers` name no credential.
    func request(_ method: HTTPMethod, _ path: String, body: String? = nil, headers: [(String, String)] = [],
                 contentType: String? = "application/json", authenticated: Bool = true) -> HTTPClientRequest {
        var request = HTTPClientRequest(url: baseURL + path)
        request.method = method
        if let body {
            if let contentType { request.headers.add(name: "Content-Type", value: contentType) }
            request.body = .bytes(ByteBuffer(string: body))
        }
        if authenticated, !apiKey.isEmpty, !headers.contains(where: { ["x-api-key", "authorization"].contains($0.0.lowercased()) }) {
            request.headers.add(name: "X-Api-Key", value: apiKey)
        }
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        return request
    }

    func fetch(_ method: HTTPMethod, _ path: String, body: String? = nil, bytes: [UInt8]? = nil,
               headers: [(String, String)] = [], contentType: String? = "application/json",
               authenticated: Bool = true) async throws -> LiveResponse {
        var request = self.request(method, path, body: body, headers: headers, contentType: contentType, authenticated: authenticated)
        if let bytes {
            if let contentType { request.headers.add(name: "Content-Type", value: contentType) }
            request.body = .bytes(ByteBuffer(bytes: bytes))
        }
        let response = try await client.execute(request, timeout: .seconds(30))
        let collected = try await response.body.collect(upTo: 64 << 20)
        return LiveResponse(status: Int(response.status.code), headers: response.headers.map { ($0.name.lowercased(), $0.value) },
                            body: String(buffer: collected))
    }

    private func waitForOK() async throws {
        // Bounds here only matter when something is broken: a debug build on a busy machine can start slowly.
        let deadline = ContinuousClock.now + .seconds(60)
        var last = "no answer"
        while ContinuousClock.now < deadline {
            do {
                let response = try await fetch(.GET, "/ok")
                if response.status == 200 { return }
                last = "\(response.status) \(response.body.prefix(200))"
            } catch {
                last = "\(error)"
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw LiveError("nginx did not answer /ok (last: \(last)); nginx log: \((try? String(contentsOf: directory.appendingPathComponent("nginx/logs/error.log"), encoding: .utf8)) ?? "")")
    }

    private func waitForFile(_ path: String) async throws {
        let deadline = ContinuousClock.now + .seconds(60)
        while !FileManager.default.fileExists(atPath: path) {
            guard ContinuousClock.now < deadline else { throw LiveError("no socket at \(path); log: \(allLogs)") }
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    // MARK: Helpers

    /// Runs a command to its end and returns its exit status and its output (stdout and stderr together).
    static func run(_ executable: String, _ arguments: [String], environment: [String: String]? = nil) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        if let environment { process.environment = environment }
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        try process.run()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return (process.terminationStatus, text)
    }

    static func runToEnd(_ executable: String, _ arguments: [String], environment: [String: String]? = nil) throws {
        let (status, output) = try run(executable, arguments, environment: environment)
        guard status == 0 else {
            throw LiveError("\(executable) \(arguments.joined(separator: " ")) failed: \(output)")
        }
    }

    /// A listening unix socket, as a process manager would create it before starting a worker.
    static func listeningSocket(_ path: String) throws -> Int32 {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { buffer in
            buffer.copyBytes(from: path.utf8)
            buffer[path.utf8.count] = 0
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard bound == 0, listen(fd, 128) == 0 else { throw LiveError("cannot listen on \(path)") }
        return fd
    }

    /// A port that is free now and that no outgoing connection will take before nginx or a worker binds it: it
    /// is chosen below the kernel's ephemeral range (where the kernel picks ports for outgoing connections, and
    /// for bind(0)), so only another listener could take it in between.
    static func freePort() throws -> Int {
        let range = (try? String(contentsOfFile: "/proc/sys/net/ipv4/ip_local_port_range", encoding: .utf8))?
            .split(whereSeparator: \.isWhitespace).compactMap { Int($0) } ?? []
        let ephemeralStart = range.first ?? 32768
        let candidates = ephemeralStart > 12000 ? 10000..<ephemeralStart : 1024..<ephemeralStart
        for _ in 0..<200 {
            let port = Int.random(in: candidates)
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            address.sin_port = UInt16(port).bigEndian
            let bound = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            close(fd)
            if bound == 0 { return port }
        }
        throw LiveError("no free port below \(ephemeralStart)")
    }

    private func touch(_ url: URL) -> URL {
        if !FileManager.default.fileExists(atPath: url.path) {
            _ = FileManager.default.createFile(atPath: url.path, contents: nil)
        }
        return url
    }
}

struct LiveResponse {
    var status: Int
    var headers: [(String, String)]
    var body: String

    func header(_ name: String) -> String? { headers.first { $0.0 == name.lowercased() }?.1 }

    var json: [String: Any]? {
        try? JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any]
    }

    var jsonArray: [[String: Any]]? {
        try? JSONSerialization.jsonObject(with: Data(body.utf8)) as? [[String: Any]]
    }
}

struct LiveError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// Runs `body` against a fresh cluster and always stops it, whether the body passes, fails or throws.
func withCluster(workers: Int = 2, arguments: [String] = [], http2: Bool = false,
                 launches: [Int: LiveCluster.Launch] = [:], extraAgents: String = "", environment: [String: String] = [:],
                 nginx: [String: String] = [:], postgres: String? = nil, tcp: Bool = false, hosts: Bool = false,
                 _ body: (LiveCluster) async throws -> Void) async throws {
    let cluster = try LiveCluster(workers: workers, workerArguments: arguments, http2: http2, extraAgents: extraAgents)
    cluster.databaseURL = postgres
    if tcp { cluster.tcpPorts = try (1...workers).map { _ in try LiveCluster.freePort() } }
    if hosts {
        do { try cluster.makeHosts(workers) } catch { cluster.removeHosts(); throw error }
    }
    cluster.launches = launches
    cluster.workerEnvironment = environment
    cluster.nginxEnvironment = nginx
    do {
        try await cluster.start()
        try await body(cluster)
    } catch {
        await cluster.stop()
        throw error
    }
    await cluster.stop()
}
