#if canImport(Glibc)
import Glibc
#endif

/// The process's own figures in Prometheus text (the names the Prometheus clients use), read from /proc when the
/// series are written: CPU, resident memory, open files, threads, start time.
public enum ProcessMetrics {
    public static func text() -> String {
        #if os(Linux)
        var out = ""
        let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
        let pageSize = Double(sysconf(Int32(_SC_PAGESIZE)))
        // /proc/self/stat: the fields after the command's closing parenthesis, from field 3 (state) on.
        if let stat = MetricsExposition.read("/proc/self/stat"), let close = stat.lastIndex(of: ")") {
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            // utime 14, stime 15, num_threads 20, starttime 22, rss 24 (1-based in proc(5); fields[0] is field 3).
            func field(_ number: Int) -> Double? { fields.count > number - 3 ? Double(fields[number - 3]) : nil }
            if let user = field(14), let system = field(15), ticks > 0 {
                out += "# TYPE process_cpu_seconds_total counter\nprocess_cpu_seconds_total \((user + system) / ticks)\n"
            }
            if let threads = field(20) { out += "# TYPE process_threads gauge\nprocess_threads \(Int(threads))\n" }
            if let rss = field(24) { out += "# TYPE process_resident_memory_bytes gauge\nprocess_resident_memory_bytes \(Int(rss * pageSize))\n" }
            if let start = field(22), ticks > 0, let boot = bootTime() {
                out += "# TYPE process_start_time_seconds gauge\nprocess_start_time_seconds \(Int(boot + start / ticks))\n"
            }
        }
        out += "# TYPE process_open_fds gauge\nprocess_open_fds \(openFiles())\n"
        var limit = rlimit()
        if getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 {
            out += "# TYPE process_max_fds gauge\nprocess_max_fds \(limit.rlim_cur)\n"
        }
        return out
        #else
        return ""
        #endif
    }

    static func openFiles() -> Int {
        guard let dir = opendir("/proc/self/fd") else { return 0 }
        defer { closedir(dir) }
        var count = 0
        while readdir(dir) != nil { count += 1 }
        // ".", ".." and the descriptor opendir itself holds.
        return max(0, count - 3)
    }

    static func bootTime() -> Double? {
        guard let stat = MetricsExposition.read("/proc/stat") else { return nil }
        for line in stat.split(separator: "\n") where line.hasPrefix("btime ") {
            return Double(line.dropFirst(6).trimmingPrefix(while: { $0 == " " }))
        }
        return nil
    }
}

private extension Substring {
    func trimmingPrefix(while predicate: (Character) -> Bool) -> Substring { drop(while: predicate) }
}
