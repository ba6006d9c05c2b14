import HTTPTypes
import AgentRuntime
import Crypto
import Foundation
import Runs
import Store

/// Who is calling: the API key's tenant, scopes and limits.
public struct Principal: Sendable, Equatable {
    public var keyID: String
    public var tenant: String
    public var scopes: Set<String>
    public var maxConcurrentRuns: Int?
    public var dailyTokenBudget: Int?

    public func allows(_ scope: String) -> Bool { scopes.contains("admin") || scopes.contains(scope) }

    /// What the run engine counts against the key.
    var quota: RunQuota {
        RunQuota(keyID: keyID, maxConcurrentRuns: maxConcurrentRuns, dailyTokenBudget: dailyTokenBudget, tenant: tenant)
    }
}

/// API keys: `afk_<id>_<secret>`. The id (12 hex digits of the secret's SHA-256) is public: logs, `keys list` and
/// nginx's per-key rate limit use it, so no secret sits in nginx's memory. Only a hash of the whole key is stored.
public enum APIKeys {
    public static let prefix = "afk_"
    public static let scopes = ["agents:read", "assistants:write", "threads:read", "threads:write", "runs:read", "runs:write",
                                "crons:write", "store:read", "store:write", "admin"]

    public struct Generated: Sendable {
        public var key: String
        public var id: String
        public var hash: String
    }

    public static func generate() -> Generated {
        let secret = SymmetricKey(size: .bits256).withUnsafeBytes { Data($0) }.base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
        let id = String(SHA256.hash(data: Array(secret.utf8)).lowercaseHex.prefix(12))
        let key = "\(prefix)\(id)_\(secret)"
        return Generated(key: key, id: id, hash: hash(key))
    }

    public static func hash(_ key: String) -> String { SHA256.hash(data: Array(key.utf8)).lowercaseHex }

    /// The distinct credentials a request carries: every `X-Api-Key` and every `Authorization: Bearer`. More than
    /// one is refused rather than one silently preferred (nginx limits by one of them, the app would check another).
    static func credentials(_ request: Request) -> [String] {
        var found: [String] = []
        for field in request.headers {
            let value: String
            if field.name == .xAPIKey {
                value = field.value
            } else if field.name == .authorization {
                let parts = field.value.split(separator: " ", maxSplits: 1)
                guard parts.count == 2, parts[0].lowercased() == "bearer" else { continue }
                value = parts[1].trimmingCharacters(in: .whitespaces)
            } else {
                continue
            }
            if !value.isEmpty, !found.contains(value) { found.append(value) }
        }
        return found
    }

    /// Equal without an early exit, so that the time taken does not tell how much of a hash matched.
    static func constantTimeEqual(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8), y = Array(b.utf8)
        guard x.count == y.count else { return false }
        return zip(x, y).reduce(0) { $0 | ($1.0 ^ $1.1) } == 0
    }
}

/// Checks a request's key against the store.
struct Authenticator: Sendable {
    let store: StoreReader

    /// `scope` nil: any valid key; the handler checks the operation's scope itself.
    func authenticate(_ request: Request, scope: String?) async throws -> Principal {
        let challenge: HTTPFields = [.wwwAuthenticate: #"Bearer realm="agentfcgi""#]
        let credentials = APIKeys.credentials(request)
        guard credentials.count <= 1 else {
            throw APIError(status: 401, code: "unauthorized",
                           detail: "The request carries \(credentials.count) different API keys: send one.", headers: challenge)
        }
        guard let credential = credentials.first else {
            throw APIError(status: 401, code: "unauthorized",
                           detail: "An API key is required: send it as X-Api-Key or Authorization: Bearer.", headers: challenge)
        }
        let hash = APIKeys.hash(credential)
        guard credential.hasPrefix(APIKeys.prefix), credential.utf8.count <= 200,
              let record = try await store.key(hash: hash), APIKeys.constantTimeEqual(record.hash, hash) else {
            throw APIError(status: 401, code: "unauthorized", detail: "The API key is not valid (unknown or revoked).", headers: challenge)
        }
        let principal = Principal(keyID: record.id, tenant: record.tenant, scopes: Set(record.scopes),
                                  maxConcurrentRuns: record.maxConcurrentRuns, dailyTokenBudget: record.dailyTokenBudget)
        if let scope, !principal.allows(scope) { throw APIError.lacksScope(scope) }
        return principal
    }
}

extension APIError {
    static func lacksScope(_ scope: String) -> APIError {
        APIError(status: 403, code: "forbidden", detail: "This API key lacks the scope '\(scope)'.")
    }
}

/// Thread ids are per tenant (`Tenancy`, in Runs): stored as `<tenant><US><id>`, so two tenants may both have a thread
/// "demo" and neither can reach, or learn of, the other's. Clients never see the prefix.
extension RequestContext {
    var tenant: String { principal?.tenant ?? "" }

    func threadKey(_ id: String) -> String { Tenancy.internalID(id, tenant: tenant) }
}
