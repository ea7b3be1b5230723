import BatonProtocol
import BatonRuns
import BatonSystem
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Where a line of a job's engine output came from.
public enum OutputSource: Sendable { case stdout, stderr }

/// A started job: the head talks to it (leases, signals), stops it and waits for it.
public protocol RunningJob: AnyObject, Sendable {
    /// mpirun's pid (its rsh agents are its children).
    var pid: pid_t { get }
    /// Writes a message to every rank's wrapper (over `mpirun --stdin all`); false when
    /// that channel is closed.
    @discardableResult func send(_ message: HeadMessage) -> Bool
    /// Asks the engine to stop the job (SIGTERM to mpirun).
    func terminate()
    /// Stops the engine at once (SIGKILL to mpirun's process group).
    func kill()
    /// The engine's exit status once it has ended.
    func poll() -> ExitStatus?
    /// True once the engine's output has been read to its end.
    var outputFinished: Bool { get }
    /// Returns once the engine has ended (without reaping it: `poll()` does that) or after
    /// `timeout` seconds, whichever comes first. The head's loop waits here between checks.
    func waitForEnd(timeout: Double)
}

extension RunningJob {
    func waitForEnd(timeout: Double) { usleep(UInt32(timeout * 1_000_000)) }

    /// Polls until the engine has ended or `seconds` have passed.
    @discardableResult
    func waitForExit(atMost seconds: Double) -> ExitStatus? {
        let deadline = monotonicNow() + seconds
        while true {
            if let s = poll() { return s }
            if monotonicNow() >= deadline { return nil }
            waitForEnd(timeout: 0.02)
        }
    }
}

/// Starts the attempts of a job. There is one real executor, `MpirunExecutor`, for every
/// host source; tests may put a fake engine here.
public protocol JobExecutor: Sendable {
    func start(_ plan: LaunchPlan, onLine: @escaping @Sendable (String, OutputSource) -> Void) throws -> RunningJob
    /// Called once an attempt is over and nothing of it runs any more on the nodes this
    /// machine can see: forgets per-attempt state (a simulated node's session file).
    func finished(_ plan: LaunchPlan)
}

/// Runs `plan.mpirun` with posix_spawn in a process group of its own (so a terminal's
/// Ctrl-C reaches only the head, which then forwards it its own way), stdin a pipe for
/// leases, stdout/stderr read line by line.
public struct MpirunExecutor: JobExecutor {
    var environment: [String: String]

    public init(environment: [String: String] = ProcessInfo.processInfo.environment) {
        self.environment = environment
    }

    public func finished(_ plan: LaunchPlan) {
        guard case .local(let agent) = plan.mode else { return }
        let dir = parentDirectory(agent)
        for h in plan.hosts { LocalNodes.clean(node: h.name, dir: dir) }
    }

    public func start(_ plan: LaunchPlan, onLine: @escaping @Sendable (String, OutputSource) -> Void) throws -> RunningJob {
        var env = environment
        for (k, v) in plan.mpirunEnvironment { env[k] = v }
        env = DaemonEnvironment.adding(to: env)
        // Marked as this head's, and watched by its guard when there is one: what the head
        // starts dies with it.
        env[DaemonEnvironment.headKey] = HeadGuard.mark
        if let guardPath = plan.guardPath { HeadGuard.start(guardPath: guardPath, environment: environment) }
        let child = try ChildProcess.spawn(plan.mpirun, environment: env, stdin: .pipe, stdout: .pipe, stderr: .pipe)
        let job = MpirunJob(child: child)
        // Before the first lease: the ranks mpirun forks itself read their messages here.
        job.channel = HeadChannel.Writer(path: HeadChannel.path(runDir: plan.contract.runDir, attempt: plan.attempt), mpirun: child.pid)
        job.watchEnd()
        for (fd, source) in [(child.stdoutFD!, OutputSource.stdout), (child.stderrFD!, .stderr)] {
            startThread("baton-launch-\(source)") {
                readLines(fd: fd) { onLine(String($0), source) }
                close(fd)
                job.readersDone.with { $0 += 1 }
            }
        }
        return job
    }
}

/// This head's one guard (`MpirunGuard`), started with its first attempt.
enum HeadGuard {
    /// `PID:STARTTIME` of this process: unique on this machine.
    static let mark = "\(getpid()):\(ProcessTable.stat(getpid())?.startTime ?? 0)"
    /// The guard's pid once started (0: none).
    private static let guardPID = Locked<pid_t>(0)

    /// Starts the guard once. Its environment is the head's own (no mark: it never kills
    /// itself, nor does a sweep); it lives as long as the head. A head that ends by
    /// returning from `main` or calling `exit` (its attempts torn down, their cut-off nodes
    /// left to fence by themselves, as on real hosts) stops it first: only a head that dies
    /// leaves its guard to kill what it started.
    static func start(guardPath: String, environment: [String: String]) {
        guardPID.with { pid in
            guard pid == 0 else { return }
            var env = environment
            env[DaemonEnvironment.headKey] = nil
            env[LaunchPlanner.attemptTokenVariable] = nil
            guard let child = try? ChildProcess.spawn(GuardArguments.encode(guardPath: guardPath, head: mark), environment: env,
                                                      stdin: .null, stdout: .null, stderr: .inherit) else { return }
            pid = child.pid
            atexit { HeadGuard.stop() }
        }
    }

    /// Stops the guard without its sweep (the head ends normally).
    static func stop() {
        let pid = guardPID.get
        if pid > 0 { kill(pid, SIGKILL) }
    }
}

final class MpirunJob: RunningJob, @unchecked Sendable {
    /// mpirun (its rsh agents are its children).
    let child: ChildProcess
    let readersDone = Locked(0)
    private let stdinLock = Locked(true)
    /// The head's messages for the ranks mpirun starts on its own node (`HeadChannel`).
    var channel: HeadChannel.Writer?

    /// Signalled once when mpirun has ended; learnt by `waitid` with WNOWAIT, so the
    /// status is still there for `poll()`.
    private let endedSignal = DispatchSemaphore(value: 0)

    init(child: ChildProcess) { self.child = child }

    var pid: pid_t { child.pid }

    /// The head learns of mpirun's end at once instead of at its next poll.
    func watchEnd() {
        let pid = child.pid
        startThread("baton-launch-waitid") { [self] in
            var info = siginfo_t()
            while waitid(P_PID, id_t(pid), &info, WEXITED | WNOWAIT) != 0 && errno == EINTR {}
            endedSignal.signal()
        }
    }

    /// The first call after mpirun's end returns at once, later ones wait out `timeout`.
    func waitForEnd(timeout: Double) {
        _ = endedSignal.wait(timeout: .now() + timeout)
    }

    func send(_ message: HeadMessage) -> Bool {
        channel?.append(message)
        guard let fd = child.stdinFD else { return false }
        return stdinLock.with { open in
            guard open else { return false }
            if !writeAll(fd: fd, message.encoded + "\n") { open = false; close(fd) }
            return open
        }
    }

    /// Not once mpirun has been reaped (`poll()`): its pid may be another process's by now.
    func terminate() { if child.poll() == nil { Glibc.kill(child.pid, SIGTERM) } }
    func kill() { child.signal(SIGKILL) }

    func poll() -> ExitStatus? { child.poll() }

    var outputFinished: Bool { readersDone.get >= 2 }
}

