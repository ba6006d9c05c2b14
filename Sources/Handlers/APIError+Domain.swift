import HTTPTypes
import Runs

/// Problems of the run engine and the store (`RunProblem`, in `Runs/Problem.swift`, where every domain error's
/// conformance is) in this dialect's form: problem+json, with `x-should-retry: false` and `Retry-After` headers.
extension APIError {
    init(_ problem: RunProblem) {
        var headers = HTTPFields()
        if problem.retryable == false { headers.append(HTTPField(name: .xShouldRetry, value: "false")) }
        if let wait = problem.retryAfter { headers.append(HTTPField(name: .retryAfter, value: String(wait))) }
        self.init(status: problem.status, code: problem.code, detail: problem.message, field: problem.field, headers: headers)
    }

    static func threadNotFound(_ id: String) -> APIError { APIError(RunProblem.threadNotFound(id)) }
}

extension APIError {
    /// A problem of the HTTP layer or of the engine; nil for anything else (an unexpected failure).
    static func of(_ error: any Error) -> APIError? {
        switch error {
        case let error as APIError: error
        case let error as any RunProblemConvertible: APIError(error.problem)
        default: nil
        }
    }
}

extension APIError: RunProblemConvertible {
    /// A request mapping's error (a stored request that no longer reads, say) as the engine records it.
    public var problem: RunProblem {
        RunProblem(status: status, code: code, message: detail, field: field,
                   retryable: headers[.xShouldRetry] == "false" ? false : nil, retryAfter: headers[.retryAfter].flatMap { Int($0) })
    }
}
