import Foundation
import Logging
import Outbound

/// The connection to one MCP server and what it listed: made when first needed, made again after the server died
/// (after a wait that doubles with each recent failure), and given a rest when it keeps failing.
actor MCPSession {
    let settings: MCPToolSource.Settings
    let outbound: Outbound
    let logger: Logger
    private var connection: (any MCPConnection)?
    private var opening: Task<any MCPConnection, any Error>?
    private var listed: [ListedTool]?
    private var failures: [ContinuousClock.Instant] = []
    private var restingUntil: ContinuousClock.Instant?

    init(settings: MCPToolSource.Settings, outbound: Outbound, logger: Logger) {
        self.settings = settings
        self.outbound = outbound
        var logger = logger
        logger[metadataKey: "mcp.source"] = .string(settings.name)
        self.logger = logger
    }

    var processID: Int32? { (connection as? MCPStdioConnection)?.child.pid }

    func listedTools() async throws -> [ListedTool] {
        let current = try await connected()
        if let listed { return listed }
        var tools: [ListedTool] = []
        var cursor: String?
        var pages = 0
        repeat {
            pages += 1
            let params: JSONValue = cursor.map { .object(["cursor": .string($0)]) } ?? .object([:])
            let page = try await request(current, "tools/list", params: params)
            guard case .array(let entries)? = page.objectValue?["tools"] else {
                throw MCPFailure(description: "tools/list did not answer with a list of tools")
            }
            for case .object(let tool) in entries {
                guard case .string(let name)? = tool["name"], !tools.contains(where: { $0.name == name }) else { continue }
                // Every tool's schema goes to the model on every run: a server gets a bounded share of the context.
                let schema = tool["inputSchema"] ?? .object(["type": "object"])
                guard tools.count < MCPToolSource.maxTools, MCPMessages.encode(schema).count <= MCPToolSource.maxSchemaBytes else {
                    logger.warning("mcp.tool_skipped", metadata: ["tool": .string(String(name.prefix(64))), "reason": "over the tool or schema cap"])
                    continue
                }
                let description: String = if case .string(let text)? = tool["description"] { text } else { "" }
                let hints = tool["annotations"]?.objectValue ?? [:]
                tools.append(ListedTool(name: name, description: String(description.prefix(4096)),
                                        inputSchema: schema,
                                        idempotent: hints["readOnlyHint"] == JSONValue.bool(true) || hints["idempotentHint"] == JSONValue.bool(true)))
            }
            cursor = if case .string(let next)? = page.objectValue?["nextCursor"] { next } else { nil }
        } while cursor != nil && pages < 10 && tools.count < MCPToolSource.maxTools
        listed = tools
        return tools
    }

    /// `method` on the server, started or restarted as needed; a lost HTTP session is opened again once.
    func call(_ method: String, params: JSONValue) async throws -> JSONValue {
        let current = try await connected()
        do {
            return try await request(current, method, params: params)
        } catch let failure as MCPFailure where failure.sessionLost {
            return try await request(try await connected(), method, params: params)
        }
    }

    private func request(_ current: any MCPConnection, _ method: String, params: JSONValue) async throws -> JSONValue {
        do {
            // The tool's timeout (ConfiguredTool) ends the call first; this bounds listing.
            return try await current.request(method, params: params, timeout: settings.timeout + .seconds(1))
        } catch let failure as MCPFailure where failure.fatal {
            await drop(current, failure)
            throw failure
        }
    }

    private func drop(_ current: any MCPConnection, _ failure: MCPFailure) async {
        guard connection.map({ $0 as AnyObject === current as AnyObject }) ?? false else { return }
        connection = nil
        listed = nil
        noteFailure(failure.description)
        await current.close()
    }

    private func noteFailure(_ reason: String) {
        let now = ContinuousClock.now
        failures = failures.filter { now - $0 < .seconds(60) } + [now]
        if failures.count >= MCPToolSource.crashLimit {
            restingUntil = now + .seconds(60)
            logger.error("mcp.crash_loop", metadata: ["failures": "\(failures.count)", "reason": .string(reason)])
        } else {
            logger.warning("mcp.failed", metadata: ["reason": .string(reason)])
        }
    }

    func connected() async throws -> any MCPConnection {
        if let connection {
            if connection.isAlive { return connection }
            self.connection = nil
            listed = nil
            noteFailure("the connection ended")
            await connection.close()
        }
        if let restingUntil, ContinuousClock.now < restingUntil {
            let left = Int((restingUntil - ContinuousClock.now).components.seconds) + 1
            throw MCPFailure(description: "the MCP server '\(settings.name)' failed \(MCPToolSource.crashLimit) times within a minute; its tools are off for \(left) s more")
        }
        if let opening { return try await opening.value }
        let recent = failures.filter { ContinuousClock.now - $0 < .seconds(60) }.count
        let task = Task { [self] in
            if recent > 0 { try await Task.sleep(for: .milliseconds(min(4000, 250 << min(recent - 1, 4)))) }
            return try await open()
        }
        opening = task
        defer { opening = nil }
        do {
            let made = try await task.value
            connection = made
            return made
        } catch {
            noteFailure("\(error)")
            throw error
        }
    }

    private func open() async throws -> any MCPConnection {
        let notified: @Sendable (String) -> Void = { [weak self] method in
            guard method == "notifications/tools/list_changed" else { return }
            Task { await self?.forgetTools() }
        }
        let made: any MCPConnection
        switch settings.transport {
        case .stdio(let command, let environment, let directory):
            do {
                made = try MCPStdioConnection(source: settings.name, command: command, environment: environment, directory: directory,
                                              logger: logger, onNotification: notified)
            } catch {
                throw MCPFailure(description: "the MCP server '\(settings.name)' could not be started: \(error)", fatal: true)
            }
        case .http(let url, let headers):
            made = MCPHTTPConnection(url: url, headers: headers, outbound: outbound, logger: logger, onNotification: notified)
        }
        do {
            _ = try await made.request("initialize", params: .object([
                "protocolVersion": .string(MCPMessages.protocolVersion), "capabilities": .object([:]),
                "clientInfo": .object(["name": "agentfcgi", "version": "0.1.0"]),
            ]), timeout: min(settings.timeout, .seconds(30)))
            try await made.notify("notifications/initialized", params: .object([:]))
        } catch {
            await made.close()
            throw error
        }
        logger.info("mcp.connected", metadata: (made as? MCPStdioConnection).map { ["mcp.pid": "\($0.child.pid)"] } ?? [:])
        return made
    }

    func forgetTools() {
        listed = nil
        logger.info("mcp.tools_changed")
    }

    func stop() async {
        opening?.cancel()
        if let connection { await connection.close() }
        connection = nil
        listed = nil
    }
}
