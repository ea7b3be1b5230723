// FoundationEssentials only, as the rest of the wrapper: `baton-exec guard` starts with
// every attempt.
import BatonProtocol
import BatonSystem
#if canImport(Glibc)
import Glibc
#endif

/// What a head starts dies with it. With its first attempt a head starts one guard
/// (`baton-exec guard --head MARK`, `GuardArguments`): a process of its own, off every
/// attempt's path, that looks every 0.2 s whether its head is still there. Every attempt's
/// mpirun carries the head's mark in its environment (`DaemonEnvironment.headKey`), and so
/// do the rsh agents, Open MPI's daemons, wrappers and commands on every node this machine
/// can see. When the head is gone (killed, its machine's OOM killer, or ended: the guard's
/// parent changes), the guard kills every process carrying the mark, then ends. Without it a
/// head's SIGKILL left mpirun, its agents and daemons running (orted never leaves when mpirun
/// dies: measured with Open MPI 4.1.4) until someone resumed the run. (A guard per attempt,
/// as mpirun's parent, cost a trivial grid config 11 ms, most of it its start on mpirun's
/// path; beside mpirun, still 5%: measured.)
public enum MpirunGuard {
    /// How often the guard looks whether its head is still there.
    static let checkInterval = 0.2

    /// Watches until the head is gone, then kills what it started; exits 0.
    public static func run(head mark: String) -> Never {
        let head = getppid()
        while getppid() == head { usleep(UInt32(checkInterval * 1_000_000)) }
        let me = getpid()
        Teardown(afterKill: 10).run(against: .processes {
            ProcessTable.processes(withEnvironment: DaemonEnvironment.headKey, mark).filter { $0 != me }
        })
        exit(0)
    }
}
