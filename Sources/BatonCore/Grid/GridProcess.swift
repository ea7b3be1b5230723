import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Process helpers for the local executor: spawning with an argv array (never a shell),
/// sessions as the unit a "node" kills, and /proc reading.
public enum GridProcess {
    /// glibc's POSIX_SPAWN_SETSID (spawn.h, since glibc 2.26); not visible to Swift because
    /// it sits behind _GNU_SOURCE.
    static let spawnSetSID: Int16 = 0x80

    public struct SpawnError: Error, CustomStringConvertible {
        public var program: String
        public var errno: Int32
        public var description: String { "cannot start \(program): \(String(cString: strerror(errno)))" }
    }

    /// Starts `argv` (looked up in PATH) with `environment`, stdin from /dev/null and
    /// stdout+stderr appended to `logPath`, as the leader of a new session.
    public static func spawn(_ argv: [String], environment: [String: String], logPath: String?, newSession: Bool = true)
        throws -> pid_t
    {
        var attrs = posix_spawnattr_t()
        posix_spawnattr_init(&attrs)
        defer { posix_spawnattr_destroy(&attrs) }
        var flags: Int16 = Int16(POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK)
        if newSession { flags |= spawnSetSID }
        posix_spawnattr_setflags(&attrs, flags)
        var all = sigset_t()
        sigfillset(&all)
        posix_spawnattr_setsigdefault(&attrs, &all)
        var none = sigset_t()
        sigemptyset(&none)
        posix_spawnattr_setsigmask(&attrs, &none)

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        if let logPath {
            posix_spawn_file_actions_addopen(&actions, 1, logPath, O_WRONLY | O_CREAT | O_APPEND, 0o644)
            posix_spawn_file_actions_adddup2(&actions, 1, 2)
        }

        let env = environment.map { "\($0.key)=\($0.value)" }
        var pid: pid_t = 0
        let rc = withCStrings(argv) { cargv in
            withCStrings(env) { cenv in
                posix_spawnp(&pid, argv[0], &actions, &attrs, cargv, cenv)
            }
        }
        if rc != 0 { throw SpawnError(program: argv[0], errno: rc) }
        return pid
    }

    static func withCStrings<R>(_ strings: [String], _ body: (UnsafePointer<UnsafeMutablePointer<CChar>?>) -> R) -> R {
        let pointers = strings.map { strdup($0) } + [nil]
        defer { for p in pointers { free(p) } }
        return pointers.withUnsafeBufferPointer { body($0.baseAddress!) }
    }

    /// How a waited-for process ended (the POSIX W* macros, which Swift cannot import).
    public static func decode(_ status: Int32) -> (code: Int32?, signal: Int32?) {
        let sig = status & 0x7f
        if sig == 0 { return ((status >> 8) & 0xff, nil) }
        return (nil, sig)
    }

    /// Non-blocking wait: the process's status if it has ended.
    /// `reap`'s answer when the process is gone but its status was taken by someone else
    /// (another part of the program waited for it): the exit is unknown.
    public static let statusUnknown = Int32.min

    public static func reap(_ pid: pid_t) -> Int32? {
        var status: Int32 = 0
        let r = waitpid(pid, &status, WNOHANG)
        if r == pid { return status }
        if r < 0 && errno == ECHILD { return statusUnknown }
        return nil
    }

    /// Fields of /proc/PID/stat after the command name: (state, ppid, pgrp, session, starttime).
    public static func stat(_ pid: pid_t) -> (state: Character, session: Int32)? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = text.lastIndex(of: ")")
        else { return nil }
        let fields = text[text.index(after: close)...].split(separator: " ")
        guard fields.count > 4, let state = fields[0].first, let session = Int32(fields[3]) else { return nil }
        return (state, session)
    }

    /// Every process in a session (what "the node's processes" means on the local executor:
    /// Open MPI gives each rank its own process group, but they stay in mpirun's session).
    /// Zombies are left out: they are dead already, and where pid 1 does not reap (some
    /// containers) they would never go away.
    public static func sessionMembers(_ session: Int32) -> [pid_t] {
        allPIDs().filter { pid in
            guard let s = stat(pid) else { return false }
            return s.session == session && s.state != "Z"
        }
    }

    static func allPIDs() -> [pid_t] {
        ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).compactMap { pid_t($0) }
    }

    /// Sends `signal` to every process of a session; returns how many it reached.
    @discardableResult
    public static func signalSession(_ session: Int32, _ signal: Int32) -> Int {
        let members = sessionMembers(session)
        for pid in members { kill(pid, signal) }
        return members.count
    }

    /// Processes whose environment holds `KEY=value` exactly.
    public static func processes(withEnvironment entry: String) -> [pid_t] {
        let needle = Array(entry.utf8)
        return allPIDs().filter { pid in
            guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/environ") else { return false }
            return data.split(separator: 0).contains { Array($0) == needle }
        }
    }

    public static func monotonic() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }
}
