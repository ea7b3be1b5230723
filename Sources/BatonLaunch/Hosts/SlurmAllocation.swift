import BatonProtocol
import Foundation

/// The Slurm allocation a command runs in (`salloc`, `sbatch`), from its environment.
/// Inside one, mpirun starts its daemons with one `srun` step over the job's nodes.
///
/// Measured on `scripts/slurm-bed` (Slurm 22.05, Open MPI 4.1.4): when a node of a
/// running step is lost, Slurm keeps that step, and with it the CPUs it holds on the
/// survivors, until the lost node is declared down (SlurmdTimeout, then more); the next
/// mpirun's `srun` then pends ("step creation temporarily disabled") and its daemons never
/// report. So every step Baton's mpirun starts is `--overlap` (it may share the CPUs of
/// a dead step) and `--exclude`s the allocation's nodes the attempt leaves out, the lost
/// ones among them: measured, the survivors' step then starts at once (0.25 s) where
/// without it it was still pending 8 s later.
public struct SlurmAllocation: Sendable, Equatable, Codable {
    public var jobID: String
    public var nodes: [String]

    public init(jobID: String, nodes: [String]) {
        self.jobID = jobID
        self.nodes = nodes
    }

    /// The allocation of `environment` (`SLURM_JOB_ID` and `SLURM_JOB_NODELIST`), or nil
    /// outside one (or when its node list does not parse: `HostSource` reports that).
    public static func current(environment: [String: String]) -> SlurmAllocation? {
        guard let job = environment["SLURM_JOB_ID"] ?? environment["SLURM_JOBID"],
              let list = environment["SLURM_JOB_NODELIST"] ?? environment["SLURM_NODELIST"],
              let hosts = try? HostList.parseSlurmNodelist(list) else { return nil }
        return SlurmAllocation(jobID: job, nodes: hosts.names)
    }

    /// The arguments mpirun gives its `srun` for a job on `hosts` (Open MPI's
    /// `plm_slurm_args`, split at spaces: host names hold none).
    func srunArguments(for hosts: [String]) -> [String] {
        let used = Set(hosts)
        let excluded = nodes.filter { !used.contains($0) }
        return ["--overlap"] + (excluded.isEmpty ? [] : ["--exclude=\(excluded.joined(separator: ","))"])
    }

    /// The mpirun arguments that pass `srunArguments(for:)` on.
    public func mpirunArguments(for hosts: [String]) -> [String] {
        ["--mca", "plm_slurm_args", srunArguments(for: hosts).joined(separator: " ")]
    }

    /// `sinfo`'s argv that lists the state of each of `nodes`, one `NAME STATE` line a node
    /// (`%T`: the long state, e.g. `allocated`, `drained`, `down*`).
    static func stateQuery(_ nodes: [String]) -> [String] {
        ["sinfo", "--noheader", "--Node", "--format=%N %T", "--nodes=\(nodes.joined(separator: ","))"]
    }

    /// The nodes of `sinfo`'s lines (`stateQuery`) Slurm says must not be used, and why: a
    /// state DOWN, DRAIN (drained or draining), FAIL (failing), or not responding (a `*`
    /// after the state, sinfo(1) "NODE STATE CODES").
    static func unusable(sinfoOutput text: String) -> [String: String] {
        var out: [String: String] = [:]
        for line in text.split(separator: "\n") {
            let words = line.split(separator: " ", omittingEmptySubsequences: true)
            guard words.count >= 2 else { continue }
            let state = words[1].lowercased()
            let base = state.trimmingCharacters(in: CharacterSet(charactersIn: "*~#!%$@^-+"))
            if ["down", "drain", "fail"].contains(where: { base.hasPrefix($0) }) || state.hasSuffix("*") {
                out[String(words[0])] = "Slurm reports the node \(state)"
            }
        }
        return out
    }
}
