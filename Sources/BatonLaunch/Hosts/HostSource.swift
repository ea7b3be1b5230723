import BatonProtocol
import Foundation

/// Where a job's nodes come from, resolved once for `launch`, `grid` and `doctor`: a
/// hostfile, `-H`, `--local N`, or the Slurm allocation the command runs in. Every error
/// is a `HostListError` (file, line, column), and every one means bad input (exit 2).
public struct HostSource: Sendable, Equatable {
    public enum Kind: Sendable, Equatable {
        case hostfile(String)
        case hosts(String)
        case local(Int)
        case slurm(nodelist: String, tasksPerNode: String?)
    }

    public var kind: Kind
    public var hosts: HostList

    /// How a person would name it: `--hostfile F`, `-H h1,h2`, `--local 4`,
    /// `SLURM_JOB_NODELIST=node[1-3] (SLURM_TASKS_PER_NODE=2(x3))`.
    public var description: String {
        switch kind {
        case .hostfile(let f): return "--hostfile \(f)"
        case .hosts(let h): return "-H \(h)"
        case .local(let n): return "--local \(n)"
        case .slurm(let list, let tasks): return "SLURM_JOB_NODELIST=\(list)" + (tasks.map { " (tasks per node \($0))" } ?? "")
        }
    }

    public var isLocal: Bool { if case .local = kind { return true } else { return false } }

    /// Resolves the one source given; with none, the Slurm allocation in `environment`.
    public static func resolve(hostfile: String?, hosts: String?, local: Int?,
                               environment: [String: String]) throws(HostListError) -> HostSource {
        let given = [hostfile != nil, hosts != nil, local != nil].filter { $0 }.count
        guard given <= 1 else {
            throw HostListError(source: "arguments", line: 1, column: 1, message: "give only one of --hostfile, -H, --local")
        }
        if let hostfile { return HostSource(kind: .hostfile(hostfile), hosts: try HostList.hostfile(at: hostfile)) }
        if let hosts { return HostSource(kind: .hosts(hosts), hosts: try HostList.parseHostSpec(hosts)) }
        if let local {
            guard local >= 1 && local <= LocalNodes.maxNodes else {
                throw HostListError(source: "--local", line: 1, column: 1, message: "--local needs 1...\(LocalNodes.maxNodes) nodes, got \(local)")
            }
            return HostSource(kind: .local(local), hosts: LocalNodes.hosts(count: local))
        }
        if let nodelist = environment["SLURM_JOB_NODELIST"] ?? environment["SLURM_NODELIST"] {
            var list = try HostList.parseSlurmNodelist(nodelist)
            let tasks = environment["SLURM_TASKS_PER_NODE"] ?? environment["SLURM_NTASKS_PER_NODE"]
            if let tasks {
                let perNode = try slurmTasksPerNode(tasks, nodes: list.hosts.count)
                list = HostList(hosts: zip(list.hosts, perNode).map { BatonProtocol.Host(name: $0.0.name, slots: $0.1) })
            }
            return HostSource(kind: .slurm(nodelist: nodelist, tasksPerNode: tasks), hosts: list)
        }
        throw HostListError(source: "arguments", line: 1, column: 1,
                            message: "no hosts: give --hostfile F, -H h1:2,h2:2, --local N, or run inside a Slurm allocation")
    }

    /// Slurm's tasks-per-node forms: `2`, `2(x3)`, `4,2(x2)`, expanded to one count a node.
    static func slurmTasksPerNode(_ text: String, nodes: Int) throws(HostListError) -> [Int] {
        var out: [Int] = []
        var column = 1
        for part in text.split(separator: ",", omittingEmptySubsequences: false) {
            func bad() -> HostListError {
                HostListError(source: "SLURM_TASKS_PER_NODE", line: 1, column: column, message: "'\(part)' is not N or N(xK)")
            }
            var count = part[...]
            var times = 1
            if let open = part.firstIndex(of: "(") {
                guard part.hasSuffix(")"), part[part.index(after: open)...].hasPrefix("x"),
                      let k = Int(part[part.index(open, offsetBy: 2)..<part.index(before: part.endIndex)]), k >= 1 else { throw bad() }
                times = k
                count = part[..<open]
            }
            guard let n = Int(count), n >= 1 else { throw bad() }
            out += Array(repeating: n, count: times)
            column += part.count + 1
        }
        // One number for all nodes (SLURM_NTASKS_PER_NODE's form).
        if out.count == 1 && nodes > 1 { out = Array(repeating: out[0], count: nodes) }
        guard out.count == nodes else {
            throw HostListError(source: "SLURM_TASKS_PER_NODE", line: 1, column: 1,
                                message: "'\(text)' gives \(out.count) nodes, the node list has \(nodes)")
        }
        return out
    }
}
