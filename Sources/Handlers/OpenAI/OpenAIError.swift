import HTTPTypes
import Runs

/// Errors on `/v1/*` in OpenAI's shape, `{"error": {"message", "type", "param", "code"}}`, which its clients turn into
/// their exception classes by status: so a validation error is a 400 (their `BadRequestError`), never a 422.
enum OpenAIError {
    static func isOpenAIPath(_ path: String) -> Bool { path == "/v1" || path.hasPrefix("/v1/") }

    static func type(for status: Int) -> String {
        switch status {
        case 401: "authentication_error"
        case 403: "permission_error"
        case 429: "rate_limit_error"
        case 500...: "server_error"
        default: "invalid_request_error"
        }
    }

    struct Body: Encodable {
        var error: Detail

        struct Detail: Encodable {
            var message: String
            var type: String
            var param: String?
            var code: String?

            func encode(to encoder: any Encoder) throws {
                // `param` and `code` are always there, null when unknown, as OpenAI sends them.
                var container = encoder.container(keyedBy: CodingKeys.self)
                try container.encode(message, forKey: .message)
                try container.encode(type, forKey: .type)
                try container.encode(param, forKey: .param)
                try container.encode(code, forKey: .code)
            }

            enum CodingKeys: String, CodingKey { case message, type, param, code }
        }
    }

    static func body(_ error: APIError) -> [UInt8] {
        let status = error.status == 422 ? 400 : error.status
        // The words of /v1: a model, a conversation; LangGraph's multitask_strategy is no parameter here.
        let (code, param): (String, String?) = switch error.code {
        case "agent_not_found": ("model_not_found", "model")
        case "thread_not_found": ("conversation_not_found", "conversation")
        case "thread_busy": ("conversation_busy", nil)
        default: (error.code, error.field)
        }
        return encodeJSON(Body(error: .init(message: error.detail, type: type(for: status), param: param, code: code)))
    }

    static func response(_ error: APIError, requestID: String) -> Response {
        var headers = error.headers
        headers.append(HTTPField(name: .contentType, value: "application/json"))
        return Response(status: HTTPResponse.Status(code: error.status == 422 ? 400 : error.status), headers: headers, body: .bytes(body(error)))
    }
}

extension APIError {
    /// The error in the dialect of the path that was asked: OpenAI's under `/v1`, problem+json elsewhere.
    /// In the dialect of the path: OpenAI's error shape under /v1, a JSON-RPC error at /mcp, a problem elsewhere.
    func response(for request: Request) -> Response {
        if OpenAIError.isOpenAIPath(request.path) { return OpenAIError.response(self, requestID: request.requestID) }
        if MCPWire.isMCPPath(request.path) { return MCPWire.response(id: nil, error: .of(self, era: nil)) }
        return response(requestID: request.requestID)
    }
}
