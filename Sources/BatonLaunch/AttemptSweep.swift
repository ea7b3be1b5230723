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

    struct Leftover {
        var pid: pid_t
        var node: String?
    }

    func leftovers() -> [Leftover] {
        guard !token.isEmpty else { return [] }
        let me = getpid()
        return ProcessTable.processes(withEnvironment: LaunchPlanner.attemptTokenVariable, token).compactMap { pid in
            guard pid != me else { return nil }
            let env = ProcessTable.environment(pid)
            return Leftover(pid: pid, node: env["BATON_AGENT_NODE"] ?? env["OMPI_COMM_WORLD_RANK"].flatMap { Int($0) }.flatMap { nodeOfRank[$0] })
        }
    }

    /// True when this machine sees the processes of some node of the attempt (or saw those
    /// of every one of `nodes`: `seenHere`) but none of `nodes` now: those are gone, and need
    /// no lease wait.
    func nodesAreGone(_ nodes: [String], seenHere: Set<String> = []) -> Bool {
        let left = leftovers()
        let attributed = left.compactMap(\.node)
        guard !attributed.isEmpty || simulated || nodes.allSatisfy(seenHere.contains) else { return false }
        return !attributed.contains { nodes.contains($0) }
    }

    /// SIGKILLs what is left of the attempt outside the `lost` nodes (a cut-off node's
    /// processes are out of reach: they fence themselves) and waits up to `seconds` for it
    /// to be gone. Returns how many it killed and what is still there, as "pid N (NAME) on NODE".
    func clear(excluding lost: Set<String>, within seconds: Double) -> (killed: Int, left: [String]) {
        let within = { leftovers().filter { simulated || !lost.contains($0.node ?? "") } }
        let result = Teardown(afterKill: seconds).run(against: .processes { within().map(\.pid) })
        guard !result.left.isEmpty else { return (result.killedPIDs.count, []) }
        let nodes = Dictionary(within().map { ($0.pid, $0.node) }, uniquingKeysWith: { a, _ in a })
        return (result.killedPIDs.count, result.left.map { pid in
            let name = ProcessTable.arguments(pid).first.map { ($0 as NSString).lastPathComponent } ?? "?"
            return "pid \(pid) (\(name)) on \((nodes[pid] ?? nil) ?? "this machine")"
        })
    }
}
