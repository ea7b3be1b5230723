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

    /// The agents' ends, by pidfd.
    var exits = ExitWatch()

    mutating func learn(_ agent: Agent) {
        agents[agent.pid] = agent
        learnt.append(agent)
        exits.watch(agent.pid, startTime: agent.startTime)
    }

    /// Closes the pidfds (the runner calls it once the attempt is over).
    mutating func close() { exits.closeAll() }

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
                for c in ProcessTable.liveChildren(of: p) {
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

    /// mpirun's children not known yet as agents (each new one is looked at once, not every
    /// known agent's stat at every scan).
    func newChildren() -> [pid_t] {
        guard let listed = ProcessTable.listedChildren(of: mpirun) else {
            return ProcessTable.children(of: mpirun).filter { agents[$0] == nil && unresolved[$0] == nil }
        }
        return listed.filter { agents[$0] == nil && unresolved[$0] == nil && (ProcessTable.stat($0).map { !$0.isZombie } ?? false) }
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
        for pid in newChildren() {
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
        // An end is judged from the agent's own process, never from a missing line in the
        // children lists (those are per thread of mpirun, and not read atomically: measured,
        // an agent alive all along was once missing from them): by its pidfd, which polls
        // readable once it has ended (one poll(2) for every agent, not a /proc read of each
        // at every scan: 256 of them every 30 ms were a tenth of a core); where there is no
        // pidfd, by its /proc entry.
        for pid in exits.ended() { if let a = agents[pid], ended[a.node] == nil { ended[a.node] = now } }
        for (pid, a) in agents where ended[a.node] == nil && !exits.watches(pid) {
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


/// Processes watched for their end through pidfds (Linux 5.3 and later): a pidfd polls
/// readable once its process has ended, zombie or reaped, whoever its parent is. One poll(2)
/// answers for every watched process. Where pidfd_open is missing, `watch` returns false
/// and the caller looks at /proc instead.
struct ExitWatch: Sendable {
    private var fds: [pid_t: Int32] = [:]
    private var polled: [pollfd] = []
    private var order: [pid_t] = []

    /// glibc 2.36's pidfd_open, looked up at run time (older C libraries lack it; Swift
    /// cannot call the variadic syscall(2)).
    nonisolated(unsafe) private static let pidfdOpen: (@convention(c) (pid_t, UInt32) -> Int32)? = {
        guard let sym = dlsym(nil, "pidfd_open") /* nil: RTLD_DEFAULT */ else { return nil }
        return unsafeBitCast(sym, to: (@convention(c) (pid_t, UInt32) -> Int32).self)
    }()

    func watches(_ pid: pid_t) -> Bool { fds[pid] != nil }

    /// Starts watching `pid` if it is still the process that started at `startTime`.
    @discardableResult
    mutating func watch(_ pid: pid_t, startTime: UInt64) -> Bool {
        guard fds[pid] == nil, let open = Self.pidfdOpen else { return false }
        let fd = open(pid, 0)
        guard fd >= 0 else { return false }
        // The pidfd is for whatever `pid` was when it was opened: the same process only if
        // its start time still matches.
        guard let st = ProcessTable.stat(pid), st.startTime == startTime else {
            Glibc.close(fd)
            return false
        }
        fds[pid] = fd
        order.append(pid)
        polled.append(pollfd(fd: fd, events: Int16(POLLIN), revents: 0))
        return true
    }

    /// The watched processes that have ended (each said once; no longer watched after).
    mutating func ended() -> [pid_t] {
        guard !polled.isEmpty else { return [] }
        let n = polled.withUnsafeMutableBufferPointer { poll($0.baseAddress, nfds_t($0.count), 0) }
        guard n > 0 else { return [] }
        var out: [pid_t] = []
        var keep: [Int] = []
        for i in polled.indices {
            if polled[i].revents != 0 {
                out.append(order[i])
                Glibc.close(polled[i].fd)
                fds[order[i]] = nil
            } else {
                keep.append(i)
            }
        }
        polled = keep.map { var p = polled[$0]; p.revents = 0; return p }
        order = keep.map { order[$0] }
        return out
    }

    mutating func closeAll() {
        for fd in fds.values { Glibc.close(fd) }
        fds = [:]
        polled = []
        order = []
    }
}
