import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// How a process ended.
public enum ExitStatus: Sendable, Equatable, CustomStringConvertible {
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

/// SIGTERM -> "SIGTERM"; unknown numbers as "signal N".
public func signalName(_ s: Int32) -> String {
    let names: [Int32: String] = [
        SIGHUP: "SIGHUP", SIGINT: "SIGINT", SIGQUIT: "SIGQUIT", SIGILL: "SIGILL", SIGABRT: "SIGABRT",
        SIGFPE: "SIGFPE", SIGKILL: "SIGKILL", SIGSEGV: "SIGSEGV", SIGPIPE: "SIGPIPE", SIGALRM: "SIGALRM",
        SIGTERM: "SIGTERM", SIGUSR1: "SIGUSR1", SIGUSR2: "SIGUSR2", SIGBUS: "SIGBUS", SIGSTOP: "SIGSTOP", SIGCONT: "SIGCONT",
    ]
    return names[s] ?? "signal \(s)"
}

/// A failure to start a process.
public struct SpawnError: Error, Sendable, CustomStringConvertible {
    public var executable: String
    public var errno: Int32
    public var description: String {
        "cannot start '\(executable)': \(String(cString: strerror(errno)))"
    }
}

/// A child process started with `posix_spawn` from an argv array: no shell ever sees
/// its arguments. It can be put in its own process group, so a signal to the group
/// reaches everything it starts, and its stdio can be pipes.
public final class ChildProcess: @unchecked Sendable {
    public enum Stdio: Sendable { case inherit, null, pipe }

    public let pid: pid_t
    /// Write end of the child's stdin when it is `.pipe`.
    public let stdinFD: Int32?
    /// Read ends of the child's stdout / stderr when they are `.pipe`.
    public let stdoutFD: Int32?
    public let stderrFD: Int32?
    public let newProcessGroup: Bool

    private init(pid: pid_t, stdinFD: Int32?, stdoutFD: Int32?, stderrFD: Int32?, newProcessGroup: Bool) {
        self.pid = pid
        self.stdinFD = stdinFD
        self.stdoutFD = stdoutFD
        self.stderrFD = stderrFD
        self.newProcessGroup = newProcessGroup
    }

    /// Finds `name` on `PATH` unless it contains a slash.
    public static func resolve(_ name: String, path: String? = ProcessInfo.processInfo.environment["PATH"]) -> String? {
        if name.contains("/") { return access(name, X_OK) == 0 ? name : nil }
        for dir in (path ?? "/usr/local/bin:/usr/bin:/bin").split(separator: ":") {
            let candidate = "\(dir)/\(name)"
            if access(candidate, X_OK) == 0 { return candidate }
        }
        return nil
    }

    /// Starts `arguments[0]` (looked up on PATH) with `arguments`. Signals blocked in the
    /// caller are unblocked and reset to default in the child.
    public static func spawn(
        _ arguments: [String], environment: [String: String],
        stdin: Stdio = .inherit, stdout: Stdio = .inherit, stderr: Stdio = .inherit,
        newProcessGroup: Bool = true
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
        var flags = Int32(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF)
        if newProcessGroup {
            flags |= Int32(POSIX_SPAWN_SETPGROUP)
            posix_spawnattr_setpgroup(&attr, 0)
        }
        posix_spawnattr_setflags(&attr, Int16(flags))
        var empty = sigset_t()
        sigemptyset(&empty)
        posix_spawnattr_setsigmask(&attr, &empty)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for s in [SIGINT, SIGTERM, SIGUSR1, SIGUSR2, SIGPIPE, SIGHUP, SIGQUIT, SIGCHLD] { sigaddset(&defaults, s) }
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
            parentEnds.compactMap { $0 }.forEach { close($0) }
            throw SpawnError(executable: exe, errno: rc)
        }
        return ChildProcess(pid: pid, stdinFD: parentEnds[0], stdoutFD: parentEnds[1], stderrFD: parentEnds[2], newProcessGroup: newProcessGroup)
    }

    /// Sends `signal` to the child, or to its whole group when it has its own.
    @discardableResult
    public func signal(_ signal: Int32) -> Bool {
        (newProcessGroup ? kill(-pid, signal) : kill(pid, signal)) == 0
    }

    /// Blocks until the child ends.
    public func wait() -> ExitStatus {
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 {
            if errno != EINTR { return .exited(127) }
        }
        return ExitStatus(waitStatus: status)
    }

    /// Returns the status if the child has ended, without blocking.
    public func poll() -> ExitStatus? {
        var status: Int32 = 0
        let r = waitpid(pid, &status, WNOHANG)
        return r == pid ? ExitStatus(waitStatus: status) : nil
    }
}

/// Reads a file descriptor until EOF and hands over complete lines (without the newline).
/// A line longer than `maxLine` bytes is handed over in pieces of that size.
public func readLines(fd: Int32, maxLine: Int = 16 * 1024, _ body: (Substring) -> Void) {
    var pending = [UInt8]()
    var buffer = [UInt8](repeating: 0, count: 64 * 1024)
    while true {
        let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if n < 0 && errno == EINTR { continue }
        if n <= 0 { break }
        pending.append(contentsOf: buffer[0..<n])
        var start = 0
        while let nl = pending[start...].firstIndex(of: 10) {
            var piece = start
            while nl - piece > maxLine {
                body(Substring(String(decoding: pending[piece..<(piece + maxLine)], as: UTF8.self)))
                piece += maxLine
            }
            body(Substring(String(decoding: pending[piece..<nl], as: UTF8.self)))
            start = nl + 1
        }
        if start > 0 { pending.removeFirst(start) }
        while pending.count >= maxLine {
            body(Substring(String(decoding: pending[0..<maxLine], as: UTF8.self)))
            pending.removeFirst(maxLine)
        }
    }
    if !pending.isEmpty { body(Substring(String(decoding: pending, as: UTF8.self))) }
}

/// Writes all of `text` to `fd`; false when the other end is gone.
@discardableResult
public func writeAll(fd: Int32, _ text: String) -> Bool {
    var bytes = Array(text.utf8)
    var offset = 0
    while offset < bytes.count {
        let n = bytes.withUnsafeMutableBytes { write(fd, $0.baseAddress! + offset, $0.count - offset) }
        if n < 0 && errno == EINTR { continue }
        if n <= 0 { return false }
        offset += n
    }
    return true
}

/// A value behind a lock, for state shared between the threads of exec and launch.
public final class Locked<Value>: @unchecked Sendable {
    private var value: Value
    private let lock = NSLock()
    public init(_ value: Value) { self.value = value }
    @discardableResult
    public func with<R>(_ body: (inout Value) throws -> R) rethrows -> R {
        lock.lock()
        defer { lock.unlock() }
        return try body(&value)
    }
    public var get: Value { with { $0 } }
}

/// Monotonic seconds (CLOCK_MONOTONIC), immune to wall-clock steps.
public func monotonicNow() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}

/// Starts a detached thread running `body`.
public func startThread(_ name: String, _ body: @escaping @Sendable () -> Void) {
    let t = Thread(block: body)
    t.name = name
    t.start()
}
