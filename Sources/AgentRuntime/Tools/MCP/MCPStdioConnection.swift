import Foundation
import Logging
import Synchronization

/// An MCP server as a child process of this worker, newline-delimited JSON-RPC on its stdin and stdout. Its stdout is
/// read on a thread of its own (a blocking read, never on the cooperative pool); its stderr goes to the worker's log.
final class MCPStdioConnection: MCPConnection {
    let child: ChildProcess
    let calls = PendingCalls()
    let source: String

    /// `onNotification` gets each notification's method (`notifications/tools/list_changed`).
    init(source: String, command: [String], environment: [String: String], directory: String?, logger: Logger,
         onNotification: @escaping @Sendable (String) -> Void) throws {
        self.source = source
        child = try ChildProcess(command: command, environment: environment, directory: directory)
        let (child, calls) = (self.child, self.calls)
        var log = logger
        log[metadataKey: "mcp.source"] = .string(source)
        log[metadataKey: "mcp.pid"] = "\(child.pid)"
        let logger = log
        Thread.detachNewThread {
            Self.readMessages(child, calls: calls, logger: logger, onNotification: onNotification)
        }
        Thread.detachNewThread {
            Self.readLines(child.errors, limit: 4096, splitLong: true) { line in
                logger.info("mcp.stderr", metadata: ["line": .string(String(decoding: line.prefix(1000), as: UTF8.self))])
                return true
            }
        }
    }

    var isAlive: Bool { !calls.isClosed }

    func request(_ method: String, params: JSONValue, timeout: Duration) async throws -> JSONValue {
        let id = calls.nextID()
        let message = MCPMessages.request(id: id, method: method, params: params) + [0x0A]
        guard message.count <= MCPMessages.maxMessageBytes else { throw MCPFailure(description: "the request is over 4 MiB") }
        let (child, calls) = (self.child, self.calls)
        return try await calls.wait(id, timeout: timeout) {
            Task {
                guard await child.write(message, deadline: timeout) else {
                    calls.resolve(id, .failure(MCPFailure(description: "the server did not read its input", fatal: true)))
                    return
                }
            }
        }
    }

    func notify(_ method: String, params: JSONValue) async throws {
        guard await child.write(MCPMessages.notification(method: method, params: params) + [0x0A]) else {
            throw MCPFailure(description: "the server did not read its input", fatal: true)
        }
    }

    func close() async {
        calls.close(MCPFailure(description: "the server was stopped", fatal: true))
        await child.stop()
    }

    /// Until end of file: answers to the calls, notifications to `onNotification`, the server's own requests
    /// answered. A line over the message cap ends the server (it floods), as does end of file.
    static func readMessages(_ child: ChildProcess, calls: PendingCalls, logger: Logger, onNotification: @Sendable (String) -> Void) {
        let complete = readLines(child.output, limit: MCPMessages.maxMessageBytes) { line in
            switch MCPMessages.parse(line) {
            case .response(let id, let result): calls.resolve(id, result.mapError { $0 })
            case .notification(let method): onNotification(method)
            case .request(let id, let method):
                let answer = MCPMessages.answer(id, method: method) + [0x0A]
                Task { _ = await child.write(answer) }
            case .unreadable:
                logger.notice("mcp.unreadable_output", metadata: ["bytes": "\(line.count)", "start": .string(String(decoding: line.prefix(80), as: UTF8.self))])
            }
            return true
        }
        let failure: MCPFailure
        if complete {
            Task { await child.stop(grace: .milliseconds(500)) }
            let status = child.poll().map { " (status \(($0 >> 8) & 0xFF))" } ?? ""
            failure = MCPFailure(description: "the MCP server exited\(status)", fatal: true)
            logger.warning("mcp.exited", metadata: ["status": .string(status)])
        } else {
            failure = MCPFailure(description: "the MCP server sent a message over 4 MiB; it was stopped", fatal: true)
            logger.warning("mcp.flooded")
            Task { await child.stop(grace: .zero) }
        }
        calls.close(failure)
    }

    /// Calls `line` for each line of `fd` until end of file (true) or a line longer than `limit` (false; with
    /// `splitLong`, such a line is passed on in pieces instead, and reading goes on).
    @discardableResult
    static func readLines(_ fd: Int32, limit: Int, splitLong: Bool = false, _ line: ([UInt8]) -> Bool) -> Bool {
        var pending: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        while let count = ChildProcess.read(fd, into: &buffer) {
            var start = 0
            for index in 0..<count where buffer[index] == 0x0A {
                pending.append(contentsOf: buffer[start..<index])
                if !pending.isEmpty, !line(pending) { return false }
                pending.removeAll(keepingCapacity: true)
                start = index + 1
            }
            pending.append(contentsOf: buffer[start..<count])
            if pending.count > limit {
                guard splitLong else { return false }
                _ = line(pending)
                pending.removeAll(keepingCapacity: true)
            }
        }
        if !pending.isEmpty { _ = line(pending) }
        return true
    }
}
