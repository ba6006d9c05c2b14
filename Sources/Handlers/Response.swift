public import HTTPTypes
import Runs

/// What a handler answers. The body is bytes, or a writer closure that streams chunks as they exist.
public struct Response: Sendable {
    public var status: HTTPResponse.Status
    public var headers: HTTPFields
    public var body: ResponseBody

    public init(status: HTTPResponse.Status = .ok, headers: HTTPFields = [:], body: ResponseBody = .bytes([])) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    public static func json(_ bytes: [UInt8], status: HTTPResponse.Status = .ok) -> Response {
        Response(status: status, headers: [.contentType: "application/json"], body: .bytes(bytes))
    }
}

public enum ResponseBody: Sendable {
    case bytes([UInt8])
    /// Streamed: each `write` reaches the client at once. `heartbeat` asks the transport to send
    /// its bytes whenever the stream has been silent that long (SSE comments keep proxies from cutting it).
    case stream(heartbeat: Heartbeat?, @Sendable (any ResponseBodyWriter) async throws -> Void)
}

public struct Heartbeat: Sendable, Equatable {
    public var interval: Duration
    public var bytes: [UInt8]

    public init(interval: Duration, bytes: [UInt8]) {
        self.interval = interval
        self.bytes = bytes
    }
}

/// The transport's side of a streamed body.
public protocol ResponseBodyWriter: Sendable {
    /// Queues bytes for the client and flushes them at once. Suspends while the client is not keeping up
    /// (back-pressure, no thread held); throws `ClientDisconnected` once the client has gone.
    func write(_ bytes: [UInt8]) async throws
}

/// The client went away mid-response (the run engine's type: a run whose client left stops or goes on by its
/// `on_disconnect`).
public typealias ClientDisconnected = Runs.ClientDisconnected

/// The reason phrase for the status line that FastCGI passes as `Status:`: the status's own, or the standard one
/// (a status made from a number has none).
public func reasonPhrase(_ status: HTTPResponse.Status) -> String {
    if !status.reasonPhrase.isEmpty { return status.reasonPhrase }
    return switch status.code {
    case 200: "OK"
    case 201: "Created"
    case 202: "Accepted"
    case 204: "No Content"
    case 304: "Not Modified"
    case 400: "Bad Request"
    case 401: "Unauthorized"
    case 403: "Forbidden"
    case 404: "Not Found"
    case 405: "Method Not Allowed"
    case 406: "Not Acceptable"
    case 409: "Conflict"
    case 410: "Gone"
    case 413: "Content Too Large"
    case 414: "URI Too Long"
    case 415: "Unsupported Media Type"
    case 422: "Unprocessable Content"
    case 429: "Too Many Requests"
    case 431: "Request Header Fields Too Large"
    case 500: "Internal Server Error"
    case 502: "Bad Gateway"
    case 503: "Service Unavailable"
    case 504: "Gateway Timeout"
    case 507: "Insufficient Storage"
    default: "Status \(status.code)"
    }
}
