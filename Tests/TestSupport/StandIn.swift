import Foundation

/// One `outbound_standin.py` process and the requests it recorded.
public final class StandIn: Sendable {
    static let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/outbound_standin.py").path
    let process: Process
    let hits: String

    public init(address: String, port: Int) throws {
        hits = NSTemporaryDirectory() + "standin-\(UUID().uuidString.prefix(8)).log"
        FileManager.default.createFile(atPath: hits, contents: nil)
        process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        process.arguments = [Self.script, address, String(port), hits]
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        let line = String(decoding: output.fileHandleForReading.availableData, as: UTF8.self)
        guard line.hasPrefix("ready") else { throw StandInError(description: "stand-in on \(address):\(port) did not start: \(line)") }
    }

    /// One line per request it got: "METHOD PATH host=HOST".
    public var lines: [String] {
        ((try? String(contentsOfFile: hits, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
    }

    public func stop() {
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        try? FileManager.default.removeItem(atPath: hits)
    }

    /// A port free on 127.0.0.1, 127.0.0.2, 127.0.0.5 and ::1, below the ephemeral range (nothing else takes it meanwhile).
    public static func freePort() throws -> Int {
        let low = Int(((try? String(contentsOfFile: "/proc/sys/net/ipv4/ip_local_port_range", encoding: .utf8)) ?? "32768")
            .split(whereSeparator: \.isWhitespace).first ?? "32768") ?? 32768
        for _ in 0..<200 {
            let port = Int.random(in: 10000..<max(10001, low))
            if ["127.0.0.1", "127.0.0.2", "127.0.0.5", "::1"].allSatisfy({ canBind($0, port) }) { return port }
        }
        throw StandInError(description: "no free port")
    }

    static func canBind(_ address: String, _ port: Int) -> Bool {
        let six = address.contains(":")
        let fd = socket(six ? AF_INET6 : AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        if six {
            var sa = sockaddr_in6()
            sa.sin6_family = sa_family_t(AF_INET6)
            sa.sin6_port = UInt16(port).bigEndian
            inet_pton(AF_INET6, address, &sa.sin6_addr)
            return withUnsafePointer(to: &sa) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in6>.size)) } } == 0
        }
        var sa = sockaddr_in()
        sa.sin_family = sa_family_t(AF_INET)
        sa.sin_port = UInt16(port).bigEndian
        inet_pton(AF_INET, address, &sa.sin_addr)
        return withUnsafePointer(to: &sa) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } } == 0
    }
}

public struct StandInError: Error, CustomStringConvertible { public var description: String }
