import BatonSystem
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// mpirun's rsh agents (ssh, or the local and test-bed agents), one per node, each a child
/// of mpirun started for one host: its end while the node still had work is a node loss,
/// named without help from the agent. ssh exits 255 or by a signal and prints nothing of
/// its own; an agent inside the node dies with it. Which host an agent is for is read from
/// a word of its argv that is a host name (`ssh [opts] HOST cmd`, `AGENT HOST cmd`), or
/// `BATON_AGENT_NODE` in its environment, or else from its descendants: the wrappers its
/// daemon starts carry their rank (`OMPI_COMM_WORLD_RANK`), and the rank's node is known.
/// The last matters for an agent that has exec'd into something else (`ip netns exec NODE
/// sh -c "hostname NODE; orted ..."` is `sh -c "..."` a moment later: no word of it is
/// the node's name); such an agent is looked at again at every scan until its ranks have
/// started. Not thread-safe on its own: the attempt runner's loop owns it.
struct AgentWatch: Sendable {
    struct Agent: Sendable, Equatable {
        var pid: pid_t
        var startTime: UInt64
        var node: String
        /// How its node was learnt: "argv", "environment" or "ranks" (the processes under it).
        var how: String = "argv"
    }

    let mpirun: pid_t
    let hosts: Set<String>
    let nodeOfRank: [Int: String]
    /// Agents whose node is not known yet, with their start time.
    var unresolved: [pid_t: UInt64] = [:]
    /// Nodes whose processes (daemon, wrappers) this machine has seen under their agent: a
    /// simulated node or the test bed, not a host behind ssh. Only for these can the head
    /// see that a lost node's processes are gone.
    private(set) var seenHere = Set<String>()
    var lastLookBelow = 0.0
    var firstScan = Double.infinity
    private(set) var agents: [pid_t: Agent] = [:]
    /// Agents learnt since the last `takeLearnt()` (the runner keeps them in its transcript).
    var learnt: [Agent] = []
    /// Nodes whose agent ended, with when it was noticed (monotonic seconds).
    private(set) var ended: [String: Double] = [:]

    init(mpirun: pid_t, hosts: [String], nodeOfRank: [Int: String] = [:]) {
        self.mpirun = mpirun
        self.hosts = Set(hosts)
        self.nodeOfRank = nodeOfRank
    }

    mutating func learn(_ agent: Agent) {
        agents[agent.pid] = agent
        learnt.append(agent)
    }

    /// The agents learnt since the last call.
    mutating func takeLearnt() -> [Agent] {
        defer { learnt.removeAll() }
        return learnt
    }

    /// The node an agent process is for, from a word of its argv that is a host name
    /// (`ssh [opts] HOST cmd`, `ssh user@HOST`, `AGENT HOST cmd`) or its environment; and
    /// which of the two said so.
    static func nodeAndHow(argv: [String], environment: () -> [String: String], hosts: Set<String>) -> (String, String)? {
        for word in argv.dropFirst() {
            if hosts.contains(word) { return (word, "argv") }
            // ssh's user@host
            if let at = word.lastIndex(of: "@"), hosts.contains(String(word[word.index(after: at)...])) {
                return (String(word[word.index(after: at)...]), "argv")
            }
        }
        if let n = environment()["BATON_AGENT_NODE"], hosts.contains(n) { return (n, "environment") }
        return nil
    }

    /// The node of an agent from the processes under it (its daemon, the daemon's
    /// wrappers): `BATON_AGENT_NODE`, or a rank of the job in `OMPI_COMM_WORLD_RANK`.
    static func node(fromDescendantsOf pid: pid_t, hosts: Set<String>, nodeOfRank: [Int: String]) -> String? {
        var frontier = [pid]
        // agent -> (shell) -> orted -> wrapper: a few levels are enough.
        for _ in 0..<5 where !frontier.isEmpty {
            var next: [pid_t] = []
            for p in frontier {
                for c in children(of: p) {
                    let env = ProcessTable.environment(c)
                    if let n = env["BATON_AGENT_NODE"], hosts.contains(n) { return n }
                    if let r = env["OMPI_COMM_WORLD_RANK"].flatMap({ Int($0) }), let n = nodeOfRank[r] { return n }
                    next.append(c)
                }
            }
            frontier = next
        }
        return nil
    }

    func children() -> [pid_t] { Self.children(of: mpirun) }

    /// A process's live children, cheaply from /proc/PID/task/*/children where the kernel
    /// has it.
    static func children(of parent: pid_t) -> [pid_t] {
        let base = "/proc/\(parent)/task"
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
        return ProcessTable.children(of: parent)
    }

    /// Looks at mpirun's children once: learns new agents, notes those that ended.
    mutating func scan(at now: Double) {
        firstScan = min(firstScan, now)
        // mpirun's argv, read afresh: a child mpirun has forked but that has not exec'd its
        // agent yet still shows it, and its words name hosts too (`--master-addr NODE`):
        // measured, a crash of node 3 was blamed on node 1 that way, twice: the second time
        // because mpirun's argv had been read once, while mpirun itself was still its
        // guard's fresh child showing the guard's argv.
        var mpirunArguments: [String]?
        for pid in children() where agents[pid] == nil && unresolved[pid] == nil {
            let argv = ProcessTable.arguments(pid)
            if mpirunArguments == nil { mpirunArguments = ProcessTable.arguments(mpirun) }
            guard !argv.isEmpty, argv != mpirunArguments, let st = ProcessTable.stat(pid) else { continue }
            if let (node, how) = Self.nodeAndHow(argv: argv, environment: { ProcessTable.environment(pid) }, hosts: hosts) {
                learn(Agent(pid: pid, startTime: st.startTime, node: node, how: how))
            } else {
                unresolved[pid] = st.startTime
            }
        }
        for (pid, startTime) in unresolved {
            guard let st = ProcessTable.stat(pid), st.startTime == startTime, !st.isZombie else {
                unresolved[pid] = nil  // ended before its node was known: nothing to name
                continue
            }
            if let (node, how) = Self.nodeAndHow(argv: ProcessTable.arguments(pid), environment: { ProcessTable.environment(pid) }, hosts: hosts) {
                unresolved[pid] = nil
                learn(Agent(pid: pid, startTime: startTime, node: node, how: how))
            } else if let node = Self.node(fromDescendantsOf: pid, hosts: hosts, nodeOfRank: nodeOfRank) {
                unresolved[pid] = nil
                learn(Agent(pid: pid, startTime: startTime, node: node, how: "ranks"))
                seenHere.insert(node)
            }
        }
        // Agents known by their argv: whether their node's processes are on this machine,
        // looked at until they are seen: every 0.3 s while the job starts, then once a
        // second (an agent of a host behind ssh has no process under it here). Not at every
        // scan: under a grid of short configs that walk cost a tenth of the head's CPU.
        if now - lastLookBelow >= (now - firstScan < 10 ? 0.3 : 1) {
            lastLookBelow = now
            for (pid, a) in agents where !seenHere.contains(a.node) && ended[a.node] == nil {
                if Self.node(fromDescendantsOf: pid, hosts: hosts, nodeOfRank: nodeOfRank) == a.node { seenHere.insert(a.node) }
            }
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
    var seen: [String: pid_t] {
        var out: [String: pid_t] = [:]
        for a in agents.values { out[a.node] = a.pid }
        return out
    }
}

