import Foundation

/// An item of LangGraph's store (long-term memory): a JSON object under a namespace and a key, per tenant.
public struct ItemRecord: Sendable, Equatable {
    public var namespace: [String]
    public var key: String
    /// A JSON object, as stored.
    public var value: JSONText
    public var createdAt: Date
    public var updatedAt: Date
    /// Relevance to a search's text `query` (higher is better); nil when the search had none.
    public var score: Double?

    public init(namespace: [String], key: String, value: JSONText, createdAt: Date, updatedAt: Date, score: Double? = nil) {
        self.namespace = namespace
        self.key = key
        self.value = value
        self.createdAt = createdAt
        self.updatedAt = updatedAt
        self.score = score
    }
}

/// An item to create or replace. `searchText` (every string of the value, for the text search) is derived here, so
/// that both stores index the same words. Times are the store's own clock (`now` of its initializer), as for threads:
/// a time to live is the same whichever worker reads it.
public struct NewItem: Sendable {
    public var tenant: String
    public var namespace: [String]
    public var key: String
    public var value: JSONText
    /// Expires this long after its last write or (with `refreshTTL`) read; nil: never.
    public var ttl: Duration?
    public var searchText: String { ItemText.searchable(value) }

    public init(tenant: String, namespace: [String], key: String, value: JSONText, ttl: Duration? = nil) {
        self.tenant = tenant
        self.namespace = namespace
        self.key = key
        self.value = value
        self.ttl = ttl
    }
}

/// A condition on a top-level key of an item's value. Ranges compare numbers with numbers and strings with strings
/// only: a value of another type never matches them.
public struct ItemFilter: Sendable, Equatable {
    public enum Operator: String, Sendable, CaseIterable {
        case eq, ne, gt, gte, lt, lte
    }

    public var key: String
    public var op: Operator
    /// JSON text of the operand.
    public var value: JSONText

    public init(key: String, op: Operator, value: JSONText) {
        self.key = key
        self.op = op
        self.value = value
    }
}

public struct ItemQuery: Sendable {
    public var tenant: String
    /// The namespace itself and every one below it; empty: all of the tenant's.
    public var namespacePrefix: [String]
    public var filters: [ItemFilter]
    /// Words to look for (lexical full-text search, not semantic): items with any of them, best first.
    public var query: String?
    public var limit: Int
    public var offset: Int
    /// Items found start their time to live again.
    public var refreshTTL: Bool

    public init(tenant: String, namespacePrefix: [String] = [], filters: [ItemFilter] = [], query: String? = nil, limit: Int = 10,
                offset: Int = 0, refreshTTL: Bool = true) {
        self.tenant = tenant
        self.namespacePrefix = namespacePrefix
        self.filters = filters
        self.query = query
        self.limit = limit
        self.offset = offset
        self.refreshTTL = refreshTTL
    }

    /// The query's words for the stores' full-text engines: letters and digits only, so that nothing in them is
    /// query syntax (FTS5's quotes and operators, tsquery's `&|!():*`). Empty when there are none.
    public var terms: [String] { query.map(ItemText.terms) ?? [] }
}

public struct NamespaceQuery: Sendable {
    public var tenant: String
    /// Whole labels; `*` matches any one label (LangGraph's wildcard).
    public var prefix: [String]
    public var suffix: [String]
    /// Namespaces deeper than this are cut to it (and then listed once).
    public var maxDepth: Int?
    public var limit: Int
    public var offset: Int

    public init(tenant: String, prefix: [String] = [], suffix: [String] = [], maxDepth: Int? = nil, limit: Int = 100, offset: Int = 0) {
        self.tenant = tenant
        self.prefix = prefix
        self.suffix = suffix
        self.maxDepth = maxDepth
        self.limit = limit
        self.offset = offset
    }

    /// The labels before the first wildcard: what a store can narrow its rows by.
    public var fixedPrefix: [String] { Array(prefix.prefix { $0 != "*" }) }

    /// The page of distinct namespaces, sorted, from the stored ones under `fixedPrefix`: done the same way for every store.
    public func page(of stored: [String]) -> [[String]] {
        func matches(_ labels: ArraySlice<String>, _ pattern: [String]) -> Bool {
            zip(labels, pattern).allSatisfy { $1 == "*" || $0 == $1 }
        }
        var seen = Set<[String]>()
        var found: [[String]] = []
        for text in stored {
            var labels = ItemText.labels(text)
            guard labels.count >= max(prefix.count, suffix.count), matches(labels.prefix(prefix.count), prefix),
                  matches(labels.suffix(suffix.count), suffix) else { continue }
            if let maxDepth, labels.count > maxDepth { labels = Array(labels.prefix(maxDepth)) }
            if seen.insert(labels).inserted { found.append(labels) }
        }
        found.sort { $0.lexicographicallyPrecedes($1) }
        return Array(found.dropFirst(offset).prefix(limit))
    }
}

/// How items are stored and searched: namespaces as one text (labels never hold a dot), the searchable text of a value.
public enum ItemText {
    public static func namespace(_ labels: [String]) -> String { labels.joined(separator: ".") }

    public static func labels(_ stored: String) -> [String] {
        stored.isEmpty ? [] : stored.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
    }

    /// Every string in the value (keys aside), one per line: what the text search indexes.
    public static func searchable(_ value: JSONText) -> String {
        guard let object = try? JSONSerialization.jsonObject(with: Data(value.utf8), options: [.fragmentsAllowed]) else { return "" }
        var strings: [String] = []
        func collect(_ node: Any) {
            switch node {
            case let text as String: strings.append(text)
            case let list as [Any]: list.forEach(collect)
            case let map as [String: Any]: map.keys.sorted().forEach { collect(map[$0]!) }
            default: break
            }
        }
        collect(object)
        return strings.joined(separator: "\n")
    }

    /// At most 32 words of letters and digits, lowercased, each once.
    public static func terms(_ query: String) -> [String] {
        var seen = Set<String>()
        var terms: [String] = []
        for word in query.lowercased().split(whereSeparator: { !($0.isLetter || $0.isNumber) }) where seen.insert(String(word)).inserted {
            terms.append(String(word))
            if terms.count == 32 { break }
        }
        return terms
    }
}
