import Foundation
import GRDB

/// Full-text search over a folder of text and Markdown files: SQLite FTS5, ranked by bm25.
///
/// Files are cut into passages (paragraphs, joined up to ~800 characters) so an answer quotes a passage, not a
/// file. The index is built in memory when the worker starts, or read from `index_path` when `agentfcgi index`
/// has written one there.
public struct KnowledgeSearchTool: Tool {
    public let folder: String
    public let maxResults: Int
    public let indexPath: String?
    let database: DatabaseQueue

    public init(folder: String, maxResults: Int = 5, indexPath: String? = nil) throws {
        self.folder = folder
        self.maxResults = maxResults
        self.indexPath = indexPath
        if let indexPath, FileManager.default.fileExists(atPath: indexPath) {
            var configuration = Configuration()
            configuration.readonly = true
            database = try DatabaseQueue(path: indexPath, configuration: configuration)
        } else {
            database = try DatabaseQueue()
            _ = try Self.build(into: database, from: folder)
        }
    }

    public var spec: ToolSpec {
        ToolSpec(
            name: "knowledge_search",
            description: "Searches the knowledge base (text and Markdown documents) and returns the best passages with their source file.",
            parameters: [
                "type": "object",
                "properties": ["query": ["type": "string", "minLength": 1, "maxLength": 500, "description": "Words to look for"]],
                "required": ["query"],
                "additionalProperties": false,
            ])
    }

    public var isIdempotent: Bool { true }

    public func run(_ arguments: [String: JSONValue]) async throws -> String {
        guard case .string(let query) = arguments["query"] else { throw ToolError("query is required") }
        // Every word quoted: the model's text must never be read as FTS5 query syntax.
        let words = query.split { !$0.isLetter && !$0.isNumber }.prefix(32).map { "\"\($0)\"" }
        guard !words.isEmpty else { throw ToolError("the query has no words to search for") }
        let match = words.joined(separator: " OR ")
        let limit = maxResults
        let rows = try await database.read { db in
            try Row.fetchAll(db, sql: """
                SELECT source, passage FROM passages WHERE passages MATCH ? ORDER BY bm25(passages) LIMIT ?
                """, arguments: [match, limit])
        }
        if rows.isEmpty { return "No passage matches \(query.prefix(100))." }
        return rows.enumerated().map { index, row in
            "[\(index + 1)] \(row["source"] as String): \(row["passage"] as String)"
        }.joined(separator: "\n\n")
    }

    /// Writes the index to `indexPath` (through a temporary file, so running workers never see half of it).
    public func writeIndex() throws -> (files: Int, passages: Int) {
        guard let indexPath else { throw ToolError("no index_path is configured") }
        let temporary = indexPath + ".tmp"
        try? FileManager.default.removeItem(atPath: temporary)
        let counts = try Self.build(into: DatabaseQueue(path: temporary), from: folder)
        guard rename(temporary, indexPath) == 0 else { throw ToolError("cannot write \(indexPath): errno \(errno)") }
        return counts
    }

    /// Indexes every .txt, .md and .markdown file below `folder`; returns (files, passages).
    @discardableResult
    public static func build(into database: DatabaseQueue, from folder: String) throws -> (files: Int, passages: Int) {
        let root = URL(fileURLWithPath: folder)
        guard let enumerator = FileManager.default.enumerator(at: root, includingPropertiesForKeys: [.isRegularFileKey]) else {
            throw ToolError("cannot read the folder \(folder)")
        }
        var documents: [(String, String)] = []
        for case let url as URL in enumerator where ["txt", "md", "markdown"].contains(url.pathExtension.lowercased()) {
            guard let text = try? String(contentsOf: url, encoding: .utf8) else { continue }
            let relative = url.path.hasPrefix(root.path + "/") ? String(url.path.dropFirst(root.path.count + 1)) : url.lastPathComponent
            documents.append((relative, text))
        }
        var passages = 0
        try database.write { db in
            try db.execute(sql: "DROP TABLE IF EXISTS passages")
            try db.execute(sql: "CREATE VIRTUAL TABLE passages USING fts5(source UNINDEXED, passage, tokenize = 'porter unicode61')")
            for (source, text) in documents.sorted(by: { $0.0 < $1.0 }) {
                for passage in Self.passages(text) {
                    try db.execute(sql: "INSERT INTO passages (source, passage) VALUES (?, ?)", arguments: [source, passage])
                    passages += 1
                }
            }
        }
        return (documents.count, passages)
    }

    /// Paragraphs, merged while they stay under `limit` characters.
    static func passages(_ text: String, limit: Int = 800) -> [String] {
        let paragraphs = text.components(separatedBy: "\n\n").map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }.filter { !$0.isEmpty }
        var result: [String] = []
        var current = ""
        for paragraph in paragraphs {
            if !current.isEmpty, current.count + paragraph.count + 1 > limit {
                result.append(current)
                current = ""
            }
            current += current.isEmpty ? paragraph : "\n" + paragraph
        }
        if !current.isEmpty { result.append(current) }
        return result
    }
}
