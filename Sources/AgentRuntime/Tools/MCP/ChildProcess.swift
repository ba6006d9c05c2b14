import CLinux
import Foundation
import Glibc
import Synchronization

/// A child process with pipes on its 0-2 and nothing else: every other descriptor of the worker (the FastCGI socket,
/// the database, client connections) is closed in the child whether or not it was opened with O_CLOEXEC. It gets the
/// environment it is given and no more, and a process group of its own, so that stopping it stops whatever it
/// started. Every POSIX call of spawning and stopping is in this file, its errno read at once.
public final class ChildProcess: Sendable {
    public let pid: pid_t
    /// The child's stdin (written by us), stdout and stderr (read by us).
    public let input: Int32
    public let output: Int32
    public let errors: Int32
    private let reaped = Mutex<Int32?>(nil)
    private let inputOpen = Atomic<Bool>(true)

    public struct SpawnError: Error, CustomStringConvertible {
        public var description: String
    }

    /// `command[0]` is looked up on the given environment's PATH (or the default one) when it has no slash.
    public init(command: [String], environment: [String: String], directory: String?) throws {
        guard let program = command.first, !program.isEmpty else { throw SpawnError(description: "empty command") }
        let path = try Self.resolve(program, path: environment["PATH"] ?? Self.defaultPath)
        var pipes: [(read: Int32, write: Int32)] = []
        for _ in 0..<3 {
            var fds: [Int32] = [0, 0]
            // Close-on-exec: no other child gets them (every spawn here also closes all but 0-2 in the child).
            guard pipe(&fds) == 0, fcntl(fds[0], F_SETFD, FD_CLOEXEC) == 0, fcntl(fds[1], F_SETFD, FD_CLOEXEC) == 0 else {
                let code = errno
                for pipe in pipes { close(pipe.read); close(pipe.write) }
                throw SpawnError(description: "pipe: \(String(cString: strerror(code)))")
            }
            pipes.append((fds[0], fds[1]))
        }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, pipes[0].read, 0)
        posix_spawn_file_actions_adddup2(&actions, pipes[1].write, 1)
        posix_spawn_file_actions_adddup2(&actions, pipes[2].write, 2)
        _ = agentfcgi_spawn_closefrom(&actions, 3)
        if let directory { _ = agentfcgi_spawn_chdir(&actions, directory) }
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        // Its own group (killed as one), default signal handling and an empty mask (the worker blocks signals
        // for its sigwait thread; a child must not inherit that).
        var none = sigset_t(), all = sigset_t()
        sigemptyset(&none)
        sigfillset(&all)
        posix_spawnattr_setsigmask(&attributes, &none)
        posix_spawnattr_setsigdefault(&attributes, &all)
        posix_spawnattr_setpgroup(&attributes, 0)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        let arguments = command.map { strdup($0) } + [nil]
        let variables = environment.sorted { $0.key < $1.key }.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            for pointer in arguments { free(pointer) }
            for pointer in variables { free(pointer) }
        }
        var child: pid_t = 0
        let status = posix_spawn(&child, path, &actions, &attributes, arguments, variables)
        // Our copies of the child's ends.
        close(pipes[0].read)
        close(pipes[1].write)
        close(pipes[2].write)
        guard status == 0 else {
            close(pipes[0].write)
            close(pipes[1].read)
            close(pipes[2].read)
            throw SpawnError(description: "\(program): \(String(cString: strerror(status)))")
        }
        pid = child
        // Ours only: the child's end stays blocking.
        _ = fcntl(pipes[0].write, F_SETFL, fcntl(pipes[0].write, F_GETFL) | O_NONBLOCK)
        input = pipes[0].write
        output = pipes[1].read
        errors = pipes[2].read
    }

    static let defaultPath = "/usr/local/bin:/usr/bin:/bin"

    static func resolve(_ program: String, path: String) throws -> String {
        if program.contains("/") { return program }
        for directory in path.split(separator: ":") {
            let candidate = "\(directory)/\(program)"
            if access(candidate, X_OK) == 0 { return candidate }
        }
        throw SpawnError(description: "\(program): not found on PATH")
    }

    /// One writer at a time, off the cooperative pool: a child that stops reading fills its pipe, and a blocked write
    /// there would hold one of the few threads every request needs.
    private let writer = DispatchQueue(label: "agentfcgi.child-input")

    /// Writes all of `bytes` to the child's stdin, whole (messages never interleave); false when the child is gone, the
    /// pipe broke, or the child has not taken them within `deadline`.
    public func write(_ bytes: [UInt8], deadline: Duration = .seconds(10)) async -> Bool {
        await withCheckedContinuation { continuation in
            writer.async { [self] in continuation.resume(returning: writeNow(bytes, until: ContinuousClock.now + deadline)) }
        }
    }

    private func writeNow(_ bytes: [UInt8], until deadline: ContinuousClock.Instant) -> Bool {
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeBytes { Glibc.write(input, $0.baseAddress! + offset, bytes.count - offset) }
            if written >= 0 {
                offset += written
                continue
            }
            let code = errno
            if code == EINTR { continue }
            guard code == EAGAIN || code == EWOULDBLOCK else { return false }
            let left = deadline - ContinuousClock.now
            guard left > .zero else { return false }
            var ready = pollfd(fd: input, events: Int16(POLLOUT), revents: 0)
            _ = Glibc.poll(&ready, 1, Int32(min(1000, max(1, left.components.seconds * 1000 + left.components.attoseconds / 1_000_000_000_000_000))))
        }
        return true
    }

    /// Reads what is there (blocking): nil at end of file or on an error.
    public static func read(_ fd: Int32, into buffer: inout [UInt8]) -> Int? {
        while true {
            let count = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress!, $0.count) }
            if count > 0 { return count }
            if count < 0, errno == EINTR { continue }
            return nil
        }
    }

    /// SIGTERM to the group, then SIGKILL after `grace`; reaps the child. Safe to call more than once.
    public func stop(grace: Duration = .seconds(2)) async {
        guard reapedStatus == nil else { return }
        kill(-pid, SIGTERM)
        let deadline = ContinuousClock.now + grace
        while ContinuousClock.now < deadline {
            if poll() != nil { break }
            try? await Task.sleep(for: .milliseconds(20))
        }
        // The group too: whatever the child started goes with it.
        kill(-pid, SIGKILL)
        while poll() == nil { try? await Task.sleep(for: .milliseconds(5)) }
        closeInput()
    }

    func closeInput() {
        if inputOpen.exchange(false, ordering: .acquiringAndReleasing) { close(input) }
    }

    /// The child's exit status once it has ended (reaped here), nil while it runs.
    public func poll() -> Int32? {
        reaped.withLock { status in
            if let status { return status }
            var raw: Int32 = 0
            let result = waitpid(pid, &raw, WNOHANG)
            guard result == pid else { return nil }
            status = raw
            return raw
        }
    }

    var reapedStatus: Int32? { reaped.withLock { $0 } }

    /// Its process group (its own pid), for tests.
    public var processGroup: pid_t { getpgid(pid) }

    deinit {
        if reaped.withLock({ $0 }) == nil {
            kill(-pid, SIGKILL)
            var raw: Int32 = 0
            waitpid(pid, &raw, 0)
        }
        closeInput()
        close(output)
        close(errors)
    }
}
