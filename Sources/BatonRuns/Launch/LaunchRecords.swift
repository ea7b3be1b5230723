import BatonProtocol
import BatonSupport
import BatonSystem
import Foundation

// The typed records of a launch: what its store keeps (`LaunchStore`) and its head, its
// readers and a grid's attempts share. Moved here from Launch/LaunchPlan.swift and
// Launch/LaunchSupervisor.swift (BatonCore), unchanged but for package-wide initializers,
// so that the store sits below the launch.

/// Everything one attempt of a launch starts: the mpirun argv and, for every rank, its
/// node, environment and shard. `baton launch --dry-run` prints this as JSON.
public struct LaunchPlan: Sendable, Codable, Equatable {
    public struct RankEntry: Sendable, Codable, Equatable {
        var rank: Int
        public var node: String
        var localRank: Int
        var nodeRank: Int
        var shard: String?
        public var environment: [String: String]
        /// With `--container`: the runtime command line `baton exec` starts for this rank.
        public var container: [String]?

        // Package-wide: the launch, a layer up, builds these (a memberwise initializer is internal).
        package init(rank: Int, node: String, localRank: Int, nodeRank: Int, shard: String?, environment: [String: String]) {
            self.rank = rank
            self.node = node
            self.localRank = localRank
            self.nodeRank = nodeRank
            self.shard = shard
            self.environment = environment
        }
    }

    public var attempt: Int
    /// How mpirun reaches the nodes (real hosts, or simulated ones through an agent).
    public var mode: LaunchMode
    public var hosts: [BatonProtocol.Host]
    public var worldSize: Int
    /// The argv to run (argv[0] is mpirun), never passed through a shell.
    public var mpirun: [String]
    /// Variables set in mpirun's own environment (Open MPI reads OMPI_MCA_* from there).
    public var mpirunEnvironment: [String: String]
    public var ranks: [RankEntry]
    public var contract: JobContract
    var command: [String]
    public var heartbeat: Double
    public var lease: Double
    public var grace: Double
    /// The guard started beside mpirun (`baton-exec guard`, `MpirunGuard`), so that what the
    /// head starts dies with it; nil when `baton-exec` is not beside `baton` (then nothing
    /// stops mpirun, its agents and daemons if the head is killed).
    public var guardPath: String?
    /// The host pool when the launch has spares (`--nnodes`): which nodes are in the job, which
    /// wait as spares, which are suspect or lost, as this attempt started (`--dry-run`: before
    /// the health gate).
    public var pool: Pool?

    /// The host pool's nodes by state (`HostPool`).
    public struct Pool: Sendable, Codable, Equatable {
        public var nnodes: String
        public var active: [String]
        public var spare: [String]
        public var suspect: [String]
        public var lost: [String]
        /// Whether the health gate runs before every attempt.
        public var gate: Bool

        package init(nnodes: String, active: [String], spare: [String], suspect: [String], lost: [String], gate: Bool) {
            (self.nnodes, self.active, self.spare, self.suspect, self.lost, self.gate) = (nnodes, active, spare, suspect, lost, gate)
        }
    }

    // Package-wide: the launch, a layer up, builds these (a memberwise initializer is internal).
    package init(attempt: Int, mode: LaunchMode, hosts: [BatonProtocol.Host], worldSize: Int, mpirun: [String],
                 mpirunEnvironment: [String: String], ranks: [RankEntry], contract: JobContract, command: [String],
                 heartbeat: Double, lease: Double, grace: Double, guardPath: String? = nil) {
        self.attempt = attempt
        self.mode = mode
        self.hosts = hosts
        self.worldSize = worldSize
        self.mpirun = mpirun
        self.mpirunEnvironment = mpirunEnvironment
        self.ranks = ranks
        self.contract = contract
        self.command = command
        self.heartbeat = heartbeat
        self.lease = lease
        self.grace = grace
        self.guardPath = guardPath
    }

    public func json() -> String {
        let enc = JSONEncoder()
        enc.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return String(decoding: (try? enc.encode(self)) ?? Data(), as: UTF8.self)
    }
}

/// How mpirun reaches the nodes.
public enum LaunchMode: Sendable, Equatable, Codable {
    /// Real hosts: mpirun's own launcher (ssh, or the scheduler's inside an allocation).
    case cluster
    /// Simulated nodes on this machine: mpirun starts one daemon per node through
    /// `agentPath` (see `LocalNodes`), everything over loopback.
    case local(agentPath: String)
}


/// A launch that cannot start, or bad input: the Launch module's one error shape.
/// A launch that cannot start or went wrong (`CodedError`, with the launch's own codes).
public typealias LaunchError = CodedError

extension CodedError.Code {
    /// mpirun or the run directory could not be set up.
    public static let cannotStart = CodedError.Code(name: "cannot start", exitCode: ExitCodes.jobFailed)
}

/// How one attempt ended, as the head judged it.
public enum AttemptOutcome: String, Sendable, Codable, Equatable {
    /// Every rank exited 0.
    case completed
    /// Stopped from outside (Ctrl-C, SIGTERM, a grid that stops the attempt).
    case interrupted
    /// One or more nodes were lost (`AttemptRecord.lost` names them).
    case nodesLost = "nodes lost"
    /// A rank's command failed by itself on a healthy node (`failedRank`, `failedExit`).
    case commandFailed = "command failed"
    /// mpirun ended without a lost node or a failed rank to blame (`detail` says how).
    case mpirunFailed = "mpirun failed"
    /// mpirun could not be started, or its launch never started on any node (no node
    /// reported within the startup timeout; no node is blamed): `detail` says which.
    case failedToStart = "failed to start"
    /// The head ended (killed, its machine lost) while the attempt ran; written by the next
    /// head of the run (`baton launch --resume`), which found no record of the attempt's end.
    case headLost = "head lost"
    /// A rank stopped making progress while alive (`failedRank`/`failedNode`: the
    /// culprit; `detail`: why it was named).
    case hung
    /// The head stopped it at a checkpoint so that the next attempt grows back with nodes
    /// that returned to the pool (`--grow-after`; `detail` names them): a planned restart.
    case grow = "stopped to grow"
}

/// Which signal convicted a node.
public enum LossSignal: String, Sendable, Codable, Equatable {
    /// mpirun said it lost the node's daemon ("lost communication with a remote daemon").
    case daemonLost = "daemon lost"
    /// The node's rsh agent (ssh, a local agent) ended while its ranks still ran.
    case agentEnded = "agent ended"
    /// The node sent nothing for the heartbeat timeout.
    case heartbeatTimeout = "heartbeat timeout"
    /// mpirun ended and none of the node's ranks ever said how they ended.
    case silentAtEnd = "silent at end"
    /// mpirun said one of its daemons failed ("unable to reliably start one or more
    /// daemons", printed when an rsh agent ends abnormally, also long after the start) and
    /// no agent's end named the node: the node none of whose ranks spoke of its end, else
    /// the one whose rank ended first (a crash that killed the rank before its wrapper).
    case daemonFailed = "daemon failed"
    /// Its ranks were stragglers (`--on-straggler exclude`): left out at a checkpoint.
    case straggler
}

/// What a lost node looked like when the head gave up on it.
public struct LostNode: Sendable, Codable, Equatable {
    public var node: String
    var ranks: [Int]
    public var signal: LossSignal
    /// The same, for a person.
    public var cause: String
    /// Seconds between the node's last line and the head's decision (an upper bound on
    /// how long detection took from the failure).
    public var detectionSeconds: Double

    public init(node: String, ranks: [Int], signal: LossSignal, cause: String, detectionSeconds: Double) {
        self.node = node
        self.ranks = ranks
        self.signal = signal
        self.cause = cause
        self.detectionSeconds = detectionSeconds
    }
}

/// The record of one attempt.
public struct AttemptRecord: Sendable, Codable, Equatable {
    public var attempt: Int
    public var nodes: [String]
    public var worldSize: Int
    public var masterPort: Int?
    public var consumedAtStart: Int?
    public var outcome: AttemptOutcome
    /// For `mpirunFailed` and `failedToStart`: what happened.
    public var detail: String?
    public var lost: [LostNode]
    public var failedRank: Int?
    public var failedNode: String?
    public var failedExit: RankExit?
    public var mpirunStatus: ExitStatus?
    /// Processes of the attempt still alive on reachable nodes when the head gave up
    /// waiting for them (goal: none).
    public var leftovers: [String]
    public var seconds: Double

    public init(attempt: Int, nodes: [String], worldSize: Int) {
        self.attempt = attempt
        self.nodes = nodes
        self.worldSize = worldSize
        outcome = .mpirunFailed
        lost = []
        leftovers = []
        seconds = 0
    }

    /// One line for a person.
    public var text: String {
        switch outcome {
        case .mpirunFailed: return "mpirun failed (\(detail ?? mpirunStatus?.description ?? "killed"))"
        case .failedToStart: return "failed to start: \(detail ?? "")"
        case .headLost: return "head lost (\(detail ?? "no record of its end"))"
        default: return outcome.rawValue
        }
    }
}

/// How a launch ended.
public enum LaunchResult: String, Sendable, Codable, Equatable { case completed, failed, interrupted }

/// What `baton launch` reports at the end (printed, and written to `<run>/report.json`).
public struct LaunchReport: Sendable, Codable, Equatable {
    public var result: LaunchResult
    public var reason: String
    public var attempts: [AttemptRecord]
    public var exitCode: Int32
    var lastConsumed: Int?

    // Package-wide: the launch, a layer up, builds these (a memberwise initializer is internal).
    package init(result: LaunchResult, reason: String, attempts: [AttemptRecord], exitCode: Int32, lastConsumed: Int?) {
        self.result = result
        self.reason = reason
        self.attempts = attempts
        self.exitCode = exitCode
        self.lastConsumed = lastConsumed
    }

    public var summary: String {
        var lines = ["baton launch: \(result.rawValue): \(reason)"]
        for a in attempts {
            var l = "  attempt \(a.attempt) on \(a.nodes.joined(separator: ",")) (\(a.worldSize) ranks): \(a.text)"
            if a.outcome == .hung, let d = a.detail { l += ": \(d)" } else if let r = a.failedRank {
                l += "; first failure rank \(r) on \(a.failedNode ?? "?"): \(a.failedExit?.payload ?? "")"
            }
            for n in a.lost {
                l += "; lost \(n.node) (ranks \(n.ranks.map(String.init).joined(separator: ","))): \(n.cause), detected \(formatDuration(n.detectionSeconds, .seconds(digits: 1))) after its last line"
            }
            if !a.leftovers.isEmpty { l += "; still running after teardown: \(a.leftovers.joined(separator: ", "))" }
            lines.append(l)
        }
        return lines.joined(separator: "\n")
    }
}

