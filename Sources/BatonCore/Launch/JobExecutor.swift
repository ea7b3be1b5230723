import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Where a line of a job's engine output came from.
public enum OutputSource: Sendable { case stdout, stderr }

/// A started job: the head talks to it (leases, signals), stops it and waits for it.
public protocol RunningJob: AnyObject, Sendable {
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
}

/// Starts the attempts of a job. The mpirun executor runs the plan's argv (real hosts, or
/// the test bed through an rsh agent); the local executor simulates nodes on this machine.
public protocol JobExecutor: Sendable {
    func start(_ plan: LaunchPlan, onLine: @escaping @Sendable (String, OutputSource) -> Void) throws -> RunningJob
    /// Called after an attempt's engine has ended: kills whatever of the attempt is still
    /// running where the executor can reach it. Returns how many processes it killed.
    func reap(_ plan: LaunchPlan) -> Int
}

extension JobExecutor {
    public func reap(_ plan: LaunchPlan) -> Int { 0 }
}

/// Runs `plan.mpirun` with posix_spawn in a process group of its own (so a terminal's
/// Ctrl-C reaches only the head, which then forwards it its own way), stdin a pipe for
/// leases, stdout/stderr read line by line.
public struct MpirunExecutor: JobExecutor {
    public var environment: [String: String]

    public init(environment: [String: String] = ProcessInfo.processInfo.environment) {
        self.environment = environment
    }

    public func start(_ plan: LaunchPlan, onLine: @escaping @Sendable (String, OutputSource) -> Void) throws -> RunningJob {
        var env = environment
        for (k, v) in plan.mpirunEnvironment { env[k] = v }
        let child = try ChildProcess.spawn(plan.mpirun, environment: env, stdin: .pipe, stdout: .pipe, stderr: .pipe)
        let job = MpirunJob(child: child)
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

final class MpirunJob: RunningJob, @unchecked Sendable {
    let child: ChildProcess
    let readersDone = Locked(0)
    private let stdinLock = Locked(true)
    private let status = Locked<ExitStatus?>(nil)

    init(child: ChildProcess) { self.child = child }

    func send(_ message: HeadMessage) -> Bool {
        guard let fd = child.stdinFD else { return false }
        return stdinLock.with { open in
            guard open else { return false }
            if !writeAll(fd: fd, message.encoded + "\n") { open = false; close(fd) }
            return open
        }
    }

    func terminate() { Glibc.kill(child.pid, SIGTERM) }
    func kill() { child.signal(SIGKILL) }

    func poll() -> ExitStatus? {
        status.with { s in
            if s == nil { s = child.poll() }
            return s
        }
    }

    var outputFinished: Bool { readersDone.get >= 2 }
}

/// The mpirun executor with the simulated-node agent of `LocalNodes`: `--local N`.
public struct LocalExecutor: JobExecutor {
    public var base = MpirunExecutor()
    public init() {}
    public func start(_ plan: LaunchPlan, onLine: @escaping @Sendable (String, OutputSource) -> Void) throws -> RunningJob {
        try base.start(plan, onLine: onLine)
    }

    /// Every simulated node's session is killed: nothing of the attempt survives it.
    public func reap(_ plan: LaunchPlan) -> Int {
        var killed = 0
        for h in plan.hosts {
            killed += LocalNodes.crash(node: h.name, runDir: plan.contract.runDir)
            try? FileManager.default.removeItem(atPath: "\(plan.contract.runDir)/local/\(h.name).sid")
        }
        return killed
    }
}
