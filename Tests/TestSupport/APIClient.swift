import Foundation

// One test client, two drivers: a scenario (Scenario.swift) is written once against `APIClient`, and runs in-process
// (HandlersTests' driver calls `Application.respond(to:)`) and live (LiveTests' driver sends HTTPS through nginx to
// worker processes). Only Foundation here: the drivers bring the application's and the HTTP client's types.

/// A request as a scenario writes it: method, path (with its query) and header names as on the wire.
public struct APIRequest: Sendable {
    public var method: String
    public var path: String
    public var headers: [(name: String, value: String)]
    public var body: [UInt8]?
    /// Whether the driver adds its own key (an admin key of one tenant); a request that names its own credential
    /// (`X-Api-Key`, `Authorization`) is sent with that one only.
    public var authenticated: Bool

    public init(method: String, path: String, headers: [(name: String, value: String)] = [], body: [UInt8]? = nil,
                authenticated: Bool = true) {
        self.method = method
        self.path = path
        self.headers = headers
        self.body = body
        self.authenticated = authenticated
    }

    /// Whether the request carries a credential of its own.
    public var namesACredential: Bool {
        headers.contains { ["x-api-key", "authorization"].contains($0.name.lowercased()) }
    }
}

/// What came back: the status, the header fields (names lowercased) and the whole body (a stream read to its end).
public struct APIResult: Sendable {
    public var status: Int
    public var headers: [(name: String, value: String)]
    public var body: [UInt8]

    public init(status: Int, headers: [(name: String, value: String)], body: [UInt8]) {
        self.status = status
        self.headers = headers.map { ($0.name.lowercased(), $0.value) }
        self.body = body
    }

    public func header(_ name: String) -> String? {
        let name = name.lowercased()
        return headers.first { $0.name == name }?.value
    }

    public var text: String { String(decoding: body, as: UTF8.self) }

    public var json: [String: Any]? {
        try? JSONSerialization.jsonObject(with: Data(body)) as? [String: Any]
    }

    public var jsonArray: [[String: Any]]? {
        try? JSONSerialization.jsonObject(with: Data(body)) as? [[String: Any]]
    }

    /// The body's Server-Sent Events frames, heartbeats (`: ping`) left out.
    public var frames: [SSEFrame] {
        SSEParser.parseAll(text).filter { $0.event != ":" }
    }
}

/// Sends requests to the API and returns the whole answer; a driver per way of reaching the application.
public protocol APIClient: Sendable {
    func send(_ request: APIRequest) async throws -> APIResult
}

extension APIClient {
    /// A request with a text body, sent as `application/json` unless `headers` name another content type.
    public func send(_ method: String, _ path: String, body: String? = nil, headers: [(String, String)] = [],
                     authenticated: Bool = true) async throws -> APIResult {
        var fields = headers.map { (name: $0.0, value: $0.1) }
        if body != nil, !fields.contains(where: { $0.name.lowercased() == "content-type" }) {
            fields.append((name: "Content-Type", value: "application/json"))
        }
        return try await send(APIRequest(method: method, path: path, headers: fields, body: body.map { Array($0.utf8) },
                                         authenticated: authenticated))
    }
}
