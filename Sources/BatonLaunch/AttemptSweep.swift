import BatonSystem
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// What is left of one attempt on the nodes this machine can see (simulated nodes, the
/// namespace test bed: one kernel), found by the attempt token every process of it
/// carries (`LaunchPlanner.attemptTokenVariable`, from mpirun's environment), and each
/// attributed to its node by `BATON_AGENT_NODE` (set by the project's agents) or by its rank
/// (`OMPI_COMM_WORLD_RANK`, set by Open MPI for every wrapper and inherited by its command),
/// so any agent will do. On real hosts only mpirun and its agents are here, and mpirun's
/// own end is what ends them.
struct AttemptSweep: Sendable {
    let token: String
    /// Simulated nodes are this machine: a lost one is cleared too, once its lease is out.
    let simulated: Bool
    /// Where each rank of the attempt runs.
    var nodeOfRank: [Int: String] = [:]
    /// mpirun's start time (clock ticks after boot; 0: not known): every process of the
    /// attempt descends from mpirun, so only processes started since then are read for the
    /// token (a stat each for the rest of the machine, not an environment read).
    var since: UInt64 = 0

    struct Leftover: Equatable {
        var pid: pid_t
        var parent: pid_t = 0
        var startTime: UInt64 = 0
        var node: String?
        /// `OMPI_COMM_WORLD_RANK` in its environment: a wrapper, its command, their children.
        var rank: Int?
    }

    /// One pass over /proc.
    func leftovers() -> [Leftover] {
        guard !token.isEmpty else { return [] }
        let me = getpid()
        return ProcessTable.scan(environment: LaunchPlanner.attemptTokenVariable, token, startedSince: since,
                                 reading: ["BATON_AGENT_NODE", "OMPI_COMM_WORLD_RANK"]).compactMap { e in
            guard e.pid != me else { return nil }
            let rank = e.values["OMPI_COMM_WORLD_RANK"].flatMap { Int($0) }
            return Leftover(pid: e.pid, parent: e.parent, startTime: e.startTime,
                            node: e.values["BATON_AGENT_NODE"] ?? rank.flatMap { nodeOfRank[$0] }, rank: rank)
        }
    }

    /// The wrappers of running commands, found from the commands' pids (each wrapper's `start
    /// pid=N`) by one stat each: the parent of a live command started since mpirun. No walk
    /// of /proc and no environment read: on node loss mpirun aborts, hundreds of processes
    /// are dying, and reading a dying process's environment waits for its exit (the walk
    /// took 5.5 s at 128 bed nodes, the whole of the teardown).
    func wrappers(ofCommands commands: [Int: (node: String, pid: Int32)]) -> [Leftover] {
        commands.sorted { $0.key < $1.key }.compactMap { rank, c in
            guard let cmd = ProcessTable.stat(c.pid), !cmd.isZombie, cmd.startTime >= since,
                  let w = ProcessTable.stat(cmd.parent), !w.isZombie, w.startTime >= since, w.startTime <= cmd.startTime else { return nil }
            return Leftover(pid: cmd.parent, parent: w.parent, startTime: w.startTime, node: c.node, rank: rank)
        }
    }

    /// True when this machine sees every process of the attempt on `nodes`: simulated nodes,
    /// or nodes whose processes it has seen under their agents (`seenHere`).
    func sees(_ nodes: some Sequence<String>, seenHere: Set<String>) -> Bool {
        simulated || nodes.allSatisfy(seenHere.contains)
    }

    /// True when this machine sees the processes of some node of the attempt (or saw those
    /// of every one of `nodes`: `seenHere`) but none of `nodes` now: those are gone, and need
    /// no lease wait.
    /// `left`: the attempt's processes as just listed (nil: listed here).
    func nodesAreGone(_ nodes: [String], in listed: [Leftover]? = nil, seenHere: Set<String> = []) -> Bool {
        let left = listed ?? leftovers()
        let attributed = left.compactMap(\.node)
        guard !attributed.isEmpty || sees(nodes, seenHere: seenHere) else { return false }
        return !attributed.contains { nodes.contains($0) }
    }

    /// SIGKILLs what is left of the attempt outside the `lost` nodes (a cut-off node's
    /// processes are out of reach: they fence themselves) and waits up to `seconds` for it
    /// to be gone. Returns how many it killed and what is still there, as "pid N (NAME) on NODE".
    /// `listed`: the attempt's processes as just listed (saves a pass over /proc).
    func clear(excluding lost: Set<String>, within seconds: Double, listed: [Leftover]? = nil) -> (killed: Int, left: [String]) {
        let outside = { (left: [Leftover]) in left.filter { simulated || !lost.contains($0.node ?? "") } }
        let within = { outside(leftovers()) }
        let result = Teardown(afterKill: seconds).run(against: .processes { within().map(\.pid) }, listed: listed.map { outside($0).map(\.pid) })
        guard !result.left.isEmpty else { return (result.killedPIDs.count, []) }
        let nodes = Dictionary(within().map { ($0.pid, $0.node) }, uniquingKeysWith: { a, _ in a })
        return (result.killedPIDs.count, result.left.map { pid in
            let name = ProcessTable.arguments(pid).first.map { ($0 as NSString).lastPathComponent } ?? "?"
            return "pid \(pid) (\(name)) on \((nodes[pid] ?? nil) ?? "this machine")"
        })
    }
}
