import HTTPTypes
import Foundation

/// The one error type handlers throw. Rendered as RFC 9457 `application/problem+json` with the `code` and
/// `message` members that Agent Protocol and OpenAI-style clients read.
public struct APIError: Error, Sendable, Equatable {
    public var status: Int
    /// Stable, machine-readable, snake_case: clients branch on it.
    public var code: String
    public var title: String
    public var detail: String
    /// The JSON path of the offending input field, when there is one.
    public var field: String?
    public var headers: HTTPFields

    public init(status: Int, code: String, detail: String, field: String? = nil,
                title: String? = nil, headers: HTTPFields = [:]) {
        self.status = status
        self.code = code
        self.title = title ?? reasonPhrase(HTTPResponse.Status(code: status))
        self.detail = detail
        self.field = field
        self.headers = headers
    }

    public static func notFound(_ detail: String, code: String = "not_found") -> APIError {
        APIError(status: 404, code: code, detail: detail)
    }

    public static func invalid(field: String, _ detail: String) -> APIError {
        APIError(status: 422, code: "validation_error", detail: field.isEmpty ? detail : "\(field): \(detail)", field: field)
    }

    /// An unexpected failure: the client learns only the request id; the cause goes to the log.
    public static func internalError(requestID: String) -> APIError {
        APIError(status: 500, code: "internal_error",
                 detail: "The server failed to handle this request. Quote request id \(requestID) when reporting it.")
    }

    /// The body: `type`, `title`, `status`, `detail`, `code`, `message`, and `field`/`request_id` when known.
    public func problemJSON(requestID: String, instance: String? = nil) -> [UInt8] {
        let body = ProblemBody(
            type: "urn:agentfcgi:problem:\(code)", title: title, status: status, detail: detail,
            code: code, message: detail, field: field, instance: instance,
            request_id: requestID.isEmpty ? nil : requestID)
        return Array((try? problemEncoder.encode(body)) ?? Data("{\"status\":\(status)}".utf8))
    }

    public func response(requestID: String, instance: String? = nil) -> Response {
        var headers = self.headers
        headers.append(HTTPField(name: .contentType, value: "application/problem+json"))
        return Response(status: HTTPResponse.Status(code: status), headers: headers, body: .bytes(problemJSON(requestID: requestID, instance: instance)))
    }
}

private struct ProblemBody: Encodable {
    var type: String
    var title: String
    var status: Int
    var detail: String
    var code: String
    var message: String
    var field: String?
    var instance: String?
    var request_id: String?
}

private let problemEncoder: JSONEncoder = {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    return encoder
}()
