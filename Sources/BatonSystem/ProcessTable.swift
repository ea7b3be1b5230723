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

        public var isZombie: Bool { state == "Z" || state == "X" }
        var isStopped: Bool { state == "T" || state == "t" }
    }

    public static func stat(_ pid: pid_t) -> Stat? {
        guard let bytes = readFile("/proc/\(pid)/stat", from: 0) else { return nil }
        let text = String(decoding: bytes, as: UTF8.self)
        guard let close = text.lastIndex(of: ")") else { return nil }
        // Fields after "(comm)": state ppid pgrp session tty_nr tpgid flags minflt cminflt
        // majflt cmajflt utime stime cutime cstime priority nice num_threads itrealvalue starttime
        let f = text[text.index(after: close)...].split(separator: " ")
        guard f.count > 19, let state = f[0].first, let ppid = pid_t(f[1]), let pgrp = pid_t(f[2]), let sid = pid_t(f[3]),
              let start = UInt64(f[19]) else { return nil }
        return Stat(state: state, parent: ppid, group: pgrp, session: sid, startTime: start,
                    cpuTicks: (UInt64(f[11]) ?? 0) + (UInt64(f[12]) ?? 0))
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
            level = level.flatMap(childrenListed)
            pids += level
        }
        var cpu = 0.0, delay = 0.0
        for pid in pids {
            if let s = stat(pid) { cpu += Double(s.cpuTicks) / tick }
            for tid in (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task")) ?? [] {
                // schedstat: time on CPU, time waiting on a run queue, timeslices (ns, ns, count).
                guard let b = readFile("/proc/\(pid)/task/\(tid)/schedstat", from: 0) else { continue }
                let f = String(decoding: b, as: UTF8.self).split(separator: " ")
                if f.count > 1, let ns = Double(f[1]) { delay += ns / 1e9 }
            }
        }
        return (cpu, delay)
    }

    /// The children the kernel lists for each of `pid`'s threads (/proc/PID/task/TID/children).
    static func childrenListed(_ pid: pid_t) -> [pid_t] {
        let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task")) ?? []
        return tasks.flatMap { tid -> [pid_t] in
            guard let b = readFile("/proc/\(pid)/task/\(tid)/children", from: 0) else { return [] }
            return String(decoding: b, as: UTF8.self).split(separator: " ").compactMap { pid_t($0) }
        }
    }

    /// Every pid on this machine, at the moment of reading.
    static func allPIDs() -> [pid_t] {
        guard let dir = opendir("/proc") else { return [] }
        defer { closedir(dir) }
        var result: [pid_t] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if let pid = pid_t(name) { result.append(pid) }
        }
        return result
    }

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

    /// Live (not zombie) members of a session: on a simulated node, the node's processes
    /// (Open MPI gives each rank its own process group, but they stay in the session).
    public static func members(ofSession session: pid_t) -> [pid_t] {
        allPIDs().filter { pid in
            guard let s = stat(pid) else { return false }
            return s.session == session && !s.isZombie
        }
    }

    /// Live processes whose environment holds `key=value` exactly.
    public static func processes(withEnvironment key: String, _ value: String) -> [pid_t] {
        let needle = Array("\(key)=\(value)".utf8)
        return allPIDs().filter { pid in
            guard let bytes = readFile("/proc/\(pid)/environ", from: 0),
                  bytes.split(separator: 0).contains(where: { $0.elementsEqual(needle) }) else { return false }
            return stat(pid).map { !$0.isZombie } ?? false
        }
    }

    /// Live processes whose environment satisfies `matches`.
    public static func processes(where matches: ([String: String]) -> Bool) -> [pid_t] {
        allPIDs().filter { pid in
            guard let s = stat(pid), !s.isZombie else { return false }
            return matches(environment(pid))
        }
    }

    /// Live children of `parent`.
    public static func children(of parent: pid_t) -> [pid_t] {
        allPIDs().filter { pid in
            guard let s = stat(pid) else { return false }
            return s.parent == parent && !s.isZombie
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
