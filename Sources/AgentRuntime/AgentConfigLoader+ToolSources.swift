import Foundation
import Outbound
import Yams

/// An entry of an agent's `tools`: a built-in tool (its name, or `{name, ...}`), an MCP server (`{mcp: {...}}`) or
/// operations of an OpenAPI document (`{openapi: {...}}`). Tool sources come from the configuration file only.
enum RawToolEntry: Decodable {
    case tool(RawTool)
    case mcp(RawMCPSource)
    case openapi(RawOpenAPISource)

    init(from decoder: any Decoder) throws {
        if let keyed = try? decoder.container(keyedBy: AnyKey.self), keyed.allKeys.count == 1, let key = keyed.allKeys.first,
           ["mcp", "openapi"].contains(key.stringValue) {
            self = key.stringValue == "mcp" ? .mcp(try keyed.decode(RawMCPSource.self, forKey: key))
                : .openapi(try keyed.decode(RawOpenAPISource.self, forKey: key))
            return
        }
        self = .tool(try RawTool(from: decoder))
    }
}

struct RawMCPSource: Decodable, Equatable {
    var name: String
    var command: [String]?
    var env: [String: String]?
    var envFrom: [String: String]?
    var cwd: String?
    var url: String?
    var headers: [String: String]?
    var allowTools: [String]?
    var timeoutMs: Int?
    var idempotent: Bool?

    enum CodingKeys: String, CodingKey, CaseIterable {
        case name, command, env, envFrom = "env_from", cwd, url, headers, allowTools = "allow_tools", timeoutMs = "timeout_ms", idempotent
    }

    init(from decoder: any Decoder) throws {
        try decoder.container(keyedBy: AnyKey.self).rejectUnknownKeys(CodingKeys.allCases.map(\.rawValue))
        let container = try decoder.container(keyedBy: CodingKeys.self)
        name = try container.decode(String.self, forKey: .name)
        command = try container.decodeIfPresent([String].self, forKey: .command)
        env = try container.decodeIfPresent([String: String].self, forKey: .env)
        envFrom = try container.decodeIfPresent([String: String].self, forKey: .envFrom)
        cwd = try container.decodeIfPresent(String.self, forKey: .cwd)
        url = try container.decodeIfPresent(String.self, forKey: .url)
        headers = try container.decodeIfPresent([String: String].self, forKey: .headers)
        allowTools = try container.decodeIfPresent([String].self, forKey: .allowTools)
        timeoutMs = try container.decodeIfPresent(Int.self, forKey: .timeoutMs)
        idempotent = try container.decodeIfPresent(Bool.self, forKey: .idempotent)
    }
}

struct RawOpenAPISource: Decodable, Equatable {
    var name: String
    var spec: String
    var baseURL: String
    var operations: [String]
    var headers: [String: String]?
    var timeoutMs: Int?
    var maxBytes: Int?
    var idempotent: Bool?

    enum CodingKeys: String, CodingKey, CaseIterable {
        case name, spec, baseURL = "base_url", operations, headers, timeoutMs = "timeout_ms", maxBytes = "max_bytes", idempotent
    }

    init(from decoder: any Decoder) throws {
        try decoder.container(keyedBy: AnyKey.self).rejectUnknownKeys(CodingKeys.allCases.map(\.rawValue))
        let container = try decoder.container(keyedBy: CodingKeys.self)
        name = try container.decode(String.self, forKey: .name)
        spec = try container.decode(String.self, forKey: .spec)
        baseURL = try container.decode(String.self, forKey: .baseURL)
        operations = try container.decode([String].self, forKey: .operations)
        headers = try container.decodeIfPresent([String: String].self, forKey: .headers)
        timeoutMs = try container.decodeIfPresent(Int.self, forKey: .timeoutMs)
        maxBytes = try container.decodeIfPresent(Int.self, forKey: .maxBytes)
        idempotent = try container.decodeIfPresent(Bool.self, forKey: .idempotent)
    }
}

/// The tool sources of one configuration: a source named in several agents is one source (one child process per
/// worker), so its settings must be the same in each.
final class ToolSourceRegistry {
    let environment: [String: String]
    private var mcpSources: [String: (raw: RawMCPSource, source: MCPToolSource)] = [:]

    init(environment: [String: String]) { self.environment = environment }

    /// No `__`: `a` + `b__c` and `a__b` + `c` would name the same tool.
    static func isValidName(_ name: String) -> Bool {
        (1...32).contains(name.utf8.count) && !name.contains("__") && name.utf8.allSatisfy { byte in
            (0x61...0x7a).contains(byte) || (0x41...0x5a).contains(byte) || (0x30...0x39).contains(byte) || byte == 0x2d || byte == 0x5f
        }
    }

    /// Header name -> environment variable name, read now: a missing variable is a configuration error, not a
    /// request that goes out without its credentials.
    func headers(_ names: [String: String]?, field: String, file: String) throws -> [(String, String)] {
        try (names ?? [:]).sorted { $0.key < $1.key }.map { header, variable in
            guard !header.isEmpty, header.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F && $0 != 0x3A }) else {
                throw ConfigError(file: file, field: "\(field).headers", message: "'\(header.prefix(100))' is not a header name")
            }
            guard let value = environment[variable], !value.isEmpty else {
                throw ConfigError(file: file, field: "\(field).headers.\(header)",
                                  message: "the environment variable '\(variable.prefix(100))' is not set (it holds the header's value)")
            }
            guard !value.contains(where: { $0 == "\r" || $0 == "\n" || $0 == "\0" }) else {
                throw ConfigError(file: file, field: "\(field).headers.\(header)", message: "the value of '\(variable)' holds a line break")
            }
            return (header, value)
        }
    }

    func timeout(_ milliseconds: Int?, field: String, file: String) throws -> Duration {
        let value = milliseconds ?? 30_000
        guard (1...600_000).contains(value) else {
            throw ConfigError(file: file, field: "\(field).timeout_ms", message: "must be between 1 and 600000, got \(value)")
        }
        return .milliseconds(value)
    }

    func mcp(_ raw: RawMCPSource, field: String, file: String, directory: String) throws -> MCPToolSource {
        guard Self.isValidName(raw.name) else {
            throw ConfigError(file: file, field: "\(field).name", message: "'\(raw.name.prefix(100))' must be 1 to 32 letters, digits, - or _ without __ (it prefixes the tools' names)")
        }
        if let known = mcpSources[raw.name] {
            guard known.raw == raw else {
                throw ConfigError(file: file, field: "\(field).name", message: "the MCP source '\(raw.name)' is configured differently in another agent")
            }
            return known.source
        }
        let transport: MCPToolSource.Transport
        switch (raw.command, raw.url) {
        case (let command?, nil):
            guard let program = command.first, !program.isEmpty else {
                throw ConfigError(file: file, field: "\(field).command", message: "must be a list: the program, then its arguments")
            }
            guard raw.headers == nil else { throw ConfigError(file: file, field: "\(field).headers", message: "is for url sources") }
            var environment = raw.env ?? [:]
            for (name, variable) in raw.envFrom ?? [:] {
                guard let value = self.environment[variable] else {
                    throw ConfigError(file: file, field: "\(field).env_from.\(name)", message: "the environment variable '\(variable.prefix(100))' is not set")
                }
                environment[name] = value
            }
            // A relative program is found beside the configuration, as other paths in it are.
            let resolved = program.contains("/") ? AgentConfigLoader.resolve(program, against: directory) : program
            do {
                _ = try ChildProcess.resolve(resolved, path: environment["PATH"] ?? ChildProcess.defaultPath)  // the child's own
            } catch {
                throw ConfigError(file: file, field: "\(field).command", message: "'\(program.prefix(200))' is not an executable program here")
            }
            if resolved.contains("/"), access(resolved, X_OK) != 0 {
                throw ConfigError(file: file, field: "\(field).command", message: "'\(resolved.prefix(200))' is not an executable file")
            }
            transport = .stdio(command: [resolved] + command.dropFirst(), environment: environment,
                               directory: raw.cwd.map { AgentConfigLoader.resolve($0, against: directory) })
        case (nil, let url?):
            guard let parsed = URL(string: url), ["http", "https"].contains(parsed.scheme?.lowercased() ?? ""), parsed.host != nil,
                  parsed.user == nil, parsed.password == nil else {
                throw ConfigError(file: file, field: "\(field).url", message: "'\(url.prefix(200))' is not an http(s) URL without credentials")
            }
            guard raw.env == nil, raw.envFrom == nil, raw.cwd == nil else {
                throw ConfigError(file: file, field: field, message: "env, env_from and cwd are for command sources")
            }
            transport = .http(url: url, headers: try headers(raw.headers, field: field, file: file))
        default:
            throw ConfigError(file: file, field: field, message: "needs either command (a local server over stdio) or url (Streamable HTTP), not both")
        }
        let settings = MCPToolSource.Settings(name: raw.name, transport: transport, allowTools: raw.allowTools,
                                              timeout: try timeout(raw.timeoutMs, field: field, file: file), idempotent: raw.idempotent)
        let source = MCPToolSource(settings)
        mcpSources[raw.name] = (raw, source)
        return source
    }

    func openAPI(_ raw: RawOpenAPISource, field: String, file: String, directory: String) throws -> [ConfiguredTool] {
        guard Self.isValidName(raw.name) else {
            throw ConfigError(file: file, field: "\(field).name", message: "'\(raw.name.prefix(100))' must be 1 to 32 letters, digits, - or _ without __ (it prefixes the tools' names)")
        }
        let path = AgentConfigLoader.resolve(raw.spec, against: directory)
        guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
            throw ConfigError(file: file, field: "\(field).spec", message: "cannot read '\(path.prefix(300))'")
        }
        let document: JSONValue
        do {
            document = path.hasSuffix(".json") ? try JSONDecoder().decode(JSONValue.self, from: data)
                : try YAMLDecoder().decode(JSONValue.self, from: text)
        } catch {
            throw ConfigError(file: file, field: "\(field).spec", message: "'\(path.prefix(300))' is not valid \(path.hasSuffix(".json") ? "JSON" : "YAML")")
        }
        guard let base = URL(string: raw.baseURL), ["http", "https"].contains(base.scheme?.lowercased() ?? ""), let host = base.host,
              base.user == nil, base.password == nil else {
            throw ConfigError(file: file, field: "\(field).base_url", message: "'\(raw.baseURL.prefix(200))' is not an http(s) URL without credentials")
        }
        guard !raw.operations.isEmpty else {
            throw ConfigError(file: file, field: "\(field).operations", message: "name at least one operationId of the document")
        }
        let actions: [OpenAPIAction]
        do {
            actions = try OpenAPIActions.load(document, operations: raw.operations, source: raw.name)
        } catch {
            throw ConfigError(file: file, field: "\(field).operations", message: error.message)
        }
        let maxBytes = raw.maxBytes ?? 64 * 1024
        guard (1...(16 << 20)).contains(maxBytes) else {
            throw ConfigError(file: file, field: "\(field).max_bytes", message: "must be between 1 and 16777216")
        }
        let timeout = try timeout(raw.timeoutMs, field: field, file: file)
        let headers = try headers(raw.headers, field: field, file: file)
        // A parameter the model fills must not be able to stand in for a configured (credential) header.
        for action in actions {
            let names = Set((action.parameters.objectValue?["properties"]?.objectValue ?? [:]).keys.map { $0.lowercased() })
            if let clash = headers.first(where: { names.contains($0.0.lowercased()) }) {
                throw ConfigError(file: file, field: "\(field).headers.\(clash.0)",
                                  message: "operation '\(action.operationID)' has a parameter of that name; the model could set it")
            }
        }
        // The operator named this host: it may be internal. Any other host a redirect leads to is judged as usual.
        let policy = OutboundPolicy(internalAllowed: [host], redirects: .follow(max: 3), maxResponseBytes: maxBytes, timeout: timeout,
                                    connectTimeout: min(timeout, .seconds(5)))
        return actions.map { action in
            let readOnly = ["GET", "HEAD", "OPTIONS"].contains(action.method)
            return ConfiguredTool(OpenAPITool(action: action, baseURL: base, headers: headers, outbound: Outbound(), policy: policy,
                                              idempotent: raw.idempotent ?? readOnly), timeout: timeout + .seconds(1))
        }
    }
}
