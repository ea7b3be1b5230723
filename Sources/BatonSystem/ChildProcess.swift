// FoundationEssentials only: baton-exec, which every rank starts, links this module.
import FoundationEssentials
import Dispatch
#if canImport(Glibc)
import Glibc
#endif

/// How a process ended.
public enum ExitStatus: Sendable, Equatable, Hashable, Codable, CustomStringConvertible {
    case exited(Int32)
    case signaled(Int32)

    init(waitStatus status: Int32) {
        // WIFEXITED / WEXITSTATUS / WTERMSIG are macros Swift cannot import.
        if status & 0x7F == 0 { self = .exited((status >> 8) & 0xFF) } else { self = .signaled(status & 0x7F) }
    }

    /// The shell convention: the code, or 128 + signal.
    public var code: Int32 {
        switch self {
        case .exited(let c): return c
        case .signaled(let s): return 128 + s
        }
    }

    public var description: String {
        switch self {
        case .exited(let c): return "exit code \(c)"
        case .signaled(let s): return "signal \(s) (\(signalName(s)))"
        }
    }
}

let signalNames: [Int32: String] = [
        SIGHUP: "SIGHUP", SIGINT: "SIGINT", SIGQUIT: "SIGQUIT", SIGILL: "SIGILL", SIGABRT: "SIGABRT",
        SIGFPE: "SIGFPE", SIGKILL: "SIGKILL", SIGSEGV: "SIGSEGV", SIGPIPE: "SIGPIPE", SIGALRM: "SIGALRM",
        SIGTERM: "SIGTERM", SIGUSR1: "SIGUSR1", SIGUSR2: "SIGUSR2", SIGBUS: "SIGBUS", SIGSTOP: "SIGSTOP", SIGCONT: "SIGCONT",
]

/// SIGTERM -> "SIGTERM"; unknown numbers as "signal N".
public func signalName(_ s: Int32) -> String { signalNames[s] ?? "signal \(s)" }

/// "SIGTERM", "TERM" or "15" -> 15; nil for anything else.
public func signalNumber(_ name: String) -> Int32? {
    if let n = Int32(name), n > 0, n < 65 { return n }
    let full = name.uppercased().hasPrefix("SIG") ? name.uppercased() : "SIG" + name.uppercased()
    return signalNames.first { $0.value == full }?.key
}

/// A failure to start a process.
public struct SpawnError: Error, Sendable, CustomStringConvertible {
    var executable: String
    var errno: Int32
    public var description: String {
        "cannot start '\(executable)': \(String(cString: strerror(errno)))"
    }
}

/// A child process started with `posix_spawn` from an argv array: no shell ever sees its
/// arguments. The one subprocess type of Baton: the wrapper's command, mpirun, the detached
/// grid head, doctor's and the health checks' programs all start here.
///
/// Why not swift-subprocess (on this machine, 1.0.2): its `run` is async and scopes the
/// child's life to a closure, while the head keeps processes across loop iterations and
/// past its own end (a detached head), learns of an end with `waitid(WNOWAIT)` on a thread
/// of its own, and reads pipes line by line on threads; and `baton-exec`, which every rank
/// starts, stays free of the async runtime and of Foundation. What swift-subprocess offers
/// that Baton needs (process group, session, a teardown as data: `Teardown`) is a few lines here.
public final class ChildProcess: @unchecked Sendable {
    public enum Stdio: Sendable, Equatable {
        case inherit, null, pipe
        /// Appended to the file at this path (created 0644); for stderr, `.append` of the
        /// same path as stdout shares stdout's descriptor.
        case append(String)
    }

    /// Where the child sits among processes: the caller's group, a group of its own (a
    /// signal to the group reaches everything it starts), or a session of its own (no
    /// controlling terminal: it outlives the terminal and a SIGHUP of the caller's session).
    public enum Grouping: Sendable, Equatable { case inherit, processGroup, session }

    public let pid: pid_t
    /// Write end of the child's stdin when it is `.pipe`.
    public let stdinFD: Int32?
    /// Read ends of the child's stdout / stderr when they are `.pipe`.
    public let stdoutFD: Int32?
    public let stderrFD: Int32?
    /// Read end of the extra pipe the child writes to (`spawn(..., writePipe:)`).
    public let extraFD: Int32?
    let grouping: Grouping
    private let status = Locked<ExitStatus?>(nil)

    private init(pid: pid_t, stdinFD: Int32?, stdoutFD: Int32?, stderrFD: Int32?, extraFD: Int32?, grouping: Grouping) {
        self.pid = pid
        self.extraFD = extraFD
        self.stdinFD = stdinFD
        self.stdoutFD = stdoutFD
        self.stderrFD = stderrFD
        self.grouping = grouping
    }

    /// True when signals go to the child's whole group (its own group or session).
    var newProcessGroup: Bool { grouping != .inherit }

    /// Finds `name` on `PATH` unless it contains a slash.
    public static func resolve(_ name: String, path: String? = ProcessInfo.processInfo.environment["PATH"]) -> String? {
        if name.contains("/") { return access(name, X_OK) == 0 ? name : nil }
        for dir in (path ?? "/usr/local/bin:/usr/bin:/bin").split(separator: ":") where !dir.isEmpty {
            let candidate = "\(dir)/\(name)"
            if access(candidate, X_OK) == 0 { return candidate }
        }
        return nil
    }

    /// glibc's POSIX_SPAWN_SETSID (spawn.h, since glibc 2.26); hidden from Swift behind _GNU_SOURCE.
    static let spawnSetSID: Int32 = 0x80

    /// Starts `arguments[0]` (looked up on PATH) with `arguments`. Signals blocked in the
    /// caller are unblocked and every signal's disposition is reset to default in the child.
    public static func spawn(
        _ arguments: [String], environment: [String: String],
        stdin: Stdio = .inherit, stdout: Stdio = .inherit, stderr: Stdio = .inherit,
        grouping: Grouping = .processGroup, writePipe: Int32? = nil
    ) throws(SpawnError) -> ChildProcess {
        guard let first = arguments.first, let exe = resolve(first, path: environment["PATH"] ?? ProcessInfo.processInfo.environment["PATH"]) else {
            throw SpawnError(executable: arguments.first ?? "", errno: ENOENT)
        }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        var attr = posix_spawnattr_t()
        posix_spawnattr_init(&attr)
        defer { posix_spawnattr_destroy(&attr) }

        var parentEnds: [Int32?] = [nil, nil, nil]
        var childEnds: [Int32] = []
        for (fd, mode) in [(Int32(0), stdin), (1, stdout), (2, stderr)] {
            switch mode {
            case .inherit: break
            case .null:
                posix_spawn_file_actions_addopen(&actions, fd, "/dev/null", fd == 0 ? O_RDONLY : O_WRONLY, 0)
            case .append(let path):
                if fd == 2, stdout == mode {
                    posix_spawn_file_actions_adddup2(&actions, 1, 2)
                } else {
                    posix_spawn_file_actions_addopen(&actions, fd, path, fd == 0 ? O_RDONLY : O_WRONLY | O_CREAT | O_APPEND, 0o644)
                }
            case .pipe:
                var p: [Int32] = [0, 0]
                guard pipe(&p) == 0 else { throw SpawnError(executable: exe, errno: errno) }
                // Close-on-exec, so other children never hold our pipe ends open
                // (adddup2 clears the flag on the copy the child gets).
                _ = fcntl(p[0], F_SETFD, FD_CLOEXEC)
                _ = fcntl(p[1], F_SETFD, FD_CLOEXEC)
                let (childEnd, parentEnd) = fd == 0 ? (p[0], p[1]) : (p[1], p[0])
                posix_spawn_file_actions_adddup2(&actions, childEnd, fd)
                parentEnds[Int(fd)] = parentEnd
                childEnds.append(childEnd)
            }
        }
        // One more pipe the child writes to at descriptor `writePipe` (the wrapper's progress
        // channel); the parent reads it at `extraFD`.
        var extraEnd: Int32?
        if let target = writePipe {
            var p: [Int32] = [0, 0]
            guard pipe(&p) == 0 else { throw SpawnError(executable: exe, errno: errno) }
            _ = fcntl(p[0], F_SETFD, FD_CLOEXEC)
            _ = fcntl(p[1], F_SETFD, FD_CLOEXEC)
            posix_spawn_file_actions_adddup2(&actions, p[1], target)
            extraEnd = p[0]
            childEnds.append(p[1])
        }
        var flags = Int32(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF)
        switch grouping {
        case .inherit: break
        case .processGroup:
            flags |= Int32(POSIX_SPAWN_SETPGROUP)
            posix_spawnattr_setpgroup(&attr, 0)
        case .session:
            flags |= spawnSetSID
        }
        posix_spawnattr_setflags(&attr, Int16(flags))
        var empty = sigset_t()
        sigemptyset(&empty)
        posix_spawnattr_setsigmask(&attr, &empty)
        var defaults = sigset_t()
        sigfillset(&defaults)
        posix_spawnattr_setsigdefault(&attr, &defaults)

        let argv = arguments.map { strdup($0) } + [nil]
        let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            argv.forEach { free($0) }
            envp.forEach { free($0) }
        }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, exe, &actions, &attr, argv, envp)
        childEnds.forEach { close($0) }
        guard rc == 0 else {
            (parentEnds + [extraEnd]).compactMap { $0 }.forEach { close($0) }
            throw SpawnError(executable: exe, errno: rc)
        }
        return ChildProcess(pid: pid, stdinFD: parentEnds[0], stdoutFD: parentEnds[1], stderrFD: parentEnds[2],
                            extraFD: extraEnd, grouping: grouping)
    }

    /// Sends `signal` to the child, or to its whole group when it has its own.
    @discardableResult
    public func signal(_ signal: Int32) -> Bool {
        (newProcessGroup ? kill(-pid, signal) : kill(pid, signal)) == 0
    }

    /// Blocks until the child ends.
    public func wait() -> ExitStatus {
        if let s = status.get { return s }
        var raw: Int32 = 0
        while waitpid(pid, &raw, 0) < 0 {
            if errno != EINTR { return status.get ?? .exited(127) }
        }
        let s = ExitStatus(waitStatus: raw)
        status.with { $0 = s }
        return s
    }

    /// Returns the status if the child has ended, without blocking (and the same status on
    /// every later call).
    public func poll() -> ExitStatus? {
        status.with { s in
            if s != nil { return s }
            var raw: Int32 = 0
            if waitpid(pid, &raw, WNOHANG) == pid { s = ExitStatus(waitStatus: raw) }
            return s
        }
    }

    /// Polls until the child has ended or `seconds` have passed; nil on time-out.
    func wait(atMost seconds: Double) -> ExitStatus? {
        var s: ExitStatus?
        _ = pollUntil(atMost: seconds, every: 0.01) {
            s = poll()
            return s != nil
        }
        return s
    }

    /// TERM-grace-KILL (`Teardown.gracefulShutDown(grace:)`): SIGTERM (with SIGCONT, so a
    /// stopped child sees it) to the child's group, up to `grace` seconds for it to end,
    /// then SIGKILL. Returns its status.
    @discardableResult
    func terminate(grace: Double) -> ExitStatus {
        Teardown.gracefulShutDown(grace: grace).run(against: .child(self)).status ?? wait()
    }

    /// What `run(_:timeout:)` gives back.
    public struct Output: Sendable, Equatable {
        public var status: ExitStatus
        public var stdout: String
        public var stderr: String
        public var timedOut: Bool
    }

    /// Runs `arguments` to its end with stdin from /dev/null and both outputs captured;
    /// terminated (TERM, 2 s, KILL) when `timeout` passes.
    public static func run(_ arguments: [String], environment: [String: String], timeout: Double) throws(SpawnError) -> Output {
        let child = try spawn(arguments, environment: environment, stdin: .null, stdout: .pipe, stderr: .pipe)
        let collected = Locked<[Int32: [UInt8]]>([:])
        let done = DispatchSemaphore(value: 0)
        for fd in [child.stdoutFD!, child.stderrFD!] {
            startThread("baton-run-output") {
                var bytes: [UInt8] = []
                var buffer = [UInt8](repeating: 0, count: 16 * 1024)
                while true {
                    let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
                    if n < 0 && errno == EINTR { continue }
                    if n <= 0 { break }
                    bytes.append(contentsOf: buffer[0..<n])
                }
                close(fd)
                collected.with { $0[fd] = bytes }
                done.signal()
            }
        }
        var timedOut = false
        let status: ExitStatus
        if let s = child.wait(atMost: timeout) {
            status = s
        } else {
            timedOut = true
            status = child.terminate(grace: 2)
        }
        // A grandchild that keeps the pipes open does not hold us past 2 s more.
        _ = done.wait(timeout: .now() + 2)
        _ = done.wait(timeout: .now() + 2)
        let out = collected.get
        return Output(status: status, stdout: String(decoding: out[child.stdoutFD!] ?? [], as: UTF8.self),
                      stderr: String(decoding: out[child.stderrFD!] ?? [], as: UTF8.self), timedOut: timedOut)
    }
}
