import Foundation
import TestSupport

/// curl as the client, for what a person's client does that a library hides: leaving abruptly
/// (the process is killed and the kernel closes its socket) or stalling (its output pipe is never read).
final class CurlStream: @unchecked Sendable {
    let process = Process()
    private let output = Pipe()

    init(url: String, body: String, caFile: String, apiKey: String = "") throws {
        process.executableURL = URL(fileURLWithPath: "/usr/bin/curl")
        process.arguments = ["-sSN", "--http1.1", "--cacert", caFile, "-H", "Content-Type: application/json", "-H", "X-Api-Key: \(apiKey)",
                             "--data-binary", "@-", url]
        let input = Pipe()
        process.standardInput = input
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        input.fileHandleForWriting.write(Data(body.utf8))
        try input.fileHandleForWriting.close()
    }

    /// Frames as they arrive, read on a thread of its own (blocking reads stay off the test's executor).
    func frames() -> AsyncStream<TimedFrame> {
        let fd = output.fileHandleForReading.fileDescriptor
        return AsyncStream { continuation in
            Thread.detachNewThread {
                var parser = SSEParser()
                var buffer = [UInt8](repeating: 0, count: 16_384)
                while true {
                    let count = read(fd, &buffer, buffer.count)
                    if count <= 0 { break }
                    let now = ContinuousClock.now
                    for frame in parser.feed(buffer[0..<count]) {
                        continuation.yield(TimedFrame(frame: frame, at: now))
                    }
                }
                continuation.finish()
            }
        }
    }

    func kill() {
        Foundation.kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }
}

extension LiveCluster {
    func curlStream(_ path: String, body: String) throws -> CurlStream {
        try CurlStream(url: baseURL + path, body: body, caFile: directory.appendingPathComponent("certs/ca.crt").path, apiKey: apiKey)
    }
}
