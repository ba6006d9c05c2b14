import HTTPTypes
import Crypto
import AgentRuntime
import Foundation
import Runs
import Store

/// `Idempotency-Key` on the POSTs that create work: the same key with the same request gets the first answer
/// (and starts nothing new); with a different request it is a 422. Keys are kept 24 h, per caller.
struct Idempotency {
    let engine: RunEngine

    struct Claimed {
        var scope: String
        var key: String
    }

    enum Outcome {
        /// First use: do the work, then `complete`.
        case proceed(Claimed?)
        case replay(IdempotentResponse)
    }

    static func key(_ request: Request) throws -> String? {
        guard let key = request.headers[.idempotencyKey] else { return nil }
        guard !key.isEmpty, key.utf8.count <= 255, key.utf8.allSatisfy({ $0 >= 0x20 && $0 < 0x7f }) else {
            throw APIError(status: 422, code: "validation_error", detail: "Idempotency-Key: must be 1 to 255 printable ASCII characters.",
                           field: "Idempotency-Key")
        }
        return key
    }

    /// Who the key belongs to: the caller's tenant (everyone, on a server without API keys).
    static func scope(_ context: RequestContext) -> String {
        context.principal.map { "tenant:" + $0.tenant } ?? "anonymous"
    }

    static func fingerprint(_ request: Request) -> String {
        SHA256.hash(data: Array("\(request.method) \(request.path)\n".utf8) + request.body).lowercaseHex
    }

    func begin(_ request: Request, _ context: RequestContext) async throws -> Outcome {
        guard let key = try Self.key(request) else { return .proceed(nil) }
        let scope = Self.scope(context)
        switch try await engine.claimIdempotency(scope: scope, key: key, requestHash: Self.fingerprint(request)) {
        case .new:
            return .proceed(Claimed(scope: scope, key: key))
        case .replay(let response):
            return .replay(response)
        case .mismatch:
            throw APIError(status: 422, code: "idempotency_key_reused",
                           detail: "This Idempotency-Key was used with a different request; use a new key for a new request.",
                           field: "Idempotency-Key")
        case .inProgress:
            throw APIError(status: 409, code: "idempotency_key_in_progress",
                           detail: "A request with this Idempotency-Key is still being handled; retry shortly.",
                           headers: [.retryAfter: "1"])
        }
    }

    /// Both run in a task of their own: a client that left (its request's task cancelled) must not leave the key
    /// claimed and unanswered for its 24 hours.
    func complete(_ claimed: Claimed?, status: Int, headers: [(String, String)], body: [UInt8]) async {
        guard let claimed else { return }
        let headerText = String(decoding: encodeJSON(headers.map { [$0.0, $0.1] }), as: UTF8.self)
        let engine = self.engine
        await Task {
            try? await engine.completeIdempotency(scope: claimed.scope, key: claimed.key,
                                                  IdempotentResponse(status: status, headers: headerText, body: body))
        }.value
    }

    func release(_ claimed: Claimed?) async {
        guard let claimed else { return }
        let engine = self.engine
        await Task { try? await engine.releaseIdempotency(scope: claimed.scope, key: claimed.key) }.value
    }

    /// For creations answered with a JSON body: the stored answer is the answer.
    func perform(_ request: Request, _ context: RequestContext, _ work: () async throws -> Response) async throws -> Response {
        switch try await begin(request, context) {
        case .replay(let stored):
            return Self.replayed(stored)
        case .proceed(let claimed):
            let response: Response
            do {
                response = try await work()
            } catch {
                await release(claimed)
                throw error
            }
            if case .bytes(let bytes) = response.body, response.status.code < 500 {
                await complete(claimed, status: response.status.code, headers: response.headers.map { ($0.name.rawName, $0.value) }, body: bytes)
            } else {
                await release(claimed)
            }
            return response
        }
    }

    static func replayed(_ stored: IdempotentResponse) -> Response {
        var headers = HTTPFields()
        let pairs = (try? JSONDecoder().decode([[String]].self, from: Data(stored.headers.utf8))) ?? []
        for pair in pairs where pair.count == 2 {
            guard let name = HTTPField.Name(pair[0]), name != .xRequestID else { continue }
            headers.append(HTTPField(name: name, value: pair[1]))
        }
        headers.append(HTTPField(name: .idempotentReplayed, value: "true"))
        return Response(status: HTTPResponse.Status(code: stored.status), headers: headers, body: .bytes(stored.body))
    }
}
