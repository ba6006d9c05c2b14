import Foundation
import Outbound

/// Fetches a URL for the model through `Outbound`: only hosts on the agent's allow-list, only http(s), never an
/// internal address unless the config says so (SSRF), each name resolved once and the checked address used, every
/// redirect checked again, at most `maxBytes` of body, and the tool's timeout around it all.
public struct HTTPGetTool: Tool {
    public struct Settings: Sendable, Equatable {
        /// Host names, or `*.example.com` for a domain and its subdomains.
        public var allowedHosts: [String]
        /// Lets allow-listed hosts resolve to loopback and private addresses (tests, an intranet service).
        public var allowPrivateAddresses: Bool
        public var maxBytes: Int
        public var maxRedirects: Int

        public init(allowedHosts: [String], allowPrivateAddresses: Bool = false, maxBytes: Int = 64 * 1024, maxRedirects: Int = 3) {
            self.allowedHosts = allowedHosts.map { $0.lowercased() }
            self.allowPrivateAddresses = allowPrivateAddresses
            self.maxBytes = maxBytes
            self.maxRedirects = maxRedirects
        }
    }

    public var settings: Settings
    let outbound: Outbound

    public init(settings: Settings, outbound: Outbound = Outbound()) {
        self.settings = settings
        self.outbound = outbound
    }

    /// The agent's allow-list bounds every hop; `allow_private` lets those hosts (and only those) be internal.
    var policy: OutboundPolicy {
        OutboundPolicy(onlyHosts: settings.allowedHosts, internalAllowed: settings.allowPrivateAddresses ? settings.allowedHosts : [],
                       redirects: .follow(max: settings.maxRedirects), maxResponseBytes: settings.maxBytes, timeout: .seconds(30))
    }

    public var spec: ToolSpec {
        ToolSpec(
            name: "http_get",
            description: "Fetches a web page or API response by URL (GET). Allowed hosts: \(settings.allowedHosts.joined(separator: ", ")).",
            parameters: [
                "type": "object",
                "properties": ["url": ["type": "string", "maxLength": 2048, "pattern": "^https?://", "description": "An http(s) URL"]],
                "required": ["url"],
                "additionalProperties": false,
            ])
    }

    public var isIdempotent: Bool { true }

    /// What the model reads back is the generic reason (it may pass it on to whoever asked); the detail, which may
    /// name addresses, goes only to the worker's log (`Outbound` logs it).
    public func run(_ arguments: [String: JSONValue]) async throws -> String {
        guard case .string(let text) = arguments["url"] else { throw ToolError("url is not a valid URL") }
        let response: Outbound.Response
        do {
            response = try await outbound.send(.init(url: text, headers: [("User-Agent", "agentfcgi-http_get")]), policy: policy)
        } catch let error as OutboundError {
            throw ToolError(error.reason)
        }
        let type = response.headers.first(name: "Content-Type") ?? "unknown"
        return "HTTP \(response.status) \(type)\n\n" + String(decoding: response.body, as: UTF8.self)
            + (response.truncated ? "\n[truncated at \(settings.maxBytes) bytes]" : "")
    }
}
