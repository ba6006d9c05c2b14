/// A stored answer to a request sent with an `Idempotency-Key`.
public struct IdempotentResponse: Sendable, Equatable {
    public var status: Int
    public var headers: JSONText
    public var body: [UInt8]

    public init(status: Int, headers: JSONText, body: [UInt8]) {
        self.status = status
        self.headers = headers
        self.body = body
    }
}

public enum IdempotencyClaim: Sendable, Equatable {
    /// First use: go on, then `completeIdempotency` (or `releaseIdempotency` on failure).
    case new
    case replay(IdempotentResponse)
    /// The key was used with a different request.
    case mismatch
    /// The first request with this key has not finished yet.
    case inProgress
}
