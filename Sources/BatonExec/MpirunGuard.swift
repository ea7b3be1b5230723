// FoundationEssentials only, as the rest of the wrapper: `baton-exec guard` starts with
// every attempt.
import BatonProtocol
import BatonSystem
#if canImport(Glibc)
import Glibc
#endif

/// What a head starts dies with it. A head runs mpirun under this guard
/// (`baton-exec guard --token T -- mpirun ...`, `GuardArguments`): the guard starts mpirun as its own child
/// in its own process group, with the head's pipes as mpirun's stdio, passes the head's
/// SIGTERM and SIGINT on to it, and ends as mpirun ends, with its status. When the head
/// itself is gone (killed, its machine's OOM killer: its parent changes), the guard kills
/// mpirun and every process this machine can see that carries the attempt's token (the rsh
/// agents, Open MPI's daemons, which outlive mpirun for good, measured with Open MPI 4.1.4,
/// and anything a daemon left), then ends. Without it a head's SIGKILL left mpirun, its
/// agents and daemons running until someone resumed the run.
public enum MpirunGuard {
    /// How often the guard looks whether its head is still there.
    static let headCheckInterval = 0.2

    /// Runs mpirun to its end; exits as it did.
    public static func run(token: String, mpirun: [String], environment: [String: String]) -> Never {
        let head = getppid()
        // The head's signals are for mpirun: taken by a thread of ours, never by default.
        var set = sigset_t()
        sigemptyset(&set)
        for s in [SIGTERM, SIGINT, SIGHUP] { sigaddset(&set, s) }
        pthread_sigmask(SIG_BLOCK, &set, nil)
        let child: ChildProcess
        do {
            child = try ChildProcess.spawn(mpirun, environment: environment, stdin: .inherit, stdout: .inherit, stderr: .inherit,
                                           grouping: .inherit)
        } catch {
            _ = writeAll(fd: 2, "baton-exec guard: \(error)\n")
            exit(127)
        }
        let mpirunPID = child.pid
        let blocked = set
        startThread("baton-guard-signals") {
            var waitSet = blocked
            var s: Int32 = 0
            while true {
                guard sigwait(&waitSet, &s) == 0 else { continue }
                // SIGHUP is the terminal's, not the head's word: mpirun gets SIGTERM for it.
                kill(mpirunPID, s == SIGHUP ? SIGTERM : s)
            }
        }
        // The head is watched by a thread of its own, so that mpirun's end is learnt by a
        // blocking wait the moment it happens (a polled wait added up to its interval to
        // every attempt's end: measured, `baton launch -- true` went from 1.04x to 1.14x
        // bare mpirun's time with a 10 ms poll).
        startThread("baton-guard-head") {
            while getppid() == head { usleep(UInt32(headCheckInterval * 1_000_000)) }
            kill(mpirunPID, SIGKILL)
        }
        let status = child.wait()
        if getppid() != head { headGone(token: token) }
        exitAs(status)
    }

    /// The head is gone (and mpirun, killed for it, reaped): nothing of its attempt may run on.
    static func headGone(token: String) -> Never {
        let me = getpid()
        Teardown(afterKill: 10).run(against: .processes {
            ProcessTable.processes(withEnvironment: DaemonEnvironment.attemptTokenKey, token).filter { $0 != me }
        })
        exit(137)
    }

    /// Ends this process as mpirun ended: the same code, or the same signal.
    static func exitAs(_ status: ExitStatus) -> Never {
        switch status {
        case .exited(let code): exit(code)
        case .signaled(let s):
            signal(s, SIG_DFL)
            var set = sigset_t()
            sigemptyset(&set)
            sigaddset(&set, s)
            pthread_sigmask(SIG_UNBLOCK, &set, nil)
            kill(getpid(), s)
            exit(128 + s)
        }
    }
}
