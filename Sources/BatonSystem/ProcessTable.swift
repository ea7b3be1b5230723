// FoundationEssentials only: baton-exec, which every rank starts, links this module.
import FoundationEssentials
#if canImport(Glibc)
import Glibc
#endif

/// The one reader of /proc: what a process is (state, parent, group, session), what it
/// runs, what its environment holds. The head uses it to find an attempt's processes on
/// this machine (simulated nodes, the namespace test bed: one kernel), its rsh agents, and
/// a detached head's liveness.
public enum ProcessTable {
    /// The fields of /proc/PID/stat after the command name that Baton reads.
    public struct Stat: Sendable, Equatable {
        /// R, S, D, T (stopped), t (traced), Z (zombie), ...
        var state: Character
        public var parent: pid_t
        var group: pid_t
        var session: pid_t
        /// Clock ticks after boot: with the pid, tells a process from a later one that got
        /// the same pid.
        public var startTime: UInt64
        /// CPU time in user and kernel mode, all threads, in clock ticks.
        var cpuTicks: UInt64 = 0
        /// The kernel's flags of the task (PF_*).
        var flags: UInt32 = 0

        public var isZombie: Bool { state == "Z" || state == "X" }
        /// Past the point of no return (PF_EXITING): a killed process on its way out, which
        /// runs no code of its own any more. Its memory may still be being unmapped, and
        /// reading its environment then waits for that (measured: SIGKILLed ranks at nice 19
        /// on a loaded machine held a walk over every process for seconds).
        var isExiting: Bool { flags & 0x4 != 0 }
        /// Neither a zombie nor exiting.
        public var isLive: Bool { !isZombie && !isExiting }
        var isStopped: Bool { state == "T" || state == "t" }
    }

    public static func stat(_ pid: pid_t) -> Stat? {
        var buf = [UInt8](repeating: 0, count: 512)
        return stat(pid, buffer: &buf)
    }

    /// `stat(_:)` reading into `buf` (a walk over every process reuses one buffer).
    static func stat(_ pid: pid_t, buffer buf: inout [UInt8]) -> Stat? {
        guard let n = read("/proc/\(pid)/stat", into: &buf),
              let close = buf[..<n].lastIndex(of: UInt8(ascii: ")")) else { return nil }
        // Fields after "(comm)": state ppid pgrp session tty_nr tpgid flags minflt cminflt
        // majflt cmajflt utime stime cutime cstime priority nice num_threads itrealvalue starttime
        let f = buf[(close + 1)..<n].split(separator: UInt8(ascii: " "), maxSplits: 21)
        func int<T: FixedWidthInteger>(_ i: Int) -> T? {
            guard i < f.count else { return nil }
            var v: T = 0
            for c in f[i] {
                if c == UInt8(ascii: "\n") { break }
                guard c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9") else { return nil }
                v = v &* 10 &+ T(c - UInt8(ascii: "0"))
            }
            return v
        }
        guard f.count > 19, let state = f[0].first, let ppid: pid_t = int(1), let pgrp: pid_t = int(2), let sid: pid_t = int(3),
              let start: UInt64 = int(19) else { return nil }
        return Stat(state: Character(UnicodeScalar(state)), parent: ppid, group: pgrp, session: sid, startTime: start,
                    cpuTicks: (int(11) ?? 0) + (int(12) ?? 0), flags: int(6) ?? 0)
    }

    /// Reads a /proc file whole into `buf` (grown as needed); its length, or nil when it
    /// cannot be opened or read (the process is gone, or not ours to read).
    static func read(_ path: String, into buf: inout [UInt8]) -> Int? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var used = 0
        while true {
            if used == buf.count { buf.append(contentsOf: repeatElement(0, count: max(buf.count, 4096))) }
            let n = buf.withUnsafeMutableBytes { pread(fd, $0.baseAddress! + used, $0.count - used, off_t(used)) }
            if n < 0 && errno == EINTR { continue }
            if n < 0 { return used > 0 ? used : nil }
            if n == 0 { return used }
            used += n
        }
    }

    /// Seconds a process and its children (two levels: a shell's command, its workers) have
    /// been busy: on a CPU, and waiting for one (the run delay of every thread, which also
    /// holds the time a CPU quota throttled them). A rank that waits for its peers in a
    /// collective sleeps, which neither counts; a slow rank is busy all the time.
    public static func busySeconds(_ root: pid_t) -> (cpu: Double, delay: Double) {
        let tick = Double(max(sysconf(Int32(_SC_CLK_TCK)), 1))
        var pids = [root]
        var level = [root]
        for _ in 0..<2 {
            level = level.flatMap { listedChildren(of: $0) ?? [] }
            pids += level
        }
        var cpu = 0.0, delay = 0.0
        for pid in pids {
            if let s = stat(pid) { cpu += Double(s.cpuTicks) / tick }
            for tid in numericEntries("/proc/\(pid)/task") {
                // schedstat: time on CPU, time waiting on a run queue, timeslices (ns, ns, count).
                guard let b = readFile("/proc/\(pid)/task/\(tid)/schedstat", from: 0) else { continue }
                let f = String(decoding: b, as: UTF8.self).split(separator: " ")
                if f.count > 1, let ns = Double(f[1]) { delay += ns / 1e9 }
            }
        }
        return (cpu, delay)
    }

    /// The pids in /proc/PID/task/*/children (zombies too), or nil where the kernel has no
    /// such file. By readdir and read(2): the head asks for mpirun's every 30 ms, and
    /// FileManager's listing was most of that.
    public static func listedChildren(of pid: pid_t) -> [pid_t]? {
        let base = "/proc/\(pid)/task"
        var result: [pid_t] = []
        var sawFile = false
        var buf = [UInt8](repeating: 0, count: 512)
        for tid in numericEntries(base) {
            guard let n = read("\(base)/\(tid)/children", into: &buf) else { continue }
            sawFile = true
            var value: Int32 = 0, digits = false
            for b in buf[..<n] {
                if b >= 48 && b <= 57 { value = value &* 10 &+ Int32(b - 48); digits = true }
                else { if digits { result.append(value) }; value = 0; digits = false }
            }
            if digits { result.append(value) }
        }
        return sawFile ? result : nil
    }

    /// The numeric names in a directory (/proc's pids, a process's thread ids).
    static func numericEntries(_ path: String) -> [pid_t] {
        guard let dir = opendir(path) else { return [] }
        defer { closedir(dir) }
        var result: [pid_t] = []
        while let entry = readdir(dir) {
            let value: pid_t? = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                var v: pid_t = 0, any = false
                for b in raw {
                    if b == 0 { break }
                    guard b >= 48 && b <= 57 else { return nil }
                    v = v &* 10 &+ pid_t(b - 48); any = true
                }
                return any ? v : nil
            }
            if let value { result.append(value) }
        }
        return result
    }

    /// Every pid on this machine, at the moment of reading.
    static func allPIDs() -> [pid_t] { numericEntries("/proc") }

    /// The argv of a process (empty for a zombie or a kernel thread).
    public static func arguments(_ pid: pid_t) -> [String] {
        guard let bytes = readFile("/proc/\(pid)/cmdline", from: 0) else { return [] }
        return bytes.split(separator: 0, omittingEmptySubsequences: false).dropLast().map { String(decoding: $0, as: UTF8.self) }
    }

    /// The environment a process started with.
    public static func environment(_ pid: pid_t) -> [String: String] {
        guard let bytes = readFile("/proc/\(pid)/environ", from: 0) else { return [:] }
        var env: [String: String] = [:]
        for entry in bytes.split(separator: 0) {
            guard let eq = entry.firstIndex(of: UInt8(ascii: "=")) else { continue }
            env[String(decoding: entry[entry.startIndex..<eq], as: UTF8.self)] = String(decoding: entry[(eq + 1)...], as: UTF8.self)
        }
        return env
    }

    /// Live (`Stat.isLive`) members of a session: on a simulated node, the node's processes
    /// (Open MPI gives each rank its own process group, but they stay in the session).
    public static func members(ofSession session: pid_t) -> [pid_t] {
        allPIDs().filter { pid in
            guard let s = stat(pid) else { return false }
            return s.session == session && s.isLive
        }
    }

    /// Live processes whose environment holds `key=value` exactly.
    public static func processes(withEnvironment key: String, _ value: String) -> [pid_t] {
        scan(environment: key, value).map(\.pid)
    }

    /// A process `scan` found.
    public struct Entry: Sendable, Equatable {
        public var pid: pid_t
        public var parent: pid_t
        public var startTime: UInt64
        /// The values its environment holds for the keys asked (those it has).
        public var values: [String: String]
    }

    /// Live processes whose environment holds `key=value` exactly, each with the values of
    /// `keys` in its environment: one pass over /proc, reading each process's stat and the
    /// environment only of those started at or after `since` (clock ticks after boot). A
    /// variable given to a process at its start is carried only by its descendants, which
    /// started after it: with that process's start time as `since`, the older processes of
    /// the machine cost a stat each, not an environment read.
    public static func scan(environment key: String, _ value: String, startedSince since: UInt64 = 0, reading keys: [String] = []) -> [Entry] {
        let needle = Array("\(key)=\(value)".utf8)
        let prefixes = keys.map { Array("\($0)=".utf8) }
        var statBuf = [UInt8](repeating: 0, count: 512)
        var envBuf = [UInt8](repeating: 0, count: 16 * 1024)
        var found: [Entry] = []
        for pid in allPIDs() {
            guard let s = stat(pid, buffer: &statBuf), s.isLive, s.startTime >= since,
                  let n = read("/proc/\(pid)/environ", into: &envBuf) else { continue }
            var matched = false
            var values: [String: String] = [:]
            envBuf.withUnsafeBufferPointer { b in
                var i = 0
                while i < n {
                    var end = i
                    while end < n && b[end] != 0 { end += 1 }
                    let entry = UnsafeBufferPointer(rebasing: b[i..<end])
                    if entry.count == needle.count && entry.elementsEqual(needle) { matched = true }
                    for (k, prefix) in prefixes.enumerated() where entry.count >= prefix.count && entry.starts(with: prefix) {
                        values[keys[k]] = String(decoding: UnsafeBufferPointer(rebasing: entry[prefix.count...]), as: UTF8.self)
                    }
                    i = end + 1
                }
            }
            if matched { found.append(Entry(pid: pid, parent: s.parent, startTime: s.startTime, values: values)) }
        }
        return found
    }

    /// True while `pid` names a live process (`Stat.isLive`).
    public static func isAlive(_ pid: pid_t) -> Bool {
        stat(pid)?.isLive ?? false
    }

    /// True while the process that started at `startTime` is live (`Stat.isLive`).
    public static func isLive(_ pid: pid_t, startTime: UInt64) -> Bool {
        guard let s = stat(pid) else { return false }
        return s.startTime == startTime && s.isLive
    }

    /// Live processes whose environment satisfies `matches`.
    public static func processes(where matches: ([String: String]) -> Bool) -> [pid_t] {
        allPIDs().filter { pid in
            guard let s = stat(pid), s.isLive else { return false }
            return matches(environment(pid))
        }
    }

    /// Children of `parent` that are not zombies: from the kernel's lists where it has them
    /// (a few small reads), else from a walk of /proc.
    public static func liveChildren(of parent: pid_t) -> [pid_t] {
        listedChildren(of: parent)?.filter { stat($0).map { !$0.isZombie } ?? false } ?? children(of: parent)
    }

    /// Live children of `parent`.
    public static func children(of parent: pid_t) -> [pid_t] {
        allPIDs().filter { pid in
            guard let s = stat(pid) else { return false }
            return s.parent == parent && s.isLive
        }
    }

    /// Sends `signal` to every live member of a session; returns how many it reached.
    /// SIGKILL is a crash: see `signal(_:_:)`.
    @discardableResult
    public static func signal(session: pid_t, _ signal: Int32) -> Int {
        Self.signal({ members(ofSession: session) }, signal)
    }

    /// Sends `signal` to every process `find` lists; SIGKILL is `Teardown.kill`, sent as a
    /// machine dies: all at once (see `Teardown.run(against:)`).
    @discardableResult
    public static func signal(_ find: () -> [pid_t], _ signal: Int32) -> Int {
        guard signal == SIGKILL else {
            let pids = find()
            for p in pids { kill(p, signal) }
            return pids.count
        }
        return withoutActuallyEscaping(find) { find in
            Teardown.kill.run(against: .processes(find)).killedPIDs.count
        }
    }
}
