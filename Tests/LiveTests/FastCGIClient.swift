import Foundation
import Glibc

/// A FastCGI client on a worker's own socket, for what nginx hides: a reader that stalls at a moment the test
/// picks. One request per connection, as nginx sends them (`fastcgi_keep_conn off`).
final class FastCGIClient {
    private let fd: Int32
    private var pending: [UInt8] = []
    /// The response's STDOUT bytes read so far (the head and body as the worker wrote them).
    private(set) var stdout: [UInt8] = []
    private(set) var ended = false

    init(socketPath: String) throws {
        fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw LiveError("socket: errno \(errno)") }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let path = Array(socketPath.utf8CString)
        guard path.count <= MemoryLayout.size(ofValue: address.sun_path) else { throw LiveError("socket path too long") }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            path.withUnsafeBytes { raw.copyMemory(from: $0) }
        }
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard connected == 0 else {
            close(fd)
            throw LiveError("connect \(socketPath): errno \(errno)")
        }
        setReadTimeout(seconds: 30)
    }

    deinit { close(fd) }

    /// Bounds every read, so a worker that stops answering fails the test instead of hanging it.
    func setReadTimeout(seconds: Int) {
        var timeout = timeval(tv_sec: seconds, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    /// Sends a whole request: BEGIN_REQUEST (responder), the parameters nginx would send, the body.
    func send(method: String, uri: String, headers: [String: String], body: String) throws {
        var parameters = ["REQUEST_METHOD": method, "REQUEST_URI": uri, "DOCUMENT_URI": uri, "QUERY_STRING": "",
                          "SERVER_PROTOCOL": "HTTP/1.1", "REMOTE_ADDR": "127.0.0.1",
                          "CONTENT_TYPE": "application/json", "CONTENT_LENGTH": "\(body.utf8.count)"]
        for (name, value) in headers {
            parameters["HTTP_" + name.uppercased().replacingOccurrences(of: "-", with: "_")] = value
        }
        var bytes = record(type: 1, [0, 1, 0, 0, 0, 0, 0, 0])
        var encoded: [UInt8] = []
        for (name, value) in parameters {
            for length in [name.utf8.count, value.utf8.count] {
                if length < 128 {
                    encoded.append(UInt8(length))
                } else {
                    encoded += [UInt8((length >> 24) | 0x80), UInt8((length >> 16) & 0xFF), UInt8((length >> 8) & 0xFF), UInt8(length & 0xFF)]
                }
            }
            encoded += Array(name.utf8) + Array(value.utf8)
        }
        bytes += record(type: 4, encoded) + record(type: 4, [])
        let content = Array(body.utf8)
        var offset = 0
        while offset < content.count {
            let end = min(offset + 65_535, content.count)
            bytes += record(type: 5, Array(content[offset..<end]))
            offset = end
        }
        bytes += record(type: 5, [])
        var sent = 0
        while sent < bytes.count {
            let count = bytes[sent...].withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
            guard count > 0 else { throw LiveError("write: errno \(errno)") }
            sent += count
        }
    }

    /// Reads at most `limit` bytes off the socket (blocking for the first), and parses the records they complete.
    /// Returns how many bytes were read; 0 once the worker has closed the connection.
    @discardableResult
    func read(limit: Int) throws -> Int {
        var buffer = [UInt8](repeating: 0, count: limit)
        let count = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, limit) }
        guard count >= 0 else { throw LiveError("read: errno \(errno)") }
        pending += buffer[0..<count]
        while pending.count >= 8 {
            let length = Int(pending[4]) << 8 | Int(pending[5])
            let total = 8 + length + Int(pending[6])
            guard pending.count >= total else { break }
            switch pending[1] {
            case 6: stdout += pending[8..<(8 + length)]
            case 3: ended = true
            default: break
            }
            pending.removeFirst(total)
        }
        return count
    }

    /// Reads until END_REQUEST or the worker closes the connection.
    func readToEnd() throws {
        while !ended, try read(limit: 65_536) > 0 {}
    }

    private func record(type: UInt8, _ content: [UInt8]) -> [UInt8] {
        [1, type, 0, 1, UInt8(content.count >> 8), UInt8(content.count & 0xFF), 0, 0] + content
    }
}
