import Foundation
import Glibc
@testable import AgentRuntime
import TestSupport
import Testing

/// The MCP client against servers that misbehave (Tests/Fixtures/mcp_bad_server.py, plain python3), and the child
/// process it runs them in. The official SDK's server is driven end to end through nginx (test_tool_sources.py).
@Suite struct MCPToolSourceTests {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures").path

    func bad(_ mode: String, timeout: Duration = .seconds(2)) -> MCPToolSource {
        MCPToolSource(.init(name: "bad", transport: .stdio(command: ["/usr/bin/python3", "\(Self.fixtures)/mcp_bad_server.py", mode],
                                                           environment: [:], directory: nil), timeout: timeout))
    }

    func call(_ source: MCPToolSource, _ name: String = "bad__x") async throws -> (ConfiguredTool.Outcome, Duration) {
        let tool = try #require(try await source.tools().first { $0.spec.name == name })
        let started = ContinuousClock.now
        let outcome = try await tool.invoke(arguments: .object([:]), clock: ContinuousClock())
        return (outcome, ContinuousClock.now - started)
    }

    @Test func aServerThatAnswersGarbageEndsTheCallWithinItsTimeout() async throws {
        let source = bad("malformed", timeout: .seconds(1))
        defer { Task { await source.shutdown() } }
        #expect(try await source.tools().map(\.spec.name) == ["bad__x"])
        let (outcome, took) = try await call(source)
        guard case .failure(let message) = outcome else { Issue.record("\(outcome)"); return }
        #expect(message.contains("timed out") || message.contains("no answer"), "\(message)")
        #expect(took < .seconds(3))
    }

    @Test func aServerThatNeverAnswersTimesOutAndStaysUsable() async throws {
        let source = bad("silent", timeout: .milliseconds(500))
        defer { Task { await source.shutdown() } }
        for _ in 0..<2 {
            let (outcome, took) = try await call(source)
            #expect("\(outcome)".contains("timed out after"), "\(outcome)")
            #expect(took < .seconds(2))
        }
        // The same child still serves listings: a slow call did not cost the connection.
        let pid = await source.processID
        #expect(try await source.tools().count == 1)
        let after = await source.processID
        #expect(pid != nil && after == pid)
    }

    @Test func aFloodedLineStopsTheServerAndTheNextCallStartsANewOne() async throws {
        let source = bad("flood-line", timeout: .seconds(10))
        defer { Task { await source.shutdown() } }
        _ = try await source.tools()
        let first = try #require(await source.processID)
        let (outcome, took) = try await call(source)
        #expect(outcome == .failure("the MCP server sent a message over 4 MiB; it was stopped"), "\(outcome)")
        #expect(took < .seconds(8), "failed at the cap, not after the server's 30 s")
        try await eventually("the flooding server to be gone") { kill(first, 0) != 0 }
        let (again, _) = try await call(source)
        #expect(again == .failure("the MCP server sent a message over 4 MiB; it was stopped"))
        let second = await source.processID
        #expect(second != first)
    }

    /// A server that stops reading: a call too big for the pipe fails within its timeout, on no request thread.
    @Test func aServerThatStopsReadingFailsTheCallInTime() async throws {
        let source = bad("deaf", timeout: .seconds(1))
        defer { Task { await source.shutdown() } }
        let tool = try #require(try await source.tools().first)
        let started = ContinuousClock.now
        let big = JSONValue.object(["padding": .string(String(repeating: "x", count: 512 * 1024))])
        let outcome = try await tool.invoke(arguments: big, clock: ContinuousClock())
        guard case .failure = outcome else { Issue.record("\(outcome)"); return }
        #expect(ContinuousClock.now - started < .seconds(4))
    }

    @Test func patternsOfOutsideSchemasAreDropped() {
        let schema: JSONValue = ["type": "object", "properties": ["pattern": ["type": "string", "pattern": "^(a+)+$"],
                                                                  "code": ["type": "string", "pattern": "[0-9]+", "enum": ["pattern"]]],
                                 "items": [["pattern": "x"]]]
        let stripped = ToolSchemas.withoutPatterns(schema)
        let properties = stripped.objectValue?["properties"]?.objectValue
        // The property named "pattern" stays; every pattern keyword goes; data stays.
        #expect(properties?["pattern"] == ["type": "string"])
        #expect(properties?["code"] == ["type": "string", "enum": ["pattern"]])
        #expect(stripped.objectValue?["items"] == [[:]])
    }

    @Test func noiseBetweenAnswersIsSkipped() async throws {
        let source = bad("noise")
        defer { Task { await source.shutdown() } }
        #expect(try await call(source).0 == .success("x ok"))
    }

    @Test func aChangedToolListIsReadAgain() async throws {
        let source = bad("changes")
        defer { Task { await source.shutdown() } }
        #expect(try await source.tools().map(\.spec.name) == ["bad__x"])
        #expect(try await call(source).0 == .success("x ok"))
        try await eventually("the new tool") { try await source.tools().map(\.spec.name) == ["bad__x", "bad__y"] }
    }

    /// A Streamable HTTP server may keep an answer's SSE stream open after the answer: the call ends at the answer.
    @Test func anAnswerOnAStreamThatStaysOpenEndsTheCall() async throws {
        let server = Process()
        server.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        server.arguments = ["\(Self.fixtures)/mcp_bad_server.py", "http-keep-open", "0"]
        let ready = Pipe()
        server.standardOutput = ready
        // Not this process's stderr: a server that outlived the test would hold `swift test`'s pipe open.
        server.standardError = FileHandle.nullDevice
        try server.run()
        // SIGKILL: a child of the test process inherits its blocked SIGTERM.
        defer { kill(server.processIdentifier, SIGKILL) }
        // Up to the end of the line: an unbuffered Python (PYTHONUNBUFFERED) writes it in pieces.
        var line = ""
        while !line.contains("\n") {
            let piece = ready.fileHandleForReading.availableData
            if piece.isEmpty { break }
            line += String(decoding: piece, as: UTF8.self)
        }
        let port = try #require(line.split(separator: " ").last.flatMap { Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) }, "\(line)")
        let source = MCPToolSource(.init(name: "open", transport: .http(url: "http://127.0.0.1:\(port)/mcp", headers: []), timeout: .seconds(10)))
        defer { Task { await source.shutdown() } }
        let started = ContinuousClock.now
        #expect(try await call(source, "open__x").0 == .success("x ok"))
        // Loose (a busy machine took 5.5 s): what it tells apart is a wait for a stream's end, 30 s per step.
        #expect(ContinuousClock.now - started < .seconds(15), "initialize, list and call each ended at their answer, not after 30 s")
    }

    @Test func aServerThatCannotStartRestsAfterFiveFailures() async throws {
        let source = bad("exit-on-start", timeout: .seconds(2))
        defer { Task { await source.shutdown() } }
        var messages: [String] = []
        let started = ContinuousClock.now
        for _ in 0..<6 {
            do {
                _ = try await source.tools()
                Issue.record("listed tools of a server that exits")
            } catch {
                messages.append("\(error)")
            }
        }
        #expect(messages.prefix(5).allSatisfy { $0.contains("exited") || $0.contains("ended") }, "\(messages)")
        #expect(messages.last?.contains("failed 5 times within a minute") == true, "\(messages)")
        // Waits between attempts grew, but the whole took seconds, not a minute (loose: a busy machine took 20.6 s).
        #expect(ContinuousClock.now - started < .seconds(45))
    }

    @Test func aChildGetsOnlyItsEnvironmentNoInheritedDescriptorsAndItsOwnGroup() async throws {
        // A descriptor the worker opened without O_CLOEXEC (as libfcgi's accept does).
        let leaked = open("/etc/hostname", O_RDONLY)
        defer { close(leaked) }
        #expect(leaked > 2)
        setenv("AGENTFCGI_TEST_SECRET", "s3cret", 1)
        let child = try ChildProcess(command: ["/bin/sh", "-c", "ls /proc/$$/fd; echo ---; env; echo ---; sleep 60 & echo $!; wait"],
                                     environment: ["ONLY": "this"], directory: "/tmp")
        var output: [String] = []
        MCPStdioConnection.readLines(child.output, limit: 1 << 20) { line in
            output.append(String(decoding: line, as: UTF8.self))
            // Up to the grandchild's pid, the first line after the second separator.
            return !(output.filter { $0 == "---" }.count == 2 && output.last != "---")
        }
        let parts = output.split(separator: "---", omittingEmptySubsequences: false).map(Array.init)
        #expect(parts.count == 3, "\(output)")
        #expect(Set(parts[0]) == ["0", "1", "2"] || Set(parts[0]) == ["0", "1", "2", "255"], "descriptors: \(parts[0])")
        #expect(!parts[1].contains { $0.hasPrefix("AGENTFCGI_TEST_SECRET") } && parts[1].contains("ONLY=this"), "\(parts[1])")
        let grandchild = try #require(parts[2].first.flatMap { pid_t($0) })
        #expect(child.processGroup == child.pid && getpgid(grandchild) == child.pid)
        // Stopping the child stops what it started.
        await child.stop(grace: .milliseconds(200))
        try await eventually("the grandchild to be gone") { kill(grandchild, 0) != 0 }
        #expect(child.poll() != nil)
    }

    @Test func namesFitEveryProvider() {
        #expect(ToolNames.namespaced("local", "add") == "local__add")
        #expect(ToolNames.namespaced("local", "read file.v2") == "local__read_file_v2")
        let long = ToolNames.namespaced("source", String(repeating: "x", count: 80))
        #expect(long.count == 64 && long.wholeMatch(of: /[a-zA-Z0-9_-]{1,64}/) != nil)
        #expect(long != ToolNames.namespaced("source", String(repeating: "x", count: 81)))
        #expect(long == ToolNames.namespaced("source", String(repeating: "x", count: 80)))
    }

    @Test func answersAreCutAt64KiBWithANote() {
        let text = MCPTool.text(of: .object(["content": .array([.object(["type": "text", "text": .string(String(repeating: "é", count: 40_000))])])]))
        #expect(text.hasSuffix("[truncated: the tool's answer was 78 KiB; the first 64 KiB are shown]"))
        #expect(text.utf8.count < 64 * 1024 + 100)
        let structured = MCPTool.text(of: .object(["content": .array([]), "structuredContent": .object(["sum": 5])]))
        #expect(structured == #"{"sum":5}"#)
        #expect(MCPTool.text(of: .object(["content": .array([.object(["type": "image", "data": "..."]), .object(["type": "text", "text": "hi"])])]))
            == "[image content]\nhi")
    }
}
