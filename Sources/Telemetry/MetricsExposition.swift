#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The whole host in one scrape. nginx sends `/metrics` to any one worker, so each worker writes its own series
/// (Prometheus text, with its `worker` label) to `<directory>/<worker>.prom` within a second of a change, and the worker that answers
/// a scrape adds the files of the others to its own fresh series, one family at a time.
///
/// A worker holds an exclusive lock on `<worker>.lock` for as long as it lives; the kernel drops it when the
/// process dies however it dies, so a file whose lock can be taken is a dead worker's and is left out. Files are
/// never deleted: a worker restarted under the same name takes its lock file back.
public final class MetricsExposition: Sendable {
    public let worker: String
    let directory: String?
    /// The open lock file; -1 without a directory.
    private let lockFD: Int32

    /// `directory` nil: this worker's series only.
    public init(directory: String?, worker: String) throws {
        self.worker = Self.safeName(worker)
        self.directory = directory
        guard let directory else {
            lockFD = -1
            return
        }
        let path = "\(directory)/\(self.worker).lock"
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw ExpositionError(path: path, code: errno) }
        while flock(fd, LOCK_EX | LOCK_NB) != 0 {
            let code = errno
            if code == EINTR { continue }
            close(fd)
            // Another live process has this name: two workers would overwrite each other's file.
            throw ExpositionError(path: path, code: code)
        }
        lockFD = fd
    }

    deinit { if lockFD >= 0 { close(lockFD) } }

    /// Whether this worker writes its series for the others (a metrics folder is configured).
    public var shares: Bool { directory != nil }

    /// Replaces this worker's file with `text` (this worker's series, unlabelled): a reader sees the old file or
    /// the new one, never half of one.
    public func publish(_ text: String) throws {
        guard let directory else { return }
        let path = "\(directory)/\(worker).prom"
        let temporary = path + ".tmp"
        let labelled = Self.labelling(text, worker: worker)
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw ExpositionError(path: temporary, code: errno) }
        var bytes = Array(labelled.utf8)
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeMutableBytes { write(fd, $0.baseAddress! + offset, $0.count - offset) }
            if written < 0 {
                let code = errno
                if code == EINTR { continue }
                close(fd)
                throw ExpositionError(path: temporary, code: code)
            }
            offset += written
        }
        bytes = []
        close(fd)
        guard rename(temporary, path) == 0 else { throw ExpositionError(path: path, code: errno) }
    }

    /// The host's exposition: `own` (this worker's series, fresh) and every other live worker's last file.
    /// `extra`: series that are not any one worker's (the store's queue), unlabelled.
    public func gather(own: String, extra: String = "") -> String {
        var texts = [Self.labelling(own, worker: worker)]
        for name in liveWorkers() where name != worker {
            let path = "\(directory!)/\(name).prom"
            // Alive but not writing (hung): its last figures would pass for current ones.
            guard Self.age(path).map({ $0 < Self.staleAfter }) ?? false else { continue }
            if let text = Self.read(path) { texts.append(text) }
        }
        if !extra.isEmpty { texts.append(extra) }
        return Self.merge(texts)
    }

    /// Names of workers whose lock is held, this one included.
    func liveWorkers() -> [String] {
        guard let directory, let dir = opendir(directory) else { return [worker] }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafePointer(to: entry.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
            }
            guard name.hasSuffix(".prom") else { continue }
            let worker = String(name.dropLast(5))
            if worker == self.worker || Self.isLocked("\(directory)/\(worker).lock") { names.append(worker) }
        }
        return names.sorted()
    }

    /// A live worker writes its file within a second of a change and at least every 10 s; one not written for this
    /// long is left out of scrapes.
    static let staleAfter: Double = 15

    static func age(_ path: String) -> Double? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return Double(now.tv_sec - info.st_mtim.tv_sec) + Double(now.tv_nsec - info.st_mtim.tv_nsec) / 1e9
    }

    static func isLocked(_ path: String) -> Bool {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        if flock(fd, LOCK_SH | LOCK_NB) == 0 {
            flock(fd, LOCK_UN)
            return false
        }
        return errno == EWOULDBLOCK
    }

    /// A file read to its end, as text (procfs files report no size); nil if it cannot be read or passes 64 MiB.
    package static func read(_ path: String) -> String? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var result: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if count < 0, errno == EINTR { continue }
            guard count > 0 else { break }
            result += buffer[0..<count]
            // A worker's file is its own series; a file far larger than that is not one to pass on.
            if result.count > 64 << 20 { return nil }
        }
        return String(decoding: result, as: UTF8.self)
    }

    /// `worker="<name>"` as the first label of every sample line. Over bytes, not Characters: it runs on every
    /// rewrite of a worker's file, and String's splitting was most of an idle worker's CPU.
    public static func labelling(_ text: String, worker: String) -> String {
        let label = Array("worker=\"\(worker)\"".utf8)
        var text = text
        return text.withUTF8 { bytes -> String in
            var out: [UInt8] = []
            out.reserveCapacity(bytes.count + bytes.count / 4)
            var start = 0
            while start < bytes.count {
                var end = start
                while end < bytes.count, bytes[end] != UInt8(ascii: "\n") { end += 1 }
                defer { start = end + 1 }
                guard end > start else { continue }
                let line = UnsafeBufferPointer(rebasing: bytes[start..<end])
                if line[0] == UInt8(ascii: "#") {
                    out.append(contentsOf: line)
                } else if let brace = line.firstIndex(of: UInt8(ascii: "{")) {
                    out.append(contentsOf: line[...brace])
                    out.append(contentsOf: label)
                    if brace + 1 == line.count || line[brace + 1] != UInt8(ascii: "}") { out.append(UInt8(ascii: ",")) }
                    out.append(contentsOf: line[(brace + 1)...])
                } else if let space = line.firstIndex(of: UInt8(ascii: " ")) {
                    out.append(contentsOf: line[..<space])
                    out.append(UInt8(ascii: "{"))
                    out.append(contentsOf: label)
                    out.append(UInt8(ascii: "}"))
                    out.append(contentsOf: line[space...])
                } else {
                    continue
                }
                out.append(UInt8(ascii: "\n"))
            }
            return String(decoding: out, as: UTF8.self)
        }
    }

    /// Several expositions as one: each family's samples together under one HELP and TYPE, as the text format
    /// requires (a second TYPE line for a name is an error to Prometheus). Families keep their first order.
    public static func merge(_ texts: [String]) -> String {
        var order: [String] = []
        var families: [String: (type: String, samples: [Substring])] = [:]
        for text in texts {
            var current: String?
            for line in text.split(separator: "\n", omittingEmptySubsequences: true) {
                if line.hasPrefix("# TYPE ") {
                    let parts = line.split(separator: " ")
                    guard parts.count >= 4 else { continue }
                    let name = String(parts[2])
                    current = name
                    if families[name] == nil {
                        order.append(name)
                        families[name] = (String(parts[3]), [])
                    }
                } else if line.hasPrefix("#") {
                    continue
                } else {
                    let name = current ?? String(line.prefix { $0 != "{" && $0 != " " })
                    if families[name] == nil {
                        order.append(name)
                        families[name] = ("untyped", [])
                    }
                    families[name]!.samples.append(line)
                }
            }
        }
        var out = ""
        for name in order {
            guard let family = families[name], !family.samples.isEmpty else { continue }
            let described = Metrics.catalog[name]
            if let help = described?.help { out += "# HELP \(name) \(help)\n" }
            out += "# TYPE \(name) \(family.type)\n"
            for sample in family.samples {
                out += sample
                out += "\n"
            }
        }
        return out
    }

    /// A worker name as a file name and a label value: letters, digits, `.`, `_` and `-`; at most 64.
    static func safeName(_ name: String) -> String {
        let kept = name.unicodeScalars.prefix(64).map { scalar -> Character in
            switch scalar {
            case "a"..."z", "A"..."Z", "0"..."9", ".", "_", "-": Character(scalar)
            default: "_"
            }
        }
        let safe = String(kept)
        return safe.isEmpty || safe.hasPrefix(".") ? "w" + safe : safe
    }
}

public struct ExpositionError: Error, CustomStringConvertible {
    public let path: String
    public let code: Int32

    public init(path: String, code: Int32) {
        self.path = path
        self.code = code
    }

    public var description: String { "\(path): \(String(cString: strerror(code)))" }
}
