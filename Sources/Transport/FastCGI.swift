import CFastCGI
import Glibc

// Every libfcgi call of the process goes through this file, so its rules are kept in one place:
// - calls are made only on threads the transport owns (acceptors, the I/O loop), never on Swift's
//   cooperative pool: they block, and the pool is as wide as the machine has cores;
// - an FCGX_Request is heap-allocated and never moves (its streams point back into it);
// - libfcgi reads (accept, the parameters, the body) and then lets go of all it holds for the request but the
//   socket (`FCGX_Free` without closing): its output stream's 8 KiB buffer, fixed by `FCGX_Accept_r`, would be
//   most of what an open stream costs. The transport writes the STDOUT and END_REQUEST records itself
//   (`FastCGIRecords`), a whole small response in one write;
// - FCGX_Finish_r is not used: it would shut the socket down and select() up to 2 s for nginx to close it (select
//   on a descriptor above 1023 overruns fd_set). close() alone is enough once the request body has been read;
// - FCGX_ShutdownPending is not used: after it libfcgi fails every write, which would cut the streams
//   a draining worker is still finishing. Nor is shutdown(2) on the listener: an inherited socket is
//   shared with systemd, and shutting it down would break the next instance. Acceptors are woken by a
//   signal instead (FCGI_FAIL_ACCEPT_ON_INTR makes accept give up on EINTR).
// The POSIX calls around these (the wake signal's handler and mask, socket options) are System.swift's.

enum FastCGI {
    /// The signal that wakes acceptors blocked in accept(). libfcgi claims SIGUSR1 for itself.
    static let wakeSignal = SIGUSR2

    static func initialize() throws {
        guard FCGX_Init() == 0 else { throw TransportError.system("FCGX_Init", errno) }
        try System.installWakeHandler(wakeSignal)
    }

    /// Lets the wake signal reach the calling acceptor thread. Threads inherit their creator's mask, and Swift's pool
    /// threads (where the transport's `run` starts them) have nearly every signal blocked by libdispatch.
    static func allowWakeSignal() {
        try? System.unblockSignals([wakeSignal])
    }

    /// Binds a socket with libfcgi's own parser for `:port`, `host:port` and paths.
    static func openSocket(_ spec: String, backlog: Int32) throws -> Int32 {
        let fd = FCGX_OpenSocket(spec, backlog)
        guard fd >= 0 else { throw TransportError.system("FCGX_OpenSocket(\(spec))", errno) }
        return fd
    }
}

package /// One FastCGI request and the libfcgi state behind it. Not thread-safe: one owner thread at a time.
final class FCGIRequest: @unchecked Sendable {
    private let raw: UnsafeMutablePointer<FCGX_Request>
    private var accepted = false
    private var released = false
    private var ended = false
    private var failed = false
    private var finished = false

    init(listenFD: Int32) {
        raw = .allocate(capacity: 1)
        FCGX_InitRequest(raw, listenFD, FCGI_FAIL_ACCEPT_ON_INTR)
    }

    deinit {
        finish()
        raw.deallocate()
    }

    /// Blocks until nginx sends a request and its parameters have been read.
    func accept() throws(TransportError) {
        let result = FCGX_Accept_r(raw)
        guard result != 0 else {
            accepted = true
            return
        }
        // accept's errno, negated; -9999 and -9998 (before FCGX_Init) carry none.
        throw .system("FCGX_Accept_r", result > -9998 && result < 0 ? -result : errno)
    }

    var fd: Int32 { raw.pointee.ipcFd }

    /// The CGI-style parameters, copied out (libfcgi's copies go with `releaseLibraryState`).
    func parameters() -> [(String, String)] {
        var result: [(String, String)] = []
        guard var entry = raw.pointee.envp else { return result }
        result.reserveCapacity(32)
        while let cString = entry.pointee {
            let length = strlen(cString)
            cString.withMemoryRebound(to: UInt8.self, capacity: length) { bytes in
                let buffer = UnsafeBufferPointer(start: bytes, count: length)
                if let equals = buffer.firstIndex(of: UInt8(ascii: "=")) {
                    result.append((String(decoding: buffer[..<equals], as: UTF8.self),
                                   String(decoding: buffer[(equals + 1)...], as: UTF8.self)))
                }
            }
            entry += 1
        }
        return result
    }

    enum BodyResult {
        case body([UInt8])
        /// More than the limit; the rest was read and dropped so the connection closes cleanly.
        case tooLarge
        case failed(Int32)
    }

    /// Reads the request body to its end, keeping at most `limit` bytes.
    func readBody(limit: Int, expected: Int) -> BodyResult {
        guard !released else { return .failed(EBADF) }
        var body: [UInt8] = []
        body.reserveCapacity(min(max(expected, 0), limit))
        var overflow = false
        // On the acceptor's stack: most requests have no body, and a zeroed 16 KiB array cost a malloc and a memset
        // each.
        withUnsafeTemporaryAllocation(of: CChar.self, capacity: 16_384) { chunk in
            while true {
                let count = FCGX_GetStr(chunk.baseAddress!, Int32(chunk.count), raw.pointee.in)
                if count <= 0 { break }
                if !overflow {
                    if body.count + Int(count) > limit {
                        overflow = true
                        body = []
                    } else {
                        UnsafeRawBufferPointer(rebasing: UnsafeMutableRawBufferPointer(chunk)[0..<Int(count)])
                            .withMemoryRebound(to: UInt8.self) { body.append(contentsOf: $0) }
                    }
                }
            }
        }
        let error = FCGX_GetError(raw.pointee.in)
        if error != 0 { return .failed(error) }
        return overflow ? .tooLarge : .body(body)
    }

    /// Frees all that libfcgi holds for the request but its socket: the input stream (its 8 KiB buffer), the output
    /// stream (8 KiB, a size `FCGX_Accept_r` fixes), the error stream and the parameters' copies. Called once the
    /// parameters are copied and the body is read to its end (kept or dropped); from then on `send` writes the
    /// records itself, so an open stream holds no buffer while it has nothing to send.
    func releaseLibraryState() {
        guard !released else { return }
        released = true
        FCGX_Free(raw, 0)
        raw.pointee.envp = nil  // FCGX_Free frees the array it points into, and leaves it pointing there
    }

    /// Sends `slices` as STDOUT records in one write, and with `end` the records that end the response after them.
    /// Returns false once a write has failed; the failure is sticky. Blocks until the socket took every byte: the
    /// I/O loop calls it only when the socket has room for them, and SO_SNDTIMEO bounds it.
    func send(_ slices: [ArraySlice<UInt8>], end: Bool) -> Bool {
        releaseLibraryState()  // made earlier by the transport; here it would drop an unread body, not write into it
        guard accepted, !failed else { return false }
        guard !ended else { return true }
        ended = end
        let records = FastCGIRecords.encode(slices, requestID: raw.pointee.requestId, end: end)
        var sent = 0
        while sent < records.count {
            let count = records[sent...].withUnsafeBytes { try? System.write(raw.pointee.ipcFd, $0) }
            // nil: EAGAIN, SO_SNDTIMEO's timeout on a blocking socket.
            guard let count = count ?? nil, count > 0 else {
                failed = true
                return false
            }
            sent += count
        }
        return true
    }

    /// Sends one whole response (head and body, and the end records) and closes the connection.
    func answer(_ bytes: [UInt8]) -> Bool {
        let sent = send([bytes[...]], end: true)
        finish()
        return sent
    }

    /// The kernel's send buffer of the connection to nginx, in the units it charges writes in.
    var sendBufferSize: Int {
        Int((try? System.socketOption(fd, SOL_SOCKET, SO_SNDBUF)) ?? 0)
    }

    /// Ends the response (the end records, unless a write failed) and closes the connection. Closing is enough: the
    /// request body was read to its end (a refused one too), and nginx sends one request per connection
    /// (`fastcgi_keep_conn off`; with it on, nginx would open another).
    func finish() {
        guard !finished else { return }
        finished = true
        _ = send([], end: true)
        if raw.pointee.ipcFd >= 0 {
            try? System.close(raw.pointee.ipcFd)
            raw.pointee.ipcFd = -1
        }
    }
}

/// The records this transport writes (FastCGI 1.0, section 3.3 and 5.5): STDOUT, each padded to a multiple of 8 bytes
/// as libfcgi pads its own, and at the end an empty STDOUT record and END_REQUEST (application status 0, request
/// complete).
enum FastCGIRecords {
    static let stdout: UInt8 = 6
    static let endRequest: UInt8 = 3
    static let maxContent = 65_535
    private static let zeros = [UInt8](repeating: 0, count: 8)

    static func encode(_ slices: [ArraySlice<UInt8>], requestID: Int32, end: Bool) -> [UInt8] {
        var remaining = 0
        for slice in slices { remaining += slice.count }
        let recordCount = (remaining + maxContent - 1) / maxContent
        var bytes: [UInt8] = []
        bytes.reserveCapacity(remaining + recordCount * 15 + (end ? 24 : 0))
        var left = 0, padding = 0
        for slice in slices {
            var rest = slice
            while !rest.isEmpty {
                if left == 0 {
                    left = min(remaining, maxContent)
                    padding = (8 - left % 8) % 8
                    header(&bytes, stdout, requestID, length: left, padding: padding)
                }
                let take = min(left, rest.count)
                bytes += rest.prefix(take)
                rest = rest.dropFirst(take)
                left -= take
                remaining -= take
                if left == 0 { bytes += zeros.prefix(padding) }
            }
        }
        if end {
            header(&bytes, stdout, requestID, length: 0, padding: 0)
            header(&bytes, endRequest, requestID, length: 8, padding: 0)
            bytes += zeros  // the application's status (4 bytes, 0), FCGI_REQUEST_COMPLETE (0), 3 reserved
        }
        return bytes
    }

    private static func header(_ bytes: inout [UInt8], _ type: UInt8, _ requestID: Int32, length: Int, padding: Int) {
        bytes.append(1)  // FCGI_VERSION_1
        bytes.append(type)
        bytes.append(UInt8(truncatingIfNeeded: requestID >> 8))
        bytes.append(UInt8(truncatingIfNeeded: requestID))
        bytes.append(UInt8(truncatingIfNeeded: length >> 8))
        bytes.append(UInt8(truncatingIfNeeded: length))
        bytes.append(UInt8(padding))
        bytes.append(0)
    }
}
