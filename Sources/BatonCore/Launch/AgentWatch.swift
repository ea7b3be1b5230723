import BatonSystem
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// mpirun's rsh agents (ssh, or the local and test-bed agents), one per node, each a child
/// of mpirun started for one host: its end while the node still had work is a node loss,
/// named without help from the agent. ssh exits 255 or by a signal and prints nothing of
/// its own; an agent inside the node dies with it. Which host an agent is for is read once,
/// when it is first seen: a word of its argv that is a host name (`ssh [opts] HOST cmd`,
/// `AGENT HOST cmd`), or `BATON_AGENT_NODE` in its environment (an agent that has already
/// become the node's daemon). Not thread-safe on its own: the supervisor's loop owns it.
public struct AgentWatch: Sendable {
    public struct Agent: Sendable, Equatable {
        public var pid: pid_t
        public var startTime: UInt64
        public var node: String
    }

    let mpirun: pid_t
    let hosts: Set<String>
    var mpirunArguments: [String] = []
    public private(set) var agents: [pid_t: Agent] = [:]
    /// Nodes whose agent ended, with when it was noticed (monotonic seconds).
    public private(set) var ended: [String: Double] = [:]

    public init(mpirun: pid_t, hosts: [String]) {
        self.mpirun = mpirun
        self.hosts = Set(hosts)
    }

    /// The node an agent process is for, from its argv or environment.
    static func node(ofAgent pid: pid_t, hosts: Set<String>) -> String? {
        for word in ProcessTable.arguments(pid).dropFirst() {
            if hosts.contains(word) { return word }
            // ssh's user@host
            if let at = word.lastIndex(of: "@"), hosts.contains(String(word[word.index(after: at)...])) {
                return String(word[word.index(after: at)...])
            }
        }
        if let n = ProcessTable.environment(pid)["BATON_AGENT_NODE"], hosts.contains(n) { return n }
        return nil
    }

    /// mpirun's live children, cheaply from /proc/PID/task/*/children where the kernel has it.
    func children() -> [pid_t] {
        let base = "/proc/\(mpirun)/task"
        if let tasks = try? FileManager.default.contentsOfDirectory(atPath: base) {
            var result: [pid_t] = []
            var sawFile = false
            for t in tasks {
                guard let bytes = readFile("\(base)/\(t)/children", from: 0) else { continue }
                sawFile = true
                result += String(decoding: bytes, as: UTF8.self).split(separator: " ").compactMap { pid_t($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
            }
            if sawFile { return result.filter { ProcessTable.stat($0).map { !$0.isZombie } ?? false } }
        }
        return ProcessTable.children(of: mpirun)
    }

    /// Looks at mpirun's children once: learns new agents, notes those that ended.
    public mutating func scan(at now: Double) {
        if mpirunArguments.isEmpty { mpirunArguments = ProcessTable.arguments(mpirun) }
        for pid in children() where agents[pid] == nil {
            // A child mpirun has forked but that has not exec'd its agent yet still shows
            // mpirun's argv, whose words name hosts too (`--master-addr NODE`): measured, a
            // crash of node 3 was once blamed on node 1 that way.
            let argv = ProcessTable.arguments(pid)
            guard !argv.isEmpty, argv != mpirunArguments else { continue }
            guard let st = ProcessTable.stat(pid), let node = Self.node(ofAgent: pid, hosts: hosts) else { continue }
            agents[pid] = Agent(pid: pid, startTime: st.startTime, node: node)
        }
        // An end is judged from the agent's own /proc entry, never from a missing line in
        // the children lists (those are per thread of mpirun, and not read atomically:
        // measured, an agent alive all along was once missing from them).
        for (pid, a) in agents where ended[a.node] == nil {
            guard let st = ProcessTable.stat(pid), st.startTime == a.startTime, st.parent == mpirun, !st.isZombie else {
                ended[a.node] = now
                continue
            }
        }
    }

    /// Nodes that had an agent, with the agent's pid.
    public var seen: [String: pid_t] {
        var out: [String: pid_t] = [:]
        for a in agents.values { out[a.node] = a.pid }
        return out
    }
}

