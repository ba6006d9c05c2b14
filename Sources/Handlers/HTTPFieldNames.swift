public import HTTPTypes

/// Field names this server reads or writes that swift-http-types does not name.
extension HTTPField.Name {
    public static let xAPIKey = Self("X-Api-Key")!
    public static let xRequestID = Self("X-Request-Id")!
    public static let xShouldRetry = Self("x-should-retry")!
    public static let xPaginationNext = Self("X-Pagination-Next")!
    public static let xOpenWebUIChatID = Self("X-OpenWebUI-Chat-Id")!
    public static let idempotencyKey = Self("Idempotency-Key")!
    public static let idempotentReplayed = Self("Idempotent-Replayed")!
    public static let lastEventID = Self("Last-Event-ID")!
    public static let prefer = Self("Prefer")!
    public static let traceparent = Self("traceparent")!
    public static let tracestate = Self("tracestate")!
    public static let mcpMethod = Self("Mcp-Method")!
    public static let mcpName = Self("Mcp-Name")!
    public static let mcpProtocolVersion = Self("MCP-Protocol-Version")!
    public static let mcpSessionID = Self("Mcp-Session-Id")!
    public static let xAccelBuffering = Self("X-Accel-Buffering")!
}
