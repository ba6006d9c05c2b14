@testable import AgentRuntime
import Foundation
import GRDB
import Testing

@Suite struct KnowledgeSearchToolTests {
    static let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/knowledge").path

    func search(_ tool: KnowledgeSearchTool, _ query: String) async throws -> String {
        try await tool.run(["query": .string(query)])
    }

    @Test func findsRankedPassagesWithTheirSource() async throws {
        let tool = try KnowledgeSearchTool(folder: Self.folder, maxResults: 2)
        let answer = try await search(tool, "Why do streaming events arrive in one lump?")
        #expect(answer.hasPrefix("[1] nginx.md: "))
        #expect(answer.contains("fastcgi_buffering off"))
        let tools = try await search(tool, "private addresses")
        #expect(tools.hasPrefix("[1] guides/tools.txt: "))
        #expect(tools.contains("allow-list"))
        #expect(!tools.contains("ignored"))
    }

    @Test func queriesCannotInjectFTSSyntax() async throws {
        let tool = try KnowledgeSearchTool(folder: Self.folder)
        #expect(try await search(tool, #"calculator" OR passage:* NEAR("x" ) -"#).contains("calculator tool"))
        #expect(try await search(tool, "zebra") == "No passage matches zebra.")
        await #expect(throws: ToolError.self) { try await search(tool, "?!") }
    }

    @Test func prebuiltIndexIsWrittenAtomicallyAndRead() async throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("kb-\(UUID().uuidString).sqlite").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        let builder = try KnowledgeSearchTool(folder: Self.folder, indexPath: path)
        let counts = try builder.writeIndex()
        #expect(counts.files == 2)
        #expect(counts.passages == 2)  // short paragraphs merge: one passage per small file
        // A tool started later reads the file instead of indexing again.
        let reader = try KnowledgeSearchTool(folder: "/nonexistent", indexPath: path)
        #expect(try await search(reader, "TLS").contains("nginx.md"))
    }

    @Test func passagesMergeShortParagraphs() {
        #expect(KnowledgeSearchTool.passages("a\n\nb\n\n\n\nc", limit: 3) == ["a\nb", "c"])
        #expect(KnowledgeSearchTool.passages("  \n\n ") == [])
    }

    @Test func builtinModelSearchesQuestions() async throws {
        let agent = AgentDefinition(id: "kb", tools: [ConfiguredTool(try KnowledgeSearchTool(folder: Self.folder))])
        let result = try await AgentRunner(makeID: { UUID().uuidString })
            .run(agent: agent, input: [ChatMessage(id: "u", role: .user, content: "How does nginx reach the workers?")]) { _ in }
        #expect(result.messages[1].toolCalls.first?.name == "knowledge_search")
        #expect(result.messages[2].content.contains("FastCGI socket"))
        #expect(result.messages.last?.content.hasPrefix("knowledge_search returned [1] nginx.md") == true)
    }
}
