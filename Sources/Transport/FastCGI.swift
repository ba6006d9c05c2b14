import CFastCGI
import Glibc

// Every libfcgi call of the process goes through this file, so its rules are kept in one place:
// - calls are made only on threads the transport owns (acceptors, the I/O loop), never on Swift's
//   cooperative pool: they block, and the pool is as wide as the machine has cores;
// - an FCGX_Request is heap-allocated and never moves (its streams point back into it);
// - write errors are sticky and FCGX_FFlush can return 0 after one, so FCGX_GetError is the truth;
// - FCGX_Finish_r would shut the socket down and select() up to 2 s for nginx to close it (select on a
//   descriptor above 1023 overruns fd_set), so a request is detached first: close() alone is enough once
//   the request body has been read to its end;
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
    private var finished = false

    init(listenFD: Int32) {
        raw = .allocate(capacity: 1)
        FCGX_InitRequest(raw, listenFD, FCGI_FAIL_ACCEPT_ON_INTR)
    }

    deinit {
        if !finished { finish() }
        raw.deallocate()
    }

    /// Blocks until nginx sends a request and its parameters have been read.
    func accept() throws(TransportError) {
        let result = FCGX_Accept_r(raw)
        guard result != 0 else { return }
        // accept's errno, negated; -9999 and -9998 (before FCGX_Init) carry none.
        throw .system("FCGX_Accept_r", result > -9998 && result < 0 ? -result : errno)
    }

    var fd: Int32 { raw.pointee.ipcFd }

    /// The CGI-style parameters, copied out (libfcgi frees its copies on finish).
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
        var body: [UInt8] = []
        body.reserveCapacity(min(max(expected, 0), limit))
        var chunk = [UInt8](repeating: 0, count: 16_384)
        var overflow = false
        while true {
            let count = chunk.withUnsafeMutableBytes { buffer in
                FCGX_GetStr(buffer.baseAddress!.assumingMemoryBound(to: CChar.self), Int32(buffer.count), raw.pointee.in)
            }
            if count <= 0 { break }
            if !overflow {
                if body.count + Int(count) > limit {
                    overflow = true
                    body = []
                } else {
                    body.append(contentsOf: chunk[0..<Int(count)])
                }
            }
        }
        let error = FCGX_GetError(raw.pointee.in)
        if error != 0 { return .failed(error) }
        return overflow ? .tooLarge : .body(body)
    }

    /// Writes bytes to the response stream (through libfcgi's 8 KiB buffer) and flushes them.
    /// Returns false once the stream has failed; the failure is sticky.
    func write(_ bytes: some Collection<UInt8>) -> Bool {
        put(bytes) && flush()
    }

    /// Adds bytes to libfcgi's 8 KiB buffer, which goes out as a record each time it fills. Several small
    /// pieces put and then flushed once leave as a few full records: the kernel charges a unix socket's send
    /// buffer per write (an SSE event of 100 bytes costs about 770), so writing each alone fills it early.
    func put(_ bytes: some Collection<UInt8>) -> Bool {
        let out = raw.pointee.out
        let done: Bool? = bytes.withContiguousStorageIfAvailable { buffer in
            guard let base = buffer.baseAddress, !buffer.isEmpty else { return true }
            return base.withMemoryRebound(to: CChar.self, capacity: buffer.count) {
                FCGX_PutStr($0, Int32(buffer.count), out) == Int32(buffer.count)
            }
        }
        if done == nil { return put(Array(bytes)) }
        return done == true
    }

    /// Sends what `put` left in the buffer.
    func flush() -> Bool {
        let out = raw.pointee.out
        FCGX_FFlush(out)
        return FCGX_GetError(out) == 0
    }

    /// The kernel's send buffer of the connection to nginx, in the units it charges writes in.
    var sendBufferSize: Int {
        Int((try? System.socketOption(fd, SOL_SOCKET, SO_SNDBUF)) ?? 0)
    }

    /// Frees the input stream and its 8 KiB buffer once the body has been read, and the error stream (512 bytes), which
    /// is never written: a long stream keeps only its output buffer. Closing the unwritten error stream sends nothing;
    /// it leaves the output as the last writer, whose close sends END_REQUEST. FCGX_Finish_r closes the output only
    /// while the input exists, so `finish` does it then.
    func releaseUnusedStreams() {
        FCGX_FreeStream(&raw.pointee.in)
        FCGX_FClose(raw.pointee.err)
        FCGX_FreeStream(&raw.pointee.err)
    }

    /// Ends the response (final stream records and END_REQUEST), closes the connection, frees libfcgi's buffers.
    func finish() {
        guard !finished else { return }
        finished = true
        if raw.pointee.in == nil {
            FCGX_FClose(raw.pointee.err)  // nil once released: a no-op then
            FCGX_FClose(raw.pointee.out)
        }
        if raw.pointee.ipcFd >= 0 {
            FCGX_Detach(raw)
        }
        FCGX_Finish_r(raw)
    }
}
