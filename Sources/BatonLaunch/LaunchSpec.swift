import BatonProtocol
import BatonRuns
import Foundation

/// Everything a launch head needs, as given: where the hosts come from, the planner's and the
/// supervisor's settings, snapshots, and the command every rank runs. `RUN/launch.json` keeps
/// it (`LaunchRunFiles`), so `--resume`, `baton runs` and `status` read a value, never a
/// command line. Durations are kept as written (`10s`): the head checks them when it starts,
/// the same way for a new run and a resumed one.
public struct LaunchSpec: Codable, Sendable, Equatable {
    /// Where the hosts come from: a hostfile, `-H`, `--local N`, or none of them (the Slurm
    /// allocation the head runs in).
    public struct Hosts: Codable, Sendable, Equatable {
        public var hostfile: String?
        public var hosts: String?
        public var local: Int?

        public init(hostfile: String? = nil, hosts: String? = nil, local: Int? = nil) {
            self.hostfile = hostfile
            self.hosts = hosts
            self.local = local
        }

        /// Whether any is given (else the Slurm allocation).
        var given: Bool { hostfile != nil || hosts != nil || local != nil }
    }

    public var hosts = Hosts()
    public var nprocPerNode: Int?
    public var maxRestarts = 3
    public var minNodes = 1
    public var onRankFailure = RankFailurePolicy.fail
    /// Hang detection and what a hang leads to.
    public var hang = HangSettings()
    /// `--nnodes` (spares), the health gate and `--cool-down`.
    public var pool = PoolSettings()
    /// `--container`: every rank runs inside this image.
    public var container: ContainerRun?
    public var heartbeatTimeout = "10s"
    public var heartbeat = "1s"
    public var startupTimeout = "30s"
    public var lease: String?
    public var grace = "30s"
    /// The ranks whose output is shown (`0,3`); all by default.
    public var ranks: String?
    public var shardSamples: Int?
    public var shardShuffle = false
    public var shardSeed: UInt64 = 0
    public var shardEpoch = 0
    public var masterPort: Int?
    public var mpirun = "mpirun"
    /// Path of baton on the nodes (default: this binary).
    public var baton: String?
    public var snapshotEvery: String?
    public var keepSnapshots: Int?
    public var snapshotTo: String?
    /// The command every rank runs.
    public var command: [String] = []

    public init() {}

    // Decoded field by field so that a spec written by a newer Baton with fields this one
    // does not know, or an older one without fields added since, still reads.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = LaunchSpec()
        hosts = try c.decodeIfPresent(Hosts.self, forKey: .hosts) ?? d.hosts
        nprocPerNode = try c.decodeIfPresent(Int.self, forKey: .nprocPerNode)
        maxRestarts = try c.decodeIfPresent(Int.self, forKey: .maxRestarts) ?? d.maxRestarts
        minNodes = try c.decodeIfPresent(Int.self, forKey: .minNodes) ?? d.minNodes
        onRankFailure = try c.decodeIfPresent(RankFailurePolicy.self, forKey: .onRankFailure) ?? d.onRankFailure
        hang = try c.decodeIfPresent(HangSettings.self, forKey: .hang) ?? d.hang
        pool = try c.decodeIfPresent(PoolSettings.self, forKey: .pool) ?? d.pool
        container = try c.decodeIfPresent(ContainerRun.self, forKey: .container)
        heartbeatTimeout = try c.decodeIfPresent(String.self, forKey: .heartbeatTimeout) ?? d.heartbeatTimeout
        heartbeat = try c.decodeIfPresent(String.self, forKey: .heartbeat) ?? d.heartbeat
        startupTimeout = try c.decodeIfPresent(String.self, forKey: .startupTimeout) ?? d.startupTimeout
        lease = try c.decodeIfPresent(String.self, forKey: .lease)
        grace = try c.decodeIfPresent(String.self, forKey: .grace) ?? d.grace
        ranks = try c.decodeIfPresent(String.self, forKey: .ranks)
        shardSamples = try c.decodeIfPresent(Int.self, forKey: .shardSamples)
        shardShuffle = try c.decodeIfPresent(Bool.self, forKey: .shardShuffle) ?? d.shardShuffle
        shardSeed = try c.decodeIfPresent(UInt64.self, forKey: .shardSeed) ?? d.shardSeed
        shardEpoch = try c.decodeIfPresent(Int.self, forKey: .shardEpoch) ?? d.shardEpoch
        masterPort = try c.decodeIfPresent(Int.self, forKey: .masterPort)
        mpirun = try c.decodeIfPresent(String.self, forKey: .mpirun) ?? d.mpirun
        baton = try c.decodeIfPresent(String.self, forKey: .baton)
        snapshotEvery = try c.decodeIfPresent(String.self, forKey: .snapshotEvery)
        keepSnapshots = try c.decodeIfPresent(Int.self, forKey: .keepSnapshots)
        snapshotTo = try c.decodeIfPresent(String.self, forKey: .snapshotTo)
        command = try c.decodeIfPresent([String].self, forKey: .command) ?? []
    }
}

extension LaunchSpec {
    /// The spec a command line of an older Baton stands for: `launch.json` kept the arguments
    /// after `baton launch` (without `--detach` and `--resume`) until the spec replaced them.
    /// Read once, when such a run is resumed or listed; the resumed head writes the spec back.
    public init(legacyArguments arguments: [String]) throws(LaunchError) {
        self.init()
        let end = arguments.firstIndex(of: "--") ?? arguments.endIndex
        command = end < arguments.endIndex ? Array(arguments[(end + 1)...]) : []
        var own = Array(arguments[..<end])[...]
        func bad(_ text: String) -> LaunchError { LaunchError(.badInput, "its arguments no longer parse: \(text)") }
        while let arg = own.popFirst() {
            var name = arg
            var inline: String?
            if arg.hasPrefix("--"), let eq = arg.firstIndex(of: "=") {
                name = String(arg[..<eq])
                inline = String(arg[arg.index(after: eq)...])
            }
            switch name {
            case "--shard-shuffle": shardShuffle = true; continue
            case "--dry-run", "--detach": continue
            default: break
            }
            guard let value = inline ?? own.popFirst() else { throw bad("missing value for '\(name)'") }
            func int() throws(LaunchError) -> Int {
                guard let v = Int(value) else { throw bad("the value '\(value)' of '\(name)' is not an integer") }
                return v
            }
            switch name {
            case "--hostfile": hosts.hostfile = value
            case "-H", "--hosts": hosts.hosts = value
            case "--local": hosts.local = try int()
            case "--nproc-per-node": nprocPerNode = try int()
            case "--run-dir", "--resume": break
            case "--max-restarts": maxRestarts = try int()
            case "--min-nodes": minNodes = try int()
            case "--on-rank-failure":
                guard let p = RankFailurePolicy(rawValue: value) else { throw bad("'\(value)' is not a value of --on-rank-failure") }
                onRankFailure = p
            case "--heartbeat-timeout": heartbeatTimeout = value
            case "--heartbeat": heartbeat = value
            case "--startup-timeout": startupTimeout = value
            case "--lease": lease = value
            case "--grace": grace = value
            case "--ranks": ranks = value
            case "--shard-samples": shardSamples = try int()
            case "--shard-seed":
                guard let v = UInt64(value) else { throw bad("the value '\(value)' of '\(name)' is not an integer") }
                shardSeed = v
            case "--shard-epoch": shardEpoch = try int()
            case "--master-port": masterPort = try int()
            case "--mpirun": mpirun = value
            case "--baton": baton = value
            case "--snapshot-every": snapshotEvery = value
            case "--keep-snapshots": keepSnapshots = try int()
            case "--snapshot-to": snapshotTo = value
            default: throw bad("unknown option '\(name)'")
            }
        }
    }
}
