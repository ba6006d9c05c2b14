import Foundation
import NIOHTTP1
import Outbound

/// An operation of a user's OpenAPI document as a tool: its request built by `OpenAPIAction` (encoded path
/// parameters, no `..`, no line breaks in headers), sent through `Outbound` to `base_url`'s host (which may be an
/// internal one the operator named; redirects are judged per hop, and the configured headers go to that host only).
struct OpenAPITool: Tool {
    let action: OpenAPIAction
    let baseURL: URL
    /// The configured headers, read from their environment variables (credentials).
    let headers: [(String, String)]
    let outbound: Outbound
    let policy: OutboundPolicy
    let idempotent: Bool

    var spec: ToolSpec {
        ToolSpec(name: action.toolName, description: action.description, parameters: ToolSchemas.withoutPatterns(action.parameters))
    }
    var isIdempotent: Bool { idempotent }

    func run(_ arguments: [String: JSONValue]) async throws -> String {
        let built: OpenAPIRequest
        do {
            built = try action.request(arguments, baseURL: baseURL)
        } catch {
            throw ToolError(error.message)
        }
        var request = Outbound.Request(method: HTTPMethod(rawValue: built.method), url: built.url.absoluteString,
                                       headers: built.headers + headers, body: built.body)
        request.credentials = Set(headers.map { $0.0.lowercased() })
        let response: Outbound.Response
        do {
            response = try await outbound.send(request, policy: policy, metadata: ["tool": .string(action.toolName)])
        } catch let error as OutboundError {
            throw ToolError("the call did not go through: \(error.reason)")
        }
        var text = String(decoding: response.body, as: UTF8.self)
        if response.truncated { text += "\n[truncated at \(policy.maxResponseBytes / 1024) KiB]" }
        guard (200..<300).contains(response.status) else { throw ToolError("HTTP \(response.status): \(text.prefix(2000))") }
        return text.isEmpty ? "HTTP \(response.status)" : text
    }
}
