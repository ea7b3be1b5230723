import BatonProtocol
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Every Open MPI setting Baton passes, on which host source, and why: the one table the
/// plan's mpirun words are made from (`arguments(_:part:)`, `environment(_:)`) and
/// docs/launch.md's "Open MPI settings by host source" is generated from (`markdown()`;
/// a unit test holds the page to it). Settings applied elsewhere (the `--local` agent's
/// TMPDIR, the daemons' hwloc variable) are rows too, naming the constant they use.
public enum MPISettings {
    /// Where the job's nodes are, as far as Open MPI settings go.
    public enum Source: String, Sendable, CaseIterable {
        /// `--local N`: simulated nodes, all on this machine.
        case local
        /// `-H` or a hostfile naming only this machine (`localhost`, its host name): real
        /// ranks, one real node.
        case thisMachine
        /// Real hosts (a hostfile, `-H`, a Slurm allocation).
        case cluster

        var heading: String {
            switch self {
            case .local: return "`--local N`"
            case .thisMachine: return "only this machine (`-H localhost:N`, such a hostfile)"
            case .cluster: return "real hosts (hostfile, `-H`, Slurm)"
            }
        }
    }

    /// The facts about this machine the settings depend on. `current` in a head; tests
    /// give their own.
    public struct Machine: Sendable, Equatable {
        /// The names that mean this machine in a host list.
        var names: Set<String>
        /// Online processors.
        var cores: Int
        /// The head's environment, as mpirun will inherit it.
        public var environment: [String: String]

        init(names: Set<String>, cores: Int, environment: [String: String]) {
            self.names = names
            self.cores = cores
            self.environment = environment
        }

        public static var current: Machine {
            // gethostname(2), not Foundation's hostName, which may ask a resolver.
            var names = MPISettings.loopbackNames
            var buffer = [CChar](repeating: 0, count: 256)
            if gethostname(&buffer, buffer.count - 1) == 0 {
                let name = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
                if !name.isEmpty {
                    names.insert(name)
                    if let short = name.split(separator: ".").first { names.insert(String(short)) }
                }
            }
            return Machine(names: names, cores: max(1, ProcessInfo.processInfo.activeProcessorCount), environment: ProcessInfo.processInfo.environment)
        }
    }

    /// Host names that are this machine on any machine.
    static let loopbackNames: Set<String> = ["localhost", "localhost.localdomain", "127.0.0.1", "::1"]

    /// Everything a setting may depend on, for one mpirun.
    struct Context: Sendable {
        var source: Source
        /// The rsh agent of simulated nodes (`--local`).
        var agent: String?
        /// The wrapper's grace (SIGTERM to SIGKILL), seconds.
        var grace: Double
        /// How many ranks this mpirun places on this machine (all of them on `--local` and
        /// this machine only; none known on real hosts).
        var ranksHere: Int
        var machine: Machine
        /// The Slurm allocation mpirun runs in, and the nodes of this mpirun (real hosts only).
        var slurm: SlurmAllocation?
        var hostNames: [String]
        var root: Bool

        init(source: Source, agent: String? = nil, grace: Double = 30, ranksHere: Int = 0, machine: Machine,
                    slurm: SlurmAllocation? = nil, hostNames: [String] = [], root: Bool = getuid() == 0) {
            self.source = source
            self.agent = agent
            self.grace = grace
            self.ranksHere = ranksHere
            self.machine = machine
            self.slurm = slurm
            self.hostNames = hostNames
            self.root = root
        }
    }

    /// Which part of the mpirun line a setting belongs to: every job Baton plans (a launch's
    /// or grid's attempt), or what the host source needs (also the grid's one-rank health
    /// check on a node).
    enum Part: Sendable { case job, hosts }

    /// How a setting reaches Open MPI.
    enum Channel: String, Sendable {
        case flag = "mpirun option"
        case mca = "`--mca`"
        case mpirunEnvironment = "mpirun's environment"
        case agent = "the `--local` agent"
    }

    struct Setting: Sendable {
        /// The setting as written on the page (`btl self,tcp`, `--oversubscribe`).
        let name: String
        let channel: Channel
        let part: Part
        /// When it applies, per host source ("yes", "as root", ...); absent: never.
        let applies: [Source: String]
        let why: String
        /// The mpirun words in this context ([] when it does not apply or is passed elsewhere).
        let words: @Sendable (Context) -> [String]
        /// The variables for mpirun's environment in this context.
        let variables: @Sendable (Context) -> [String: String]

        init(_ name: String, _ channel: Channel, _ part: Part, _ applies: [Source: String], why: String,
             words: @escaping @Sendable (Context) -> [String] = { _ in [] },
             variables: @escaping @Sendable (Context) -> [String: String] = { _ in [:] }) {
            self.name = name
            self.channel = channel
            self.part = part
            self.applies = applies
            self.why = why
            self.words = words
            self.variables = variables
        }

        func arguments(_ c: Context) -> [String] { applies[c.source] == nil ? [] : words(c) }
        func environment(_ c: Context) -> [String: String] { applies[c.source] == nil ? [:] : variables(c) }
    }

    static let everywhere: [Source: String] = [.local: "yes", .thisMachine: "yes", .cluster: "yes"]
    static let localOnly: [Source: String] = [.local: "yes"]

    /// Open MPI 4.1's `routed_radix` default: how many daemons mpirun starts itself.
    static let defaultRadix = 64

    /// The variable a user sets to choose yielding themselves; Baton then passes nothing.
    static let yieldVariable = "OMPI_MCA_mpi_yield_when_idle"

    /// Whether ranks yield the processor when idle because Baton said so: on simulated
    /// nodes always, on this machine alone when it has fewer cores than ranks; never over a
    /// user's own `OMPI_MCA_mpi_yield_when_idle`.
    static func yieldsWhenIdle(_ c: Context) -> Bool {
        guard c.machine.environment[yieldVariable] == nil else { return false }
        switch c.source {
        case .local: return true
        case .thisMachine: return c.ranksHere > c.machine.cores
        case .cluster: return false
        }
    }

    /// The table, in the order the words go on mpirun's line.
    static let table: [Setting] = [
        Setting("--map-by slot", .flag, .job, everywhere,
                why: "ranks fill a node's slots before the next node's, the placement `RankPlacement` (and so RANK, LOCAL_RANK, NODE_RANK) assumes",
                words: { _ in ["--map-by", "slot"] }),
        Setting("--bind-to none", .flag, .job, everywhere,
                why: "a trainer binds its own threads (torch, OpenMP); Open MPI's default binding to a core or socket would pin every thread of a rank to it",
                words: { _ in ["--bind-to", "none"] }),
        Setting("--stdin all", .flag, .job, everywhere,
                why: "the head renews leases and forwards signals over every wrapper's stdin (the command itself gets /dev/null)",
                words: { _ in ["--stdin", "all"] }),
        Setting("odls_base_sigkill_timeout grace+2", .mca, .job, everywhere,
                why: "a daemon stopping its ranks waits this long between SIGTERM and SIGKILL (Open MPI's default: 1 s): the wrapper gets its whole `--grace` to stop its command",
                words: { c in ["--mca", "odls_base_sigkill_timeout", String(Int(c.grace.rounded(.up)) + 2)] }),
        Setting("routed_radix N (more than 64 nodes)", .mca, .job, everywhere,
                why: "Open MPI starts its daemons in a tree of this radix (default 64): beyond it a daemon starts others, through agents that are not mpirun's children, so their end (a crashed node) is the head's to see no more; measured at 128 bed nodes, a crash beyond the radix read only as \"unable to reliably start one or more daemons\" and mpirun's SIGSEGV, no node named, no restart. With the radix at the node count every agent is mpirun's child (mpirun opens a connection to every daemon, and runs up to `plm_rsh_num_concurrent` (128) agents at once)",
                words: { c in c.hostNames.count > defaultRadix ? ["--mca", "routed_radix", String(c.hostNames.count)] : [] }),
        Setting("plm_rsh_agent RUN/local/rsh-agent", .mca, .hosts, localOnly,
                why: "mpirun reaches a simulated node through the agent as it reaches a real one through ssh (also in mpirun's environment, `OMPI_MCA_plm_rsh_agent`, so daemons that start others use it too)",
                words: { c in c.agent.map { ["--mca", "plm_rsh_agent", $0] } ?? [] },
                variables: { c in c.agent.map { ["OMPI_MCA_plm_rsh_agent": $0] } ?? [:] }),
        Setting("if_base_do_not_resolve 1", .mca, .hosts, localOnly,
                why: "mpirun resolves every host name it is given; `local-N` is in no hosts file, so each start asked the DNS server (a lost reply: glibc's 5 s timeout, the 5.2 s stalls of concurrent starts, docs/grid.md)",
                words: { _ in ["--mca", "if_base_do_not_resolve", "1"] }),
        Setting("oob_tcp_if_include lo, btl_tcp_if_include lo", .mca, .hosts, localOnly,
                why: "every simulated node is this machine: its daemons and ranks talk over loopback only, never over a real NIC",
                words: { _ in ["--mca", "oob_tcp_if_include", "lo", "--mca", "btl_tcp_if_include", "lo"] }),
        Setting("btl self,tcp", .mca, .hosts, localOnly,
                why: "simulated nodes share one host name, and the shared-memory transport names its segments by host name and local rank: ranks of two nodes would map the same segment (measured: SIGSEGV in btl_vader)",
                words: { _ in ["--mca", "btl", "self,tcp"] }),
        Setting("--oversubscribe", .flag, .hosts, localOnly,
                why: "a simulated node's slots are Baton's word, not cores of its own (all nodes share this machine's): mpirun must never refuse a rank for want of them. It does not make ranks yield: Open MPI judges oversubscription per node, against the slots it was given",
                words: { _ in ["--oversubscribe"] }),
        Setting("--allow-run-as-root", .flag, .hosts, [.local: "as root"],
                why: "simulated nodes are this machine: as root, say yes to Open MPI's root check here rather than make every first try fail on it",
                words: { c in c.root ? ["--allow-run-as-root"] : [] }),
        Setting("mpi_yield_when_idle 1", .mca, .hosts,
                [.local: "yes, unless `OMPI_MCA_mpi_yield_when_idle` is set", .thisMachine: "when its ranks outnumber its cores, unless `OMPI_MCA_mpi_yield_when_idle` is set"],
                why: "a rank waiting for a message spins on the CPU unless Open MPI knows its node is oversubscribed, and on `--local N --nproc-per-node R` each node believes it has its R slots: with more ranks than cores the spinning ranks take the cores from the ranks they wait for (mpi4py's test suite, 4 ranks on 2 cores: no rank done in 5 minutes; yielding, it completes: `scripts/mpi4py-suite`, docs/benchmarks.md). A user's own setting, in the environment, is kept",
                words: { c in yieldsWhenIdle(c) ? ["--mca", "mpi_yield_when_idle", "1"] : [] }),
        Setting("plm_slurm_args --overlap [--exclude=...]", .mca, .hosts, [.thisMachine: "inside a Slurm allocation", .cluster: "inside a Slurm allocation"],
                why: "mpirun's `srun` steps overlap a dead step's resources and leave out the allocation's nodes this attempt does not use (`SlurmAllocation`)",
                words: { c in c.slurm.map { $0.mpirunArguments(for: c.hostNames) } ?? [] }),
        Setting("TMPDIR=\(LocalNodes.nodeTmpPrefix)SID", .agent, .hosts, localOnly,
                why: "Open MPI names its session directory, and PMIx its shared-memory store, after the host name, which all simulated nodes share: each node's daemon (and so its ranks) gets a TMPDIR of its own, removed when the daemon ends"),
        Setting("\(DaemonEnvironment.hwlocKey)=\(DaemonEnvironment.hwlocValue)", .mpirunEnvironment, .job,
                [.local: "unless set", .thisMachine: "unless set", .cluster: "unless set (ssh passes no environment to remote daemons)"],
                why: "mpirun and its daemons skip hwloc's I/O device discovery a job with `--bind-to none` never uses (0.12-0.17 s a start); `baton exec` takes it out of the command's environment again (`DaemonEnvironment`)"),
    ]

    /// The mpirun words of `part` in context `c`, in the table's order.
    static func arguments(_ c: Context, part: Part) -> [String] {
        table.filter { $0.part == part }.flatMap { $0.arguments(c) }
    }

    /// The variables the table adds to mpirun's environment (beside `DaemonEnvironment`'s).
    static func environment(_ c: Context) -> [String: String] {
        table.reduce(into: [:]) { env, s in env.merge(s.environment(c)) { $1 } }
    }

    /// The host source of a job on `hosts`: `--local` by its mode, this machine when every
    /// host is one of its names, else real hosts.
    public static func source(local: Bool, hosts: HostList, machine: Machine) -> Source {
        if local { return .local }
        if !hosts.hosts.isEmpty && hosts.hosts.allSatisfy({ machine.names.contains($0.name) || loopbackNames.contains($0.name) }) { return .thisMachine }
        return .cluster
    }

    /// docs/launch.md's table.
    static func markdown() -> String {
        func cell(_ s: String) -> String { s.replacingOccurrences(of: "|", with: "\\|") }
        var lines = ["| setting | how | " + Source.allCases.map(\.heading).joined(separator: " | ") + " | why |",
                     "|---|---|" + Source.allCases.map { _ in "---|" }.joined() + "---|"]
        for s in table {
            let cells = ["`\(s.name)`", s.channel.rawValue] + Source.allCases.map { s.applies[$0] ?? "no" } + [s.why]
            lines.append("| " + cells.map(cell).joined(separator: " | ") + " |")
        }
        return lines.joined(separator: "\n") + "\n"
    }
}
