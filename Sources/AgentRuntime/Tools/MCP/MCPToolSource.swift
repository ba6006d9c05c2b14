import Foundation
import Logging
import Outbound

/// An MCP server as a source of tools (`- mcp: {...}` in an agent's tools). One connection per worker, made when a
/// run or a listing first needs it: over stdio a child process (started again after it dies, with a growing wait,
/// until it has died `crashLimit` times within a minute: then calls fail at once with a clear error for a minute),
/// over Streamable HTTP a session. Tools come from `tools/list`, again after `notifications/tools/list_changed`.
public final class MCPToolSource: ToolSource {
    public enum Transport: Sendable {
        case stdio(command: [String], environment: [String: String], directory: String?)
        /// `headers`: already read from their environment variables.
        case http(url: String, headers: [(String, String)])
    }

    public struct Settings: Sendable {
        public var name: String
        public var transport: Transport
        /// nil: every tool the server lists.
        public var allowTools: [String]?
        public var timeout: Duration
        /// nil: each tool's own hints (`readOnlyHint`, `idempotentHint`) decide; without them a call counts as a side effect.
        public var idempotent: Bool?

        public init(name: String, transport: Transport, allowTools: [String]? = nil, timeout: Duration = .seconds(30), idempotent: Bool? = nil) {
            self.name = name
            self.transport = transport
            self.allowTools = allowTools
            self.timeout = timeout
            self.idempotent = idempotent
        }
    }

    public let settings: Settings
    public var name: String { settings.name }
    let session: MCPSession

    /// Each tool's answer to the model is at most this long; the rest is cut with a note.
    public static let maxResultBytes = 64 * 1024
    static let crashLimit = 5
    /// A server's tools offered at most (from 10 pages of `tools/list` at most), each schema at most 64 KiB.
    static let maxTools = 128
    static let maxSchemaBytes = 64 * 1024

    public init(_ settings: Settings, outbound: Outbound = Outbound(), logger: Logger = Logger(label: "agentfcgi.mcp")) {
        self.settings = settings
        session = MCPSession(settings: settings, outbound: outbound, logger: logger)
    }

    public func tools() async throws -> [ConfiguredTool] {
        try await session.listedTools().compactMap { listed in
            guard settings.allowTools?.contains(listed.name) ?? true else { return nil }
            let tool = MCPTool(session: session, serverName: listed.name,
                               spec: ToolSpec(name: ToolNames.namespaced(settings.name, listed.name), description: listed.description,
                                              parameters: ToolSchemas.withoutPatterns(listed.inputSchema)),
                               idempotent: settings.idempotent ?? listed.idempotent)
            // The call's own timeout bounds the tool; the session adds none of its own beyond it.
            return ConfiguredTool(tool, timeout: settings.timeout)
        }
    }

    public func shutdown() async { await session.stop() }

    /// The child's process id while one runs (stdio), for tests.
    public var processID: Int32? { get async { await session.processID } }
}

/// A tool as `tools/list` gave it.
struct ListedTool: Sendable {
    var name: String
    var description: String
    var inputSchema: JSONValue
    var idempotent: Bool
}

/// One of the server's tools, called with `tools/call`; its answer as text for the model.
struct MCPTool: Tool {
    let session: MCPSession
    let serverName: String
    let spec: ToolSpec
    let idempotent: Bool
    var isIdempotent: Bool { idempotent }

    func run(_ arguments: [String: JSONValue]) async throws -> String {
        let result: JSONValue
        do {
            result = try await session.call("tools/call", params: .object(["name": .string(serverName), "arguments": .object(arguments)]))
        } catch let failure as MCPFailure {
            throw ToolError(failure.description)
        }
        let text = Self.text(of: result)
        if case .bool(true)? = result.objectValue?["isError"] { throw ToolError(text.isEmpty ? "the tool reported an error" : text) }
        return text
    }

    /// The text parts, or the structured content when there is no text; other parts named. At most 64 KiB.
    static func text(of result: JSONValue) -> String {
        var parts: [String] = []
        if case .array(let content)? = result.objectValue?["content"] {
            for part in content {
                guard let object = part.objectValue else { continue }
                switch object["type"] {
                case .string("text"): if case .string(let text)? = object["text"] { parts.append(text) }
                case .string("resource"):
                    if case .string(let text)? = object["resource"]?.objectValue?["text"] { parts.append(text) }
                case .string(let kind): parts.append("[\(kind.prefix(20)) content]")
                default: continue
                }
            }
        }
        if parts.isEmpty, let structured = result.objectValue?["structuredContent"] {
            parts.append(String(decoding: MCPMessages.encode(structured), as: UTF8.self))
        }
        let text = parts.joined(separator: "\n")
        let bytes = Array(text.utf8)
        guard bytes.count > MCPToolSource.maxResultBytes else { return text }
        var cut = MCPToolSource.maxResultBytes
        while cut > 0, bytes[cut] & 0xC0 == 0x80 { cut -= 1 }  // not in the middle of a character
        return String(decoding: bytes[..<cut], as: UTF8.self)
            + "\n[truncated: the tool's answer was \(bytes.count / 1024) KiB; the first 64 KiB are shown]"
    }
}
