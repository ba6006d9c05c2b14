import Foundation

/// Arithmetic with a real parser (`Calculator`), never an interpreter.
public struct CalculatorTool: Tool {
    public init() {}

    public let spec = ToolSpec(
        name: "calculator",
        description: "Evaluates an arithmetic expression: + - * / % ^, parentheses, sqrt, abs, round, floor, ceil, ln, log10, sin, cos, tan, min, max, pi, e.",
        parameters: .object([
            "type": "object",
            "properties": .object(["expression": .object([
                "type": "string", "minLength": 1, "maxLength": .number(Double(Calculator.maxLength)),
                "description": "For example 12*(3+4)",
            ])]),
            "required": .array(["expression"]),
            "additionalProperties": false,
        ]))

    public var isIdempotent: Bool { true }

    public func run(_ arguments: [String: JSONValue]) async throws -> String {
        guard case .string(let expression) = arguments["expression"] else { throw ToolError("expression is required") }
        do {
            return Calculator.format(try Calculator.evaluate(expression))
        } catch {
            throw ToolError(error.description)
        }
    }
}

/// The current date and time in an IANA time zone.
public struct CurrentTimeTool: Tool {
    public var now: @Sendable () -> Date

    public init(now: @escaping @Sendable () -> Date = { Date() }) {
        self.now = now
    }

    public var spec: ToolSpec {
        ToolSpec(
            name: "current_time",
            description: "The current date and time in an IANA time zone such as Europe/Paris (default UTC).",
            parameters: .object([
                "type": "object",
                "properties": .object(["timezone": .object(["type": "string", "maxLength": 64, "description": "IANA zone, e.g. America/New_York"])]),
                "additionalProperties": false,
            ]))
    }

    public var isIdempotent: Bool { true }

    public func run(_ arguments: [String: JSONValue]) async throws -> String {
        var identifier = "UTC"
        if case .string(let requested) = arguments["timezone"] { identifier = requested }
        guard let zone = TimeZone(identifier: identifier) else {
            throw ToolError("unknown time zone '\(identifier.prefix(64))'; use an IANA name such as Europe/Paris")
        }
        let formatter = ISO8601DateFormatter()
        formatter.timeZone = zone
        formatter.formatOptions = [.withInternetDateTime]
        return "\(formatter.string(from: now())) (\(zone.identifier))"
    }
}

/// The tools that can be named in an agent's `tools:` list.
public enum ToolCatalog {
    public static let names = ["calculator", "current_time", "http_get", "knowledge_search"]

    /// Settings a tool entry may carry besides its name and timeout.
    public struct Options: Sendable, Equatable {
        public var allowHosts: [String]?
        public var allowPrivate: Bool?
        public var maxBytes: Int?
        /// knowledge_search: the documents, and optionally a prebuilt index (`agentfcgi index`).
        public var folder: String?
        public var indexPath: String?
        public var maxResults: Int?

        public init(allowHosts: [String]? = nil, allowPrivate: Bool? = nil, maxBytes: Int? = nil,
                    folder: String? = nil, indexPath: String? = nil, maxResults: Int? = nil) {
            self.allowHosts = allowHosts
            self.allowPrivate = allowPrivate
            self.maxBytes = maxBytes
            self.folder = folder
            self.indexPath = indexPath
            self.maxResults = maxResults
        }

        var isEmpty: Bool { self == Options() }
    }

    public enum Problem: Error, Equatable {
        case unknownTool
        /// A setting, and what is wrong with it.
        case invalid(field: String, message: String)
    }

    public static func make(_ name: String, options: Options = Options()) throws(Problem) -> any Tool {
        switch name {
        case "calculator", "current_time":
            guard options.isEmpty else {
                throw .invalid(field: "allow_hosts", message: "'\(name)' takes no settings besides timeout_ms")
            }
            return name == "calculator" ? CalculatorTool() : CurrentTimeTool()
        case "http_get":
            guard let hosts = options.allowHosts, !hosts.isEmpty else {
                throw .invalid(field: "allow_hosts", message: "http_get needs a list of allowed hosts (e.g. [example.com, \"*.wikipedia.org\"])")
            }
            let maxBytes = options.maxBytes ?? 64 * 1024
            guard (1...(16 << 20)).contains(maxBytes) else {
                throw .invalid(field: "max_bytes", message: "must be between 1 and 16777216")
            }
            return HTTPGetTool(settings: .init(allowedHosts: hosts, allowPrivateAddresses: options.allowPrivate ?? false, maxBytes: maxBytes))
        case "knowledge_search":
            guard let folder = options.folder else {
                throw .invalid(field: "folder", message: "knowledge_search needs the folder of documents to search")
            }
            var isFolder: ObjCBool = false
            guard FileManager.default.fileExists(atPath: folder, isDirectory: &isFolder), isFolder.boolValue else {
                throw .invalid(field: "folder", message: "'\(folder)' is not a folder")
            }
            let maxResults = options.maxResults ?? 5
            guard (1...50).contains(maxResults) else { throw .invalid(field: "max_results", message: "must be between 1 and 50") }
            do {
                return try KnowledgeSearchTool(folder: folder, maxResults: maxResults, indexPath: options.indexPath)
            } catch {
                throw .invalid(field: "folder", message: "cannot index '\(folder)': \(error)")
            }
        default:
            throw .unknownTool
        }
    }
}
