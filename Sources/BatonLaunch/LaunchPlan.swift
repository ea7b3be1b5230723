import BatonProtocol
import BatonRuns
import BatonSystem
import Foundation

/// Builds `LaunchPlan`s.
public struct LaunchPlanner: Sendable {
    var mode: LaunchMode
    var command: [String]
    var runDir: String
    var batonPath: String
    /// The lean wrapper executable (`baton-exec`, see `leanWrapper(beside:)`) every rank
    /// runs instead of `batonPath exec`; nil: `batonPath exec`. Same code, same options:
    /// it only starts faster.
    public var execPath: String?
    var mpirunPath: String
    var heartbeat: Double
    var lease: Double
    var grace: Double
    /// MASTER_PORT pinned by `--master-port`; nil: a free port chosen per attempt.
    var masterPort: Int?
    public var configID: String = "launch"
    /// The grid's extension of the contract (docs/grid.md): its config, a checkpoint
    /// directory stable across attempts, one metrics file per attempt, its resume flag.
    public var configJSON: String?
    public var checkpointDir: String?
    public var metricsFile: String?
    public var resume: Bool?
    /// TORCHELASTIC_RUN_ID (nil: the run directory) and TORCHELASTIC_MAX_RESTARTS (nil: unset).
    public var runID: String?
    public var maxRestarts: Int?
    var extraMpirunArguments: [String] = []
    /// The Slurm allocation mpirun runs in, if any: its `srun` steps then overlap a dead
    /// step's resources and exclude the nodes this attempt leaves out (`SlurmAllocation`).
    public var slurm: SlurmAllocation?
    /// This machine's names, cores and the environment mpirun inherits: the Open MPI
    /// settings depend on them (`MPISettings`).
    public var machine: MPISettings.Machine = .current
    /// How every rank's wrapper learns of its progress besides the helper's marks
    /// (`--progress-pattern`, `--progress-key`).
    public var progressPattern: String?
    public var progressKey: String?
    /// `--container`: every rank's command runs inside this image.
    public var container: ContainerRun?

    public init(mode: LaunchMode, command: [String], runDir: String, batonPath: String, mpirunPath: String = "mpirun",
                heartbeat: Double = 1, lease: Double = 10, grace: Double = 30, masterPort: Int? = nil) {
        self.mode = mode
        self.command = command
        self.runDir = runDir
        self.batonPath = batonPath
        self.mpirunPath = mpirunPath
        self.heartbeat = heartbeat
        self.lease = lease
        self.grace = grace
        self.masterPort = masterPort
    }

    /// `baton-exec` in the directory of `batonPath` when it is an executable file there
    /// (as the build and an install put it), else nil. The nodes are expected to have it at
    /// the same path, as they have `baton`.
    public static func leanWrapper(beside batonPath: String) -> String? {
        guard let slash = batonPath.lastIndex(of: "/") else { return nil }
        let path = String(batonPath[...slash]) + "baton-exec"
        return access(path, X_OK) == 0 ? path : nil
    }

    /// `formatDuration(v, .argument)`, kept for the callers in AttemptRunner and LossClassifier.
    static func seconds(_ v: Double) -> String { formatDuration(v, .argument) }

    /// The variable that marks every process of one attempt (mpirun's environment, so on
    /// nodes this machine can see, the daemons', wrappers' and commands' too): the head
    /// finds what is left of an attempt by it.
    static let attemptTokenVariable = DaemonEnvironment.attemptTokenKey

    /// MASTER_ADDR of a job on `hosts`: the first node's address where Baton gives the
    /// nodes one (a simulated node's loopback address), else its name.
    func masterAddress(_ hosts: HostList) -> String? {
        guard let first = hosts.hosts.first else { return nil }
        if case .local = mode { return LocalNodes.address(of: first.name) ?? first.name }
        return first.name
    }

    /// What the Open MPI settings of a job on `hosts` depend on (`MPISettings`).
    func mpiContext(_ hosts: HostList) -> MPISettings.Context {
        var agent: String?
        if case .local(let a) = mode { agent = a }
        let source = MPISettings.source(local: agent != nil, hosts: hosts, machine: machine)
        return MPISettings.Context(source: source, agent: agent, grace: grace,
                                   ranksHere: source == .cluster ? 0 : hosts.totalSlots, machine: machine,
                                   slurm: source == .local ? nil : slurm, hostNames: hosts.names)
    }

    /// The plan of attempt `attempt` on `hosts`, with shards in `shardDir` if any, and
    /// `port` as MASTER_PORT (the pinned `masterPort` when there is one).
    /// `previousWorld`: the world size of the attempt before (BATON_PREVIOUS_WORLD_SIZE).
    public func plan(hosts: HostList, attempt: Int, shardDir: String?, port: Int? = nil, previousWorld: Int? = nil) -> LaunchPlan {
        let masterPort = self.masterPort ?? port ?? 29500
        let contract = JobContract(runDir: runDir, configID: configID, configJSON: configJSON ?? "{}", attempt: attempt,
                                   restartCount: attempt - 1, masterAddr: masterAddress(hosts), masterPort: masterPort,
                                   shardDir: shardDir, checkpointDir: checkpointDir, metricsFile: metricsFile, resume: resume,
                                   runID: runID, maxRestarts: maxRestarts, previousWorldSize: previousWorld)
        let nodesSpec = hosts.hosts.map(\.spec).joined(separator: ",")
        var argv = [mpirunPath,
                    "--host", nodesSpec,
                    "-np", String(hosts.totalSlots)]
        // Not `plm_rsh_no_tree_spawn`: with it mpirun starts every daemon `--daemonize`d and
        // the agents end at once (measured), so their ends would say nothing. mpirun's tree
        // spawn starts up to its routing radix (64) daemons itself, each through an agent
        // that is mpirun's child (`AgentWatch`).
        // Every other word, and why, is a row of `MPISettings` (docs/launch.md, "Open MPI
        // settings by host source").
        let settings = mpiContext(hosts)
        argv += MPISettings.arguments(settings, part: .job)
        argv += MPISettings.arguments(settings, part: .hosts)
        var mpiEnv: [String: String] = [Self.attemptTokenVariable: "\(runDir)#\(attempt)"]
        mpiEnv.merge(MPISettings.environment(settings)) { $1 }
        argv += extraMpirunArguments
        argv += (execPath.map { [$0] } ?? [batonPath, "exec"])
        var exec = ExecArguments()
        exec.runDir = runDir
        exec.nodes = nodesSpec
        exec.attempt = attempt
        exec.heartbeat = formatDuration(heartbeat, .argument)
        exec.lease = formatDuration(lease, .argument)
        exec.grace = formatDuration(grace, .argument)
        exec.masterPort = masterPort
        exec.configID = configID
        exec.masterAddr = contract.masterAddr
        exec.shardDir = shardDir
        exec.config = configJSON ?? "{}"
        exec.checkpointDir = checkpointDir
        exec.metricsFile = metricsFile
        exec.resume = resume
        exec.progressPattern = progressPattern
        exec.progressKey = progressKey
        exec.runID = runID
        exec.maxRestarts = maxRestarts
        exec.previousWorld = previousWorld
        exec.container = container?.image
        exec.containerRuntime = container?.runtime ?? "podman"
        exec.containerOptions = container?.options ?? []
        exec.command = command
        argv += exec.encode()

        let ranks = RankPlacement.all(hosts).map { p in
            var entry = LaunchPlan.RankEntry(rank: p.rank, node: p.node, localRank: p.localRank, nodeRank: p.nodeRank,
                                             shard: contract.shardFile(rank: p.rank),
                                             environment: contract.environment(for: p, firstNode: hosts.hosts.first?.name))
            entry.container = container?.rankArguments(
                contract: contract, placement: p, firstNode: hosts.hosts.first?.name, extra: [:],
                marks: [DaemonEnvironment.attemptTokenKey: mpiEnv[Self.attemptTokenVariable] ?? ""],
                workdir: FileManager.default.currentDirectoryPath, user: (getuid(), getgid()), command: command)
            return entry
        }
        return LaunchPlan(attempt: attempt, mode: mode, hosts: hosts.hosts, worldSize: hosts.totalSlots, mpirun: argv,
                          mpirunEnvironment: mpiEnv, ranks: ranks, contract: contract, command: command,
                          heartbeat: heartbeat, lease: lease, grace: grace, guardPath: execPath)
    }
}
