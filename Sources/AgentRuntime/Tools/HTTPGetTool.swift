import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1

/// Fetches a URL for the model, within walls: only hosts on the agent's allow-list, only http(s), never a
/// loopback, private, link-local or otherwise internal address unless the config says so (SSRF), every redirect
/// checked again, at most `maxBytes` of body, and the tool's timeout around it all.
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

    public init(settings: Settings) {
        self.settings = settings
    }

    /// Its own client: redirects must not be followed behind our back, each one is checked like the first URL.
    static let client: HTTPClient = {
        var configuration = HTTPClient.Configuration(redirectConfiguration: .disallow)
        configuration.timeout = .init(connect: .seconds(5), read: .seconds(15))
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }()

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

    public func run(_ arguments: [String: JSONValue]) async throws -> String {
        guard case .string(let text) = arguments["url"], var url = URL(string: text) else { throw ToolError("url is not a valid URL") }
        for redirect in 0...settings.maxRedirects {
            try await check(url)
            var request = HTTPClientRequest(url: url.absoluteString)
            request.headers.add(name: "User-Agent", value: "agentfcgi-http_get")
            let response: HTTPClientResponse
            do {
                response = try await Self.client.execute(request, timeout: .seconds(30))
            } catch is CancellationError {
                throw CancellationError()
            } catch {
                throw ToolError("cannot fetch \(url.host ?? ""): \(error is HTTPClientError ? "connection failed" : "\(error)")")
            }
            if (300..<400).contains(Int(response.status.code)), let location = response.headers.first(name: "Location") {
                guard redirect < settings.maxRedirects, let next = URL(string: location, relativeTo: url)?.absoluteURL else {
                    throw ToolError("too many redirects")
                }
                url = next
                continue
            }
            var body: [UInt8] = []
            var truncated = false
            for try await buffer in response.body {
                let room = settings.maxBytes - body.count
                if buffer.readableBytes > room {
                    body += buffer.readableBytesView.prefix(room)
                    truncated = true
                    break
                }
                body += buffer.readableBytesView
            }
            let type = response.headers.first(name: "Content-Type") ?? "unknown"
            return "HTTP \(response.status.code) \(type)\n\n" + String(decoding: body, as: UTF8.self)
                + (truncated ? "\n[truncated at \(settings.maxBytes) bytes]" : "")
        }
        throw ToolError("too many redirects")
    }

    /// The scheme, the allow-list and every address the host resolves to.
    func check(_ url: URL) async throws {
        guard let scheme = url.scheme?.lowercased(), scheme == "http" || scheme == "https" else {
            throw ToolError("only http and https URLs are allowed")
        }
        guard let host = url.host?.lowercased(), !host.isEmpty else { throw ToolError("the URL has no host") }
        guard settings.allowedHosts.contains(where: { Self.matches(host, $0) }) else {
            throw ToolError("host '\(host.prefix(100))' is not on this agent's allow-list")
        }
        guard !settings.allowPrivateAddresses else { return }
        let addresses = try await Self.resolve(host)
        if let blocked = addresses.first(where: NetworkAddress.isInternal) {
            throw ToolError("refused: '\(host.prefix(100))' resolves to an internal address (\(blocked))")
        }
    }

    public static func matches(_ host: String, _ pattern: String) -> Bool {
        if pattern.hasPrefix("*.") {
            let domain = pattern.dropFirst(2)
            return host == domain || host.hasSuffix("." + domain)
        }
        return host == pattern
    }

    /// getaddrinfo on a thread of its own: it blocks.
    public static func resolve(_ host: String) async throws -> [String] {
        try await withCheckedThrowingContinuation { continuation in
            Thread.detachNewThread {
                var hints = addrinfo()
                hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
                var result: UnsafeMutablePointer<addrinfo>?
                guard getaddrinfo(host, nil, &hints, &result) == 0, let first = result else {
                    continuation.resume(throwing: ToolError("cannot resolve '\(host.prefix(100))'"))
                    return
                }
                defer { freeaddrinfo(first) }
                var addresses: [String] = []
                var entry: UnsafeMutablePointer<addrinfo>? = first
                while let current = entry {
                    var buffer = [CChar](repeating: 0, count: Int(NI_MAXHOST))
                    if getnameinfo(current.pointee.ai_addr, current.pointee.ai_addrlen, &buffer, socklen_t(buffer.count), nil, 0, NI_NUMERICHOST) == 0 {
                        addresses.append(String(cString: buffer))
                    }
                    entry = current.pointee.ai_next
                }
                continuation.resume(returning: addresses)
            }
        }
    }
}

/// Which addresses an outside-facing fetch must never reach.
public enum NetworkAddress {
    public static func isInternal(_ text: String) -> Bool {
        var v4 = in_addr()
        if inet_pton(AF_INET, text, &v4) == 1 {
            return isInternalV4(UInt32(bigEndian: v4.s_addr))
        }
        var v6 = in6_addr()
        guard inet_pton(AF_INET6, text.split(separator: "%").first.map(String.init) ?? text, &v6) == 1 else { return true }
        let bytes = withUnsafeBytes(of: v6) { Array($0) }
        if bytes[0..<10].allSatisfy({ $0 == 0 }) && bytes[10] == 0xff && bytes[11] == 0xff {
            return isInternalV4(bytes[12...].reduce(0) { $0 << 8 | UInt32($1) })  // IPv4-mapped
        }
        if bytes.allSatisfy({ $0 == 0 }) { return true }                          // ::
        if bytes[0..<15].allSatisfy({ $0 == 0 }) && bytes[15] == 1 { return true } // ::1
        if bytes[0] == 0xfe && bytes[1] & 0xc0 == 0x80 { return true }             // fe80::/10 link-local
        if bytes[0] & 0xfe == 0xfc { return true }                                 // fc00::/7 unique local
        if bytes[0] == 0xff { return true }                                        // multicast
        return false
    }

    static func isInternalV4(_ address: UInt32) -> Bool {
        let ranges: [(UInt32, UInt32)] = [
            (0x0000_0000, 8), (0x0A00_0000, 8), (0x6440_0000, 10), (0x7F00_0000, 8), (0xA9FE_0000, 16),
            (0xAC10_0000, 12), (0xC000_0000, 24), (0xC0A8_0000, 16), (0xC612_0000, 15), (0xE000_0000, 4), (0xF000_0000, 4),
        ]
        return ranges.contains { base, bits in address >> (32 - bits) == base >> (32 - bits) }
    }
}
