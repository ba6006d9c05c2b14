import Foundation
import Glibc

/// Where the worker takes FastCGI connections from.
package enum ListenAddress: Equatable {
    case unix(path: String)
    case tcp(host: String, port: Int)
    /// A socket handed over by the parent: systemd (`LISTEN_FDS`, fd 3) or spawn-fcgi / `StandardInput=socket` (fd 0).
    case inherited(fd: Int32)

    /// `unix:/path.sock`, `/path.sock`, `127.0.0.1:9001` or `:9001`.
    package init(parsing text: String) throws {
        if text.hasPrefix("unix:") {
            self = .unix(path: String(text.dropFirst(5)))
        } else if text.hasPrefix("/") {
            self = .unix(path: text)
        } else if let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]), (1...65535).contains(port) {
            self = .tcp(host: String(text[..<colon]), port: port)
        } else {
            throw TransportError.usage("--listen '\(text)' is neither unix:/path.sock nor HOST:PORT")
        }
    }

    /// The socket systemd or a spawner passed, if any.
    package static func inheritedFromEnvironment() -> ListenAddress? {
        let environment = ProcessInfo.processInfo.environment
        if let count = environment["LISTEN_FDS"].flatMap(Int.init), count >= 1,
           environment["LISTEN_PID"].flatMap(Int32.init) == getpid() {
            return .inherited(fd: 3)
        }
        if isListeningSocket(0) { return .inherited(fd: 0) }
        return nil
    }

    static func isListeningSocket(_ fd: Int32) -> Bool {
        var accepting: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        return getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &accepting, &length) == 0 && accepting != 0
    }
}

/// An open listening socket, and the file it created (removed on exit).
package struct Listener {
    let fd: Int32
    let createdPath: String?

    package static func open(_ address: ListenAddress, mode: mode_t, group: gid_t?, backlog: Int32) throws -> Listener {
        switch address {
        case .inherited(let fd):
            return Listener(fd: fd, createdPath: nil)
        case .tcp(let host, let port):
            return Listener(fd: try FastCGI.openSocket("\(host):\(port)", backlog: backlog), createdPath: nil)
        case .unix(let path):
            // libfcgi unlinks the path before binding: a second worker would silently steal the socket.
            if isSomeoneListening(on: path) {
                throw TransportError.usage("another process is already listening on \(path); refusing to take its socket")
            }
            // Bind under a tight umask, then set the mode asked for: nginx needs group access, nobody else any.
            let previous = umask(0o177)
            defer { umask(previous) }
            let fd = try FastCGI.openSocket(path, backlog: backlog)
            if let group, chown(path, uid_t.max, group) != 0 {
                throw TransportError.system("chown(\(path))", errno)
            }
            guard chmod(path, mode) == 0 else { throw TransportError.system("chmod(\(path))", errno) }
            return Listener(fd: fd, createdPath: path)
        }
    }

    static func isSomeoneListening(on path: String) -> Bool {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { Glibc.close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        guard path.utf8.count < capacity else { return false }
        withUnsafeMutableBytes(of: &address.sun_path) { buffer in
            buffer.copyBytes(from: path.utf8)
            buffer[path.utf8.count] = 0
        }
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        return result == 0
    }

    /// Removes the file of a socket this process made, first thing in a drain: a connection attempted after it
    /// finds no socket, and nginx tries the next worker, whatever the method. The connections already queued stay
    /// acceptable. (Closing the socket resets those, and nginx does not send a POST elsewhere once it has begun
    /// sending it: that client got a 502.)
    func removeFile() {
        guard let createdPath else { return }
        unlink(createdPath)
    }

    /// Whether a connection waits in the listen queue.
    var hasQueuedConnection: Bool {
        var entry = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        while true {
            let ready = poll(&entry, 1, 0)
            if ready < 0, errno == EINTR { continue }
            return ready > 0
        }
    }

    /// Closes a socket this process made (its file is gone already: `removeFile`; a new worker may have made
    /// another at that path since). An inherited socket stays open: its owner hands it to the next instance.
    func close() {
        guard createdPath != nil else { return }
        _ = Glibc.close(fd)
    }
}
