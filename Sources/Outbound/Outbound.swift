import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1

/// The one way the server calls a URL it did not configure itself. For each hop it resolves the name once,
/// judges every address it got (`IPAddress.isInternal`), and connects to the exact address it judged, keeping the
/// name for `Host` and TLS (SNI and certificate checks) — so a name whose DNS answer changes between a check and
/// the connection (DNS rebinding) cannot move the call to another address. Redirects are never followed by the
/// HTTP client: `OutboundPolicy.redirects` decides, and each hop is judged like the first.
public struct Outbound: Sendable {
    /// Names to addresses. The system's getaddrinfo by default; tests give one whose answers they control.
    public typealias Resolver = @Sendable (String) async throws -> [IPAddress]

    public struct Request: Sendable {
        public var method: HTTPMethod
        public var url: String
        public var headers: [(String, String)]
        public var body: [UInt8]?
        /// Headers (lowercased names) that hold credentials beside the usual ones: sent to the first host only.
        public var credentials: Set<String> = []
        /// Told the body so far after each piece; true ends the reading there (an SSE stream that holds its answer
        /// and that the server may keep open).
        public var complete: (@Sendable ([UInt8]) -> Bool)?

        public init(method: HTTPMethod = .GET, url: String, headers: [(String, String)] = [], body: [UInt8]? = nil) {
            self.method = method
            self.url = url
            self.headers = headers
            self.body = body
        }
    }

    public struct Response: Sendable {
        public var status: Int
        public var headers: HTTPHeaders
        public var body: [UInt8]
        /// The body was longer than the policy keeps.
        public var truncated: Bool
        /// The URL that answered (after followed redirects).
        public var url: String
        /// `Request.complete` ended the reading before the server ended the body.
        var endedEarly = false
    }

    let resolve: Resolver
    let dial: @Sendable (IPAddress) -> IPAddress
    let logger: Logger

    /// `logger` gets each refusal and failure with its detail (addresses, remote errors), which callers do not show.
    /// `dial` maps a checked address to the one connected to: the identity, except in tests, where stand-ins on
    /// loopback play public hosts (no test may send a packet to a real public address).
    public init(resolver: @escaping Resolver = Outbound.systemResolver, logger: Logger = Logger(label: "agentfcgi.outbound"),
                dial: @escaping @Sendable (IPAddress) -> IPAddress = { $0 }) {
        self.resolve = resolver
        self.logger = logger
        self.dial = dial
    }

    /// Sends `request` within `policy`; throws `OutboundError` for every refusal and failure.
    public func send(_ request: Request, policy: OutboundPolicy, metadata: Logger.Metadata = [:]) async throws -> Response {
        do {
            return try await follow(request, policy: policy)
        } catch let error as OutboundError {
            var metadata = metadata
            metadata["outbound.reason"] = "\(error.kind.rawValue)"
            metadata["outbound.detail"] = "\(error.detail)"
            logger.notice(error.isRefusal ? "outbound.refused" : "outbound.failed", metadata: metadata)
            throw error
        }
    }

    private func follow(_ request: Request, policy: OutboundPolicy) async throws -> Response {
        let deadline = NIODeadline.now() + policy.timeout.timeAmount
        var request = request
        var url = request.url
        var hops = 0
        while true {
            let target = try await admit(url, policy: policy)
            if hops > 0, target.host != URL(string: request.url).flatMap(\.host).map({ OutboundPolicy.bare($0.lowercased()) }) {
                // Credentials were meant for the first host only.
                let named = request.credentials
                request.headers.removeAll { Self.credentialHeaders.contains($0.0.lowercased()) || named.contains($0.0.lowercased()) }
            }
            let response = try await exchange(request, url: url, target: target, policy: policy, deadline: deadline)
            guard case .follow(let max) = policy.redirects, (300..<400).contains(response.status), response.status != 304,
                  let location = response.headers.first(name: "Location") else { return response }
            hops += 1
            guard hops <= max, let next = URL(string: location, relativeTo: URL(string: url))?.absoluteURL.absoluteString else {
                throw OutboundError(.tooManyRedirects, detail: "more than \(max) redirects from \(request.url.prefix(200))")
            }
            url = next
        }
    }

    /// Where a URL may be sent, decided once: its host and the address to connect to.
    public struct Target: Sendable, Equatable {
        public var host: String
        public var address: IPAddress
    }

    /// Checks the scheme, credentials, allow-list and every address of the host; returns the address to use.
    public func admit(_ text: String, policy: OutboundPolicy) async throws -> Target {
        let host = try Self.precheck(text, policy: policy)
        // A literal is judged as it is; anything else (names, and the spellings like 127.1 or 2130706433 that the
        // system's resolver turns into addresses) goes through the resolver once.
        let addresses: [IPAddress]
        if let literal = IPAddress(host) {
            addresses = [literal]
        } else {
            do { addresses = try await resolve(host) } catch let error as OutboundError { throw error } catch {
                throw OutboundError(.unresolvable, detail: "\(host.prefix(200)): \(error)")
            }
        }
        guard let first = addresses.first else { throw OutboundError(.unresolvable, detail: "\(host.prefix(200)): no address") }
        if !policy.mayBeInternal(host), let blocked = addresses.first(where: \.isInternal) {
            throw OutboundError(.internalAddress, detail: "\(host.prefix(200)) resolves to \(blocked)")
        }
        return Target(host: host, address: first)
    }

    /// What can be judged without DNS: the URL's form, the allow-list, and a literal address in any spelling. For a
    /// caller to refuse a URL when it is given (a run's webhook), long before it is used; returns the host.
    @discardableResult
    public static func precheck(_ text: String, policy: OutboundPolicy) throws -> String {
        guard text.utf8.count <= 4096, let url = URL(string: text), let scheme = url.scheme?.lowercased(),
              scheme == "http" || scheme == "https", let rawHost = url.host, !rawHost.isEmpty,
              url.user == nil, url.password == nil else {
            throw OutboundError(.invalidURL, detail: "not an http(s) URL without credentials: \(text.prefix(200))")
        }
        let host = OutboundPolicy.bare(rawHost.lowercased())
        guard policy.reachable(host) else { throw OutboundError(.hostNotAllowed, detail: "\(host.prefix(200)) is not allowed") }
        if let literal = IPAddress(host), literal.isInternal, !policy.mayBeInternal(host) {
            throw OutboundError(.internalAddress, detail: "\(host.prefix(200)) is \(literal)")
        }
        return host
    }

    /// One HTTP exchange with the checked address, on a client made for it: AsyncHTTPClient's `dnsOverride` is per
    /// client, and the override is what pins the connection to the address (the name stays in Host and SNI).
    func exchange(_ request: Request, url: String, target: Target, policy: OutboundPolicy, deadline: NIODeadline) async throws -> Response {
        var configuration = HTTPClient.Configuration(redirectConfiguration: .disallow)
        configuration.timeout = .init(connect: policy.connectTimeout.timeAmount)
        configuration.connectionPool = .init(idleTimeout: .seconds(1), concurrentHTTP1ConnectionsPerHostSoftLimit: 1)
        // Always an override, literals too: the address judged is the address dialed, whatever the spelling. The key
        // must be the host exactly as the client will look it up, or it would resolve the name itself.
        guard let key = Self.clientHostKey(url) else {
            throw OutboundError(.invalidURL, detail: "no host in \(url.prefix(200))")
        }
        configuration.dnsOverride = [key: dial(target.address).description]
        configuration.httpVersion = .http1Only
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        do {
            let response = try await perform(request, url: url, client: client, policy: policy, deadline: deadline)
            if response.endedEarly {
                Task { try? await client.shutdown() }
            } else {
                try? await client.shutdown()
            }
            return response
        } catch {
            try? await client.shutdown()
            if error is CancellationError { throw error }
            throw Self.classify(error, host: target.host)
        }
    }

    private func perform(_ request: Request, url: String, client: HTTPClient, policy: OutboundPolicy, deadline: NIODeadline) async throws -> Response {
        var outgoing = HTTPClientRequest(url: url)
        outgoing.method = request.method
        for (name, value) in request.headers { outgoing.headers.add(name: name, value: value) }
        if let body = request.body { outgoing.body = .bytes(ByteBuffer(bytes: body)) }
        let response = try await client.execute(outgoing, deadline: deadline)
        var body: [UInt8] = []
        var truncated = false
        for try await buffer in response.body {
            let room = policy.maxResponseBytes - body.count
            if buffer.readableBytes > room {
                body += buffer.readableBytesView.prefix(room)
                truncated = true
                break
            }
            body += buffer.readableBytesView
            if let complete = request.complete, complete(body) {
                var early = Response(status: Int(response.status.code), headers: response.headers, body: body, truncated: false, url: url)
                early.endedEarly = true
                return early
            }
        }
        return Response(status: Int(response.status.code), headers: response.headers, body: body, truncated: truncated, url: url)
    }

    static let credentialHeaders: Set<String> = ["authorization", "proxy-authorization", "cookie", "x-api-key"]

    /// The host as AsyncHTTPClient keys its connection target (`DeconstructedURL`, `ConnectionTarget`): the URL's
    /// host without brackets, and an IPv6 literal with them again.
    static func clientHostKey(_ text: String) -> String? {
        guard let url = URL(string: text), var host = url.host, !host.isEmpty else { return nil }
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        if case .v6? = try? SocketAddress(ipAddress: host, port: 0) { return "[\(host)]" }
        return host
    }

    static func classify(_ error: any Error, host: String) -> OutboundError {
        if let error = error as? OutboundError { return error }
        if let client = error as? HTTPClientError {
            switch client {
            case .deadlineExceeded, .readTimeout, .writeTimeout: return OutboundError(.timedOut, detail: "\(host): \(client)")
            case .connectTimeout: return OutboundError(.connectFailed, detail: "\(host): \(client)")
            default: break
            }
        }
        let text = "\(error)"
        if text.contains("connect") || text.contains("Connect") || text.contains("refused") {
            return OutboundError(.connectFailed, detail: "\(host): \(text.prefix(300))")
        }
        return OutboundError(.failed, detail: "\(host): \(text.prefix(300))")
    }

    /// The client for hosts the operator configured (model servers' `base_url`): they may be internal, and are
    /// trusted to be the host they are, but a redirect is never followed, so a model server cannot send the call
    /// (and its API key) anywhere else. Connections are pooled and reused, which per-call clients are not.
    public static func configuredHostsClient(connectTimeout: TimeAmount, readTimeout: TimeAmount) -> HTTPClient {
        var configuration = HTTPClient.Configuration(redirectConfiguration: .disallow)
        configuration.timeout = .init(connect: connectTimeout, read: readTimeout)
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }

    /// getaddrinfo on a thread of its own (it blocks, and must not hold a thread of the cooperative pool).
    public static let systemResolver: Resolver = { host in
        try await withCheckedThrowingContinuation { continuation in
            Thread.detachNewThread {
                var hints = addrinfo()
                hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
                var result: UnsafeMutablePointer<addrinfo>?
                let status = getaddrinfo(host, nil, &hints, &result)
                guard status == 0, let first = result else {
                    continuation.resume(throwing: OutboundError(.unresolvable, detail: "\(host.prefix(200)): \(String(cString: gai_strerror(status)))"))
                    return
                }
                defer { freeaddrinfo(first) }
                var addresses: [IPAddress] = []
                var entry: UnsafeMutablePointer<addrinfo>? = first
                while let current = entry {
                    if let pointer = current.pointee.ai_addr, let address = IPAddress(UnsafePointer(pointer)), !addresses.contains(address) {
                        addresses.append(address)
                    }
                    entry = current.pointee.ai_next
                }
                continuation.resume(returning: addresses)
            }
        }
    }
}

extension Duration {
    var timeAmount: TimeAmount {
        .nanoseconds(components.seconds * 1_000_000_000 + components.attoseconds / 1_000_000_000)
    }
}
