// FoundationEssentials only: baton-exec, which every rank starts, links this module.
import FoundationEssentials
import Dispatch

/// Where one rank sits in the job: world and node coordinates.
public struct RankPlacement: Sendable, Equatable, Codable {
    public var rank: Int
    var worldSize: Int
    public var localRank: Int
    var localWorldSize: Int
    public var nodeRank: Int
    var nodeCount: Int
    public var node: String

    public init(rank: Int, worldSize: Int, localRank: Int, localWorldSize: Int, nodeRank: Int, nodeCount: Int, node: String) {
        self.rank = rank
        self.worldSize = worldSize
        self.localRank = localRank
        self.localWorldSize = localWorldSize
        self.nodeRank = nodeRank
        self.nodeCount = nodeCount
        self.node = node
    }

    /// Every rank of `hosts` in mpirun's by-slot order: node 0's slots first, then node 1's, ...
    /// (Baton passes `--map-by slot` so this is the placement mpirun makes).
    public static func all(_ hosts: HostList) -> [RankPlacement] {
        var result: [RankPlacement] = []
        let world = hosts.totalSlots
        for (n, host) in hosts.hosts.enumerated() {
            for l in 0..<host.slots {
                result.append(RankPlacement(rank: result.count, worldSize: world, localRank: l, localWorldSize: host.slots,
                                            nodeRank: n, nodeCount: hosts.hosts.count, node: host.name))
            }
        }
        return result
    }

    /// The placement of `rank` in `hosts`, or nil when the rank is outside the job.
    static func of(rank: Int, in hosts: HostList) -> RankPlacement? {
        var first = 0
        for (n, host) in hosts.hosts.enumerated() {
            if rank < first + host.slots {
                return RankPlacement(rank: rank, worldSize: hosts.totalSlots, localRank: rank - first, localWorldSize: host.slots,
                                     nodeRank: n, nodeCount: hosts.hosts.count, node: host.name)
            }
            first += host.slots
        }
        return nil
    }

    /// The placement from the variables a launcher set: Open MPI's `OMPI_COMM_WORLD_*`, else
    /// Slurm's `SLURM_*`, else a single rank. Without a node list the node is this machine's
    /// host name and the node rank assumes equal ranks per node.
    public static func fromLauncher(_ env: [String: String], nodes: HostList?) -> RankPlacement {
        func int(_ k: String) -> Int? { env[k].flatMap { Int($0) } }
        let rank = int("OMPI_COMM_WORLD_RANK") ?? int("PMIX_RANK") ?? int("SLURM_PROCID") ?? 0
        if let nodes, let p = of(rank: rank, in: nodes) { return p }
        let world = int("OMPI_COMM_WORLD_SIZE") ?? int("SLURM_NTASKS") ?? 1
        let local = int("OMPI_COMM_WORLD_LOCAL_RANK") ?? int("SLURM_LOCALID") ?? 0
        let localSize = int("OMPI_COMM_WORLD_LOCAL_SIZE") ?? int("SLURM_NTASKS_PER_NODE") ?? 1
        let nodeRank = int("SLURM_NODEID") ?? rank / max(localSize, 1)
        let nodeCount = int("SLURM_NNODES") ?? max(1, (world + localSize - 1) / max(localSize, 1))
        return RankPlacement(rank: rank, worldSize: world, localRank: local, localWorldSize: localSize,
                             nodeRank: nodeRank, nodeCount: nodeCount, node: ProcessInfo.processInfo.hostName.split(separator: ".").first.map(String.init) ?? "localhost")
    }
}

extension JobContract {
    /// The exit code a command uses to say its checkpoint is unreadable (given to it as
    /// BATON_CORRUPT_CHECKPOINT_EXIT; sysexits' EX_DATAERR): with `--on-corrupt-checkpoint
    /// rollback` the grid then restores the config's checkpoint from the newest snapshot
    /// that verifies and retries it.
    public static let corruptCheckpointExit: Int32 = 65

    /// The descriptor a rank's command writes its progress to (`ProgressMark` lines), a
    /// pipe `baton exec` reads (BATON_PROGRESS_FD).
    public static let progressFD: Int32 = 3
}

/// What a head (or a user) fixes for every rank of one attempt; turned into the
/// environment contract (docs/launch.md, "The environment contract") by `environment(for:)`, the one place it is built.
/// `baton launch` fills it per attempt; `baton grid` extends it (a checkpoint directory
/// stable across a config's attempts, one metrics file per attempt, its own resume flag).
public struct JobContract: Sendable, Equatable, Codable {
    public var runDir: String
    var configID: String
    var configJSON: String
    public var attempt: Int
    var restartCount: Int
    public var masterAddr: String?
    public var masterPort: Int
    /// Directory holding `rank-<r>.npy`, or nil when the job is not sharded by Baton.
    var shardDir: String?
    /// BATON_CHECKPOINT_DIR: stable across attempts.
    public var checkpointDir: String
    /// One metrics file for every rank of the attempt (the grid's); nil: one per rank under
    /// the run directory. With one file, rank 0's wrapper forwards it to the head.
    var metricsFile: String?
    /// BATON_RESUME; nil: resume on every attempt after the first.
    var resume: Bool?
    /// TORCHELASTIC_RUN_ID: the same for every attempt of the run (a grid: of the config);
    /// nil: the run directory.
    var runID: String?
    /// TORCHELASTIC_MAX_RESTARTS (`--max-restarts`); nil: not set (a grid's config).
    var maxRestarts: Int?
    /// BATON_PREVIOUS_WORLD_SIZE: the world size of the attempt before this one, when there was one.
    var previousWorldSize: Int?

    public init(runDir: String, configID: String = "launch", configJSON: String = "{}", attempt: Int = 1, restartCount: Int = 0,
                masterAddr: String? = nil, masterPort: Int = 29500, shardDir: String? = nil,
                checkpointDir: String? = nil, metricsFile: String? = nil, resume: Bool? = nil,
                runID: String? = nil, maxRestarts: Int? = nil, previousWorldSize: Int? = nil) {
        self.runDir = runDir
        self.configID = configID
        self.configJSON = configJSON
        self.attempt = attempt
        self.restartCount = restartCount
        self.masterAddr = masterAddr
        self.masterPort = masterPort
        self.shardDir = shardDir
        self.checkpointDir = checkpointDir ?? RunDirectory(runDir).checkpoints
        self.metricsFile = metricsFile
        self.resume = resume
        self.runID = runID
        self.maxRestarts = maxRestarts
        self.previousWorldSize = previousWorldSize
    }

    public var logDir: String { RunDirectory(runDir).logs }
    /// The file that appears when the head asks for a checkpoint (BATON_CHECKPOINT_REQUEST).
    public var checkpointRequestPath: String { RunDirectory(runDir).checkpointRequest(attempt) }
    public func metricsPath(rank: Int) -> String { metricsFile ?? RunDirectory(runDir).rankMetrics(attempt, rank: rank) }
    /// Whether rank `rank`'s wrapper forwards the metrics file (each line once over the job).
    public func forwardsMetrics(rank: Int) -> Bool { metricsFile == nil || rank == 0 }
    public func logPath(node: String, rank: Int) -> String { RunDirectory(runDir).rankLog(node: node, rank: rank) }
    public func shardFile(rank: Int) -> String? { shardDir.map { "\($0)/rank-\(rank).npy" } }

    /// The variables `baton exec` sets for the command of rank `p`: torchrun's whole contract
    /// (torch/distributed/elastic/agent/server/local_elastic_agent.py, `_start_workers`;
    /// Baton runs one worker group a node and one role, so GROUP_* is the node's, ROLE_* the
    /// world's) and BATON_*. TORCHELASTIC_RUN_ID makes torch (`is_torchelastic_launched`) and
    /// frameworks (Lightning's TorchElasticEnvironment) treat the job as elastic: they read
    /// the world from here and refuse a world they were not given, instead of waiting for it.
    public func environment(for p: RankPlacement, firstNode: String? = nil) -> [String: String] {
        var env: [String: String] = [
            "RANK": String(p.rank),
            "WORLD_SIZE": String(p.worldSize),
            "LOCAL_RANK": String(p.localRank),
            "LOCAL_WORLD_SIZE": String(p.localWorldSize),
            "NODE_RANK": String(p.nodeRank),
            "GROUP_RANK": String(p.nodeRank),
            "NNODES": String(p.nodeCount),
            "MASTER_ADDR": masterAddr ?? firstNode ?? p.node,
            "MASTER_PORT": String(masterPort),
            "BATON_NODE": p.node,
            "BATON_RUN_DIR": runDir,
            "BATON_CONFIG_ID": configID,
            "BATON_CONFIG": configJSON,
            "BATON_CHECKPOINT_DIR": checkpointDir,
            "BATON_RESUME": (resume ?? (restartCount > 0)) ? "1" : "0",
            "BATON_ATTEMPT": String(attempt),
            "BATON_RESTART_COUNT": String(restartCount),
            "BATON_METRICS": metricsPath(rank: p.rank),
            "BATON_STACKS": RunDirectory(runDir).rankStacks(attempt, rank: p.rank),
            "BATON_CHECKPOINT_REQUEST": checkpointRequestPath,
            "BATON_PROGRESS_FD": String(Self.progressFD),
            "BATON_CORRUPT_CHECKPOINT_EXIT": String(Self.corruptCheckpointExit),
            "TORCHELASTIC_RESTART_COUNT": String(restartCount),
            "TORCHELASTIC_RUN_ID": runID ?? runDir,
            // No agent store: rank 0 hosts the TCPStore at MASTER_ADDR:MASTER_PORT (env://).
            "TORCHELASTIC_USE_AGENT_STORE": "False",
            "GROUP_WORLD_SIZE": String(p.nodeCount),
            "ROLE_NAME": "default",
            "ROLE_RANK": String(p.rank),
            "ROLE_WORLD_SIZE": String(p.worldSize),
        ]
        if let maxRestarts { env["TORCHELASTIC_MAX_RESTARTS"] = String(maxRestarts) }
        if let previousWorldSize { env["BATON_PREVIOUS_WORLD_SIZE"] = String(previousWorldSize) }
        if let shard = shardFile(rank: p.rank) { env["BATON_SHARD_FILE"] = shard }
        // torchrun's default; the wrapper keeps a value the user set.
        env["OMP_NUM_THREADS"] = "1"
        return env
    }
}

/// What Baton adds to mpirun's environment for Open MPI's own processes, and takes out of
/// the command's again. Open MPI asks hwloc for the node's I/O devices (PCI devices, NICs,
/// disks) in mpirun and in every daemon it starts; a job Baton plans (`--map-by slot
/// --bind-to none`) never uses them. hwloc's `HWLOC_COMPONENTS` with a `-` before a
/// component's name disables it (hwloc's "Components and plugins"); without `linuxio` and
/// `pci` an mpirun + agent + daemon start took 0.12-0.17 s less on this machine (docs/grid.md,
/// "Per-config cost"; figures in docs/benchmarks.md). mpirun and daemons that inherit its environment
/// (`--local`'s, srun's) get it; daemons ssh starts do not (ssh passes no environment).
public enum DaemonEnvironment {
    /// The variable that marks every process of one attempt (set in mpirun's environment,
    /// so on nodes this machine can see, the daemons', wrappers' and commands' too): the
    /// head and its guard find what is left of an attempt by it.
    public static let attemptTokenKey = "BATON_ATTEMPT_TOKEN"
    /// The variable that marks every process a head started (`PID:STARTTIME` of the head,
    /// in every attempt's mpirun environment): its guard (`MpirunGuard`) finds by it what
    /// to kill when the head is gone.
    public static let headKey = "BATON_HEAD"
    public static let hwlocKey = "HWLOC_COMPONENTS"
    public static let hwlocValue = "-linuxio,-pci"
    /// Set beside it when Baton, not the user, set `HWLOC_COMPONENTS`.
    static let markerKey = "BATON_DAEMON_HWLOC"

    /// mpirun's environment `env` with the setting added, unless the user has one of their own.
    public static func adding(to env: [String: String]) -> [String: String] {
        guard env[hwlocKey] == nil else { return env }
        var out = env
        out[hwlocKey] = hwlocValue
        out[markerKey] = "1"
        return out
    }

    /// A command's environment `env` without what `adding` put there: the command sees its
    /// I/O devices as it would without Baton (an MPI job picks its NICs by their locality).
    public static func removing(from env: [String: String]) -> [String: String] {
        guard env[markerKey] != nil else { return env }
        var out = env
        out[markerKey] = nil
        if out[hwlocKey] == hwlocValue { out[hwlocKey] = nil }
        return out
    }
}
