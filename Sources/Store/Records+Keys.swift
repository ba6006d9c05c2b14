import Foundation

/// An API key as stored: a hash of the secret, never the secret.
public struct APIKeyRecord: Sendable, Equatable {
    /// Public: the part of the key between its prefix and its secret.
    public var id: String
    public var hash: String
    public var name: String
    public var tenant: String
    public var scopes: [String]
    public var maxConcurrentRuns: Int?
    public var dailyTokenBudget: Int?
    public var createdAt: Date
    public var revokedAt: Date?

    public init(id: String, hash: String, name: String, tenant: String, scopes: [String], maxConcurrentRuns: Int? = nil,
                dailyTokenBudget: Int? = nil, createdAt: Date, revokedAt: Date? = nil) {
        self.id = id
        self.hash = hash
        self.name = name
        self.tenant = tenant
        self.scopes = scopes
        self.maxConcurrentRuns = maxConcurrentRuns
        self.dailyTokenBudget = dailyTokenBudget
        self.createdAt = createdAt
        self.revokedAt = revokedAt
    }
}
