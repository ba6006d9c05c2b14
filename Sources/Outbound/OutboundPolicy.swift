import Foundation

/// What one kind of outbound call may reach. Every caller that connects to a URL it did not configure itself
/// (webhooks, `http_get`, later OpenAPI actions and MCP servers over HTTP) goes through `Outbound` with one of these.
public struct OutboundPolicy: Sendable, Equatable {
    public enum Redirects: Sendable, Equatable {
        /// A 3xx is the answer, as it is (webhooks: a receiver that redirects is not followed anywhere).
        case notFollowed
        /// Up to `max` hops, each one checked as if it were the first URL.
        case follow(max: Int)
    }

    /// Hosts that may be reached at all: names, `*.example.com` for a domain and its subdomains, or literal
    /// addresses. Empty: any host whose every address is public.
    public var onlyHosts: [String]
    /// Hosts the operator named in the configuration that may resolve to internal addresses (a model server on
    /// the LAN, an intranet tool). Nothing a request names is ever added here.
    public var internalAllowed: [String]
    public var redirects: Redirects
    /// Bytes of response body kept; the rest is not read.
    public var maxResponseBytes: Int
    /// The whole call, redirects included.
    public var timeout: Duration
    public var connectTimeout: Duration

    public init(onlyHosts: [String] = [], internalAllowed: [String] = [], redirects: Redirects = .notFollowed,
                maxResponseBytes: Int = 64 * 1024, timeout: Duration = .seconds(30), connectTimeout: Duration = .seconds(5)) {
        self.onlyHosts = onlyHosts.map { $0.lowercased() }
        self.internalAllowed = internalAllowed.map { $0.lowercased() }
        self.redirects = redirects
        self.maxResponseBytes = maxResponseBytes
        self.timeout = timeout
        self.connectTimeout = connectTimeout
    }

    /// `pattern`: a host, `*.domain` (the domain and its subdomains), or a literal address in any spelling.
    public static func matches(_ host: String, _ pattern: String) -> Bool {
        let host = bare(host.lowercased()), pattern = bare(pattern.lowercased())
        if pattern.hasPrefix("*.") {
            let domain = pattern.dropFirst(2)
            return host == domain || host.hasSuffix("." + domain)
        }
        if host == pattern { return true }
        if let a = IPAddress(host), let b = IPAddress(pattern) { return a.unmapped == b.unmapped }
        return false
    }

    func reachable(_ host: String) -> Bool { onlyHosts.isEmpty || onlyHosts.contains { Self.matches(host, $0) } }
    func mayBeInternal(_ host: String) -> Bool { internalAllowed.contains { Self.matches(host, $0) } }

    static func bare(_ host: String) -> String {
        host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
    }
}

/// Why an outbound call did not happen or did not succeed. `reason` is safe to show to an API caller or a model:
/// it names a class of failure, never an address, a port's state or a remote error text, so that a delivery log
/// or a tool answer cannot be used to map the network behind the server. `detail` is for the worker's log.
public struct OutboundError: Error, CustomStringConvertible, Sendable, Equatable {
    public enum Kind: String, Sendable {
        case invalidURL, hostNotAllowed, internalAddress, unresolvable, connectFailed, timedOut, tooManyRedirects, failed
    }

    public var kind: Kind
    public var detail: String

    public init(_ kind: Kind, detail: String) {
        self.kind = kind
        self.detail = detail
    }

    /// Refused before any connection was made (a policy decision, not a network failure): never worth a retry.
    public var isRefusal: Bool { [.invalidURL, .hostNotAllowed, .internalAddress, .tooManyRedirects].contains(kind) }

    public var reason: String {
        switch kind {
        case .invalidURL: "refused: not an http(s) URL without credentials"
        case .hostNotAllowed: "refused: the host is not allowed"
        case .internalAddress: "refused: the target is not allowed"
        case .unresolvable: "failed: the host name did not resolve"
        case .connectFailed: "failed: could not connect"
        case .timedOut: "failed: timed out"
        case .tooManyRedirects: "refused: too many redirects"
        case .failed: "failed: the connection broke"
        }
    }

    public var description: String { "\(reason) (\(detail))" }

    /// Every reason a caller may be shown.
    public static let reasons: Set<String> = Set([Kind.invalidURL, .hostNotAllowed, .internalAddress, .unresolvable, .connectFailed,
                                                  .timedOut, .tooManyRedirects, .failed].map { OutboundError($0, detail: "").reason })
}
