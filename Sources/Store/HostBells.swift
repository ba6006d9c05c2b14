import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Notices between the worker processes of one host that share an SQLite file: each follower binds a datagram
/// socket in a directory beside the database, and a notice is one datagram to every socket there. A process that
/// died leaves its socket behind; the first send that finds nobody bound to it removes it. Best effort by design: what
/// a full queue refuses is sent again for 2 s (`owe`), then dropped, and waiters look at the store now and then regardless.
final class HostBells: Sendable {
    let directory: String
    /// One unbound socket that every send goes through.
    private let sender: Int32
    /// The directory's socket names, read again when its modification time changes (a follower came or went).
    private let peers = Mutex<(stamp: timespec, names: [String])>((timespec(), []))
    /// This process's own socket, skipped by its sends: its waiters were told already, in process.
    private let own = Mutex<String?>(nil)

    /// The directory as socket addresses name it: its path, or, when that would not fit `sun_path` (108 bytes), the
    /// descriptor `directoryFD` opens it as, through `/proc/self/fd`.
    private let base: String
    private let directoryFD: Int32

    /// Nil when the directory cannot be made or opened, or is not one only this user or the database's owner can write
    /// in (then nothing is sent and readers poll, as they did before).
    init?(beside databasePath: String) {
        let directory = (databasePath as NSString).standardizingPath + ".bells"
        var database = stat()
        let databaseOwner = stat(databasePath, &database) == 0 ? database.st_uid : geteuid()
        if (try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: false,
                                                     attributes: [.posixPermissions: 0o700])) != nil {
            // Made by root (a command run without `sudo -u`): the folder belongs to whoever owns the database, as the
            // workers that bind in it do.
            if geteuid() == 0, databaseOwner != 0 { _ = chown(directory, database.st_uid, database.st_gid) }
        }
        // One that someone else made (beside a database in a shared folder) could take or forge the notices, or move
        // the sockets elsewhere through a symlink: not used.
        var folder = stat()
        guard lstat(directory, &folder) == 0, folder.st_mode & S_IFMT == S_IFDIR, folder.st_mode & 0o022 == 0,
              folder.st_uid == geteuid() || folder.st_uid == databaseOwner else { return nil }
        let directoryFD = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW)
        guard directoryFD >= 0 else { return nil }
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else {
            close(directoryFD)
            return nil
        }
        self.directory = directory
        self.directoryFD = directoryFD
        // A name is at most 24 bytes ("/" pid "-" 10 digits ".sock").
        base = directory.utf8.count + 24 < MemoryLayout.size(ofValue: sockaddr_un().sun_path) ? directory : "/proc/self/fd/\(directoryFD)"
        sender = fd
    }

    deinit {
        close(sender)
        close(directoryFD)
    }

    /// Sends `payload` (a run id's length in practice) to every other process's follower.
    func ring(_ payload: String) {
        let own = own.withLock { $0 }
        var stale = false
        var full: [String] = []
        for name in listing() where name != own {
            // A follower owed notices already has a full queue: this one waits with them.
            let waits = owed.withLock { owed in owed[name]?.payloads.insert(payload) != nil }
            if waits { continue }
            switch send(payload, to: name) {
            case .sent: break
            case .full: full.append(name)
            case .gone: stale = true
            }
        }
        if !full.isEmpty { owe(payload, to: full) }
        if stale { peers.withLock { $0.stamp = timespec() } }
    }

    private enum Sent { case sent, full, gone }

    private func send(_ payload: String, to name: String) -> Sent {
        let bytes = Array(payload.utf8)
        let sent = Self.withAddress(base + "/" + name) { address, length in
            bytes.withUnsafeBytes { sendto(sender, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT | MSG_NOSIGNAL), address, length) }
        }
        if sent >= 0 { return .sent }
        switch errno {
        case ECONNREFUSED:
            // Nobody bound: a follower that died. Removing the path changes the directory, so the listing is read again.
            unlinkat(directoryFD, name, 0)
            return .gone
        case ENOENT: return .gone
        case EAGAIN, EWOULDBLOCK: return .full
        default: return .gone
        }
    }

    /// Notices a follower's full queue refused (a datagram socket queues 10, `net.unix.max_dgram_qlen`, which a busy
    /// follower's thread may not keep up with), each payload once, by follower: sent again every 5 ms, and dropped
    /// after 2 s of a queue that stays full (its readers poll now and then, so they find the change regardless).
    private let owed = Mutex<[String: (payloads: Set<String>, since: ContinuousClock.Instant)]>([:])

    private func owe(_ payload: String, to names: [String]) {
        let first = owed.withLock { owed in
            defer { for name in names { owed[name, default: ([], .now)].payloads.insert(payload) } }
            return owed.isEmpty
        }
        guard first else { return }
        Task.detached { [self] in
            var settled = false
            while !settled {
                try? await Task.sleep(for: .milliseconds(5))
                settled = owed.withLock { owed in
                    for (name, debt) in owed {
                        var left = debt.payloads
                        var outcome = Sent.sent
                        for payload in debt.payloads {
                            outcome = send(payload, to: name)
                            if outcome == .full { break }
                            left.remove(payload)
                        }
                        if outcome == .gone || left.isEmpty || ContinuousClock.now - debt.since > .seconds(2) {
                            owed[name] = nil
                        } else {
                            owed[name]?.payloads = left
                        }
                    }
                    return owed.isEmpty
                }
            }
        }
    }

    /// Binds a socket of its own and calls `handler` with every datagram until the task is cancelled.
    func follow(_ handler: @escaping @Sendable (String) -> Void) async throws {
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw HostBellsError.system("socket", errno) }
        // Made again if it was removed since the store opened.
        mkdir(directory, 0o700)
        let name = "\(getpid())-\(UInt32.random(in: 0 ... .max)).sock"
        let path = directory + "/" + name
        let bound = Self.withAddress(base + "/" + name) { address, length in bind(fd, address, length) }
        guard bound == 0 else {
            let code = errno
            close(fd)
            throw HostBellsError.system("bind \(path)", code)
        }
        // Owner only, like the database beside it.
        chmod(path, 0o600)
        own.withLock { $0 = name }
        let state = Mutex<(open: Bool, done: Bool)>((true, false))
        await withTaskCancellationHandler {
            await withCheckedContinuation { (finished: CheckedContinuation<Void, Never>) in
                let thread = Thread {
                    var buffer = [UInt8](repeating: 0, count: 512)
                    while true {
                        let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
                        if count > 0 {
                            handler(String(decoding: buffer[..<count], as: UTF8.self))
                        } else if count == 0 || errno != EINTR {
                            break  // 0: shut down (cancelled)
                        }
                    }
                    state.withLock { state in
                        state.open = false
                        close(fd)
                    }
                    self.own.withLock { if $0 == name { $0 = nil } }
                    unlink(path)
                    finished.resume()
                }
                thread.name = "store-bells"
                thread.stackSize = 64 << 10
                thread.start()
            }
        } onCancel: {
            // Under the lock: the thread may have closed the descriptor, and its number may be another's by now.
            state.withLock { state in if state.open { shutdown(fd, Int32(SHUT_RDWR)) } }
        }
    }

    private func listing() -> [String] {
        var info = stat()
        guard stat(directory, &info) == 0 else { return [] }
        return peers.withLock { peers in
            if peers.stamp.tv_sec == info.st_mtim.tv_sec, peers.stamp.tv_nsec == info.st_mtim.tv_nsec { return peers.names }
            let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
            peers = (info.st_mtim, names.filter { $0.hasSuffix(".sock") })
            return peers.names
        }
    }

    private static func withAddress<T>(_ path: String, _ body: (UnsafePointer<sockaddr>, socklen_t) -> T) -> T {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            let bytes = Array(path.utf8.prefix(raw.count - 1))
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
    }
}

enum HostBellsError: Error, CustomStringConvertible {
    case system(String, Int32)

    var description: String {
        switch self {
        case .system(let call, let code): "\(call): \(String(cString: strerror(code)))"
        }
    }
}
