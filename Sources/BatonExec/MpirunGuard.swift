// FoundationEssentials only, as the rest of the wrapper: `baton-exec guard` starts with
// every attempt.
import BatonProtocol
import BatonSystem
#if canImport(Glibc)
import Glibc
#endif

/// What a head starts dies with it. Beside every attempt's mpirun the head starts this
/// guard (`baton-exec guard --token T --mpirun PID --start TICKS`, `GuardArguments`): a
/// process of its own, off the attempt's path (mpirun is still the head's child, started and
/// ended without waiting for anything), that looks every 0.2 s whether its head is still
/// there. When the head is gone (killed, its machine's OOM killer: the guard's parent
/// changes), it kills mpirun and every process this machine can see that carries the
/// attempt's token (the rsh agents, Open MPI's daemons, which outlive mpirun for good,
/// measured with Open MPI 4.1.4, and anything a daemon left), then ends. When mpirun ends
/// first, so does the guard. Without it a head's SIGKILL left mpirun, its agents and daemons
/// running until someone resumed the run. (A guard that was mpirun's parent cost a trivial
/// grid config 11 ms, most of it the guard's start on mpirun's path: measured.)
public enum MpirunGuard {
    /// How often the guard looks whether its head and mpirun are still there.
    static let checkInterval = 0.2

    /// Watches until mpirun ends (exit 0) or the head is gone (mpirun and the attempt
    /// killed; exit 137).
    public static func run(token: String, mpirun: pid_t, startTime: UInt64) -> Never {
        let head = getppid()
        func mpirunRuns() -> Bool {
            guard let st = ProcessTable.stat(mpirun) else { return false }
            return st.startTime == startTime && !st.isZombie
        }
        while true {
            if getppid() != head {
                if mpirunRuns() { kill(mpirun, SIGKILL) }
                headGone(token: token)
            }
            if !mpirunRuns() { exit(0) }
            usleep(UInt32(checkInterval * 1_000_000))
        }
    }

    /// The head is gone (and mpirun killed for it): nothing of its attempt may run on.
    static func headGone(token: String) -> Never {
        let me = getpid()
        Teardown(afterKill: 10).run(against: .processes {
            ProcessTable.processes(withEnvironment: DaemonEnvironment.attemptTokenKey, token).filter { $0 != me }
        })
        exit(137)
    }
}
