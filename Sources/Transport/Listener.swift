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
        (try? System.socketOption(fd, SOL_SOCKET, SO_ACCEPTCONN)).map { $0 != 0 } ?? false
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
            let previous = System.umask(0o177)
            defer { _ = System.umask(previous) }
            let fd = try FastCGI.openSocket(path, backlog: backlog)
            if let group { try System.chown(path, group: group) }
            try System.chmod(path, mode)
            return Listener(fd: fd, createdPath: path)
        }
    }

    static func isSomeoneListening(on path: String) -> Bool {
        guard let fd = try? System.makeSocket(AF_UNIX, Int32(SOCK_STREAM.rawValue)) else { return false }
        defer { try? System.close(fd) }
        return (try? System.connect(fd, unixPath: path)) != nil
    }

    /// Removes the file of a socket this process made, first thing in a drain: a connection attempted after it
    /// finds no socket, and nginx tries the next worker, whatever the method. The connections already queued stay
    /// acceptable. (Closing the socket resets those, and nginx does not send a POST elsewhere once it has begun
    /// sending it: that client got a 502.)
    func removeFile() {
        guard let createdPath else { return }
        try? System.unlink(createdPath)
    }

    /// Whether a connection waits in the listen queue.
    var hasQueuedConnection: Bool {
        (try? System.pollNow(fd, for: .readable)).map { !$0.isEmpty } ?? false
    }

    /// Closes a socket this process made (its file is gone already: `removeFile`; a new worker may have made
    /// another at that path since). An inherited socket stays open: its owner hands it to the next instance.
    func close() {
        guard createdPath != nil else { return }
        try? System.close(fd)
    }
}
