import BatonProtocol
import BatonRuns
import BatonSupport

/// What the head does after an attempt ends: a pure function of the attempt's record, the
/// nodes it ran on, the run's earlier attempts and the options (`--max-restarts`,
/// `--min-nodes`, `--on-rank-failure`, `--on-hang`).
/// The supervisor carries the decision out.
struct RestartPolicy: Sendable, Equatable {
    var maxRestarts: Int
    var minNodes: Int
    var onRankFailure: RankFailurePolicy
    var onHang: HangPolicy = .restart
    /// The number of the run's first attempt (restarts are counted from it).
    var firstAttempt: Int
    /// `--nnodes`, when given: `minNodes` is its MIN, and the reason for too few says so.
    var nnodes: NodeRange?

    init(maxRestarts: Int, minNodes: Int, onRankFailure: RankFailurePolicy, firstAttempt: Int) {
        self.maxRestarts = maxRestarts
        self.minNodes = minNodes
        self.onRankFailure = onRankFailure
        self.firstAttempt = firstAttempt
    }

    enum Decision: Sendable, Equatable {
        /// Start attempt `record.attempt + 1` on `hosts`; `lost` were left out, `cause` says
        /// why a restart on the same nodes was chosen (nil after a node loss).
        case restart(on: HostList, lost: [String], cause: String?, message: String)
        /// The launch is over.
        case finish(LaunchResult, reason: String, exitCode: Int32)
    }

    /// `earlier`: the run's attempts before `record` (a second hang on one node excludes it).
    /// `standby`: nodes outside the attempt that may take a lost node's place (spares,
    /// `HostPool.standby`); they count with the survivors against `--min-nodes`.
    func decide(after record: AttemptRecord, on hosts: HostList, earlier: [AttemptRecord] = [], standby: Int = 0) -> Decision {
        // A planned restart (to grow back) is not a failure: it uses up no restart, as
        // torchrun's membership changes use up none of its --max-restarts.
        let planned = earlier.filter { $0.attempt >= firstAttempt && $0.outcome == .grow }.count
        let restartsUsed = record.attempt - firstAttempt - planned
        switch record.outcome {
        case .hung:
            let node = record.failedNode
            let what = "hung: " + (record.detail ?? "a rank made no progress")
            let hungBefore = node.map { n in earlier.contains { $0.outcome == .hung && $0.failedNode == n } } ?? false
            if onHang == .fail { return .finish(.failed, reason: "\(what) (--on-hang fail)", exitCode: ExitCodes.jobFailed) }
            guard restartsUsed < maxRestarts else {
                return .finish(.failed, reason: "\(what); no restart left (--max-restarts \(maxRestarts))", exitCode: ExitCodes.jobFailed)
            }
            if let node, onHang == .exclude || hungBefore {
                let rest = hosts.removing([node])
                let why = onHang == .exclude ? "--on-hang exclude" : "its second hang"
                guard rest.hosts.count + standby >= max(minNodes, 1) else {
                    return .finish(.failed, reason: "\(what); leaving \(node) out (\(why)): \(tooFew(rest.hosts.count + standby))",
                                   exitCode: ExitCodes.jobFailed)
                }
                return .restart(on: rest, lost: [node], cause: what,
                                message: "\(what); restarting without \(node) (\(why)) on \(rest.names.joined(separator: ",")) (restart \(restartsUsed + 1) of \(maxRestarts))")
            }
            return .restart(on: hosts, lost: [], cause: what,
                            message: "\(what); restarting on the same nodes \(hosts.names.joined(separator: ",")) (--on-hang restart; restart \(restartsUsed + 1) of \(maxRestarts))")
        case .grow:
            return .restart(on: hosts, lost: [], cause: record.text + ": " + (record.detail ?? ""),
                            message: "\(record.detail ?? "stopped to grow"); restarting to grow back (a planned restart: no --max-restarts used)")
        case .completed:
            return .finish(.completed, reason: "every rank exited 0 (attempt \(record.attempt))", exitCode: ExitCodes.success)
        case .interrupted:
            return .finish(.interrupted, reason: "stopped by Ctrl-C / SIGTERM", exitCode: ExitCodes.interrupted)
        case .nodesLost:
            let lost = Set(record.lost.map(\.node))
            let survivors = hosts.removing(lost)
            let names = lost.sorted().joined(separator: ",")
            let left = survivors.hosts.count + standby
            if left >= minNodes && left > 0 && restartsUsed < maxRestarts {
                let whereTo = standby > 0 ? "the survivors and spares" : survivors.names.joined(separator: ",")
                return .restart(on: survivors, lost: lost.sorted(), cause: nil,
                                message: "lost \(names); restarting on \(whereTo) (restart \(restartsUsed + 1) of \(maxRestarts))")
            }
            let why = left < max(minNodes, 1) ? tooFew(left) : "no restart left (--max-restarts \(maxRestarts))"
            return .finish(.failed, reason: "lost \(names); \(why)", exitCode: ExitCodes.jobFailed)
        case .commandFailed, .mpirunFailed, .failedToStart, .headLost:
            var reason = record.text
            if let r = record.failedRank { reason += ": rank \(r) on \(record.failedNode ?? "?") ended with \(record.failedExit?.payload ?? "?")" }
            if record.outcome == .commandFailed && onRankFailure == .restart {
                if restartsUsed < maxRestarts {
                    return .restart(on: hosts, lost: [], cause: reason,
                                    message: "\(reason); restarting on the same nodes \(hosts.names.joined(separator: ",")) (--on-rank-failure restart; restart \(restartsUsed + 1) of \(maxRestarts))")
                }
                reason += "; no restart left (--max-restarts \(maxRestarts))"
            }
            return .finish(.failed, reason: reason, exitCode: ExitCodes.jobFailed)
        }
    }

    /// Why `left` nodes (survivors and nodes standing by) cannot go on.
    func tooFew(_ left: Int) -> String {
        guard let nnodes else { return "\(left) nodes left, --min-nodes is \(minNodes)" }
        if nnodes.min == nnodes.max {
            // A job that fixed its world (Lightning's num_nodes) could not run on fewer: end
            // now, with the reason, rather than start a world it refuses or waits for.
            return "\(left) nodes left and no spare: --nnodes \(nnodes) never runs on fewer than \(nnodes.min) (--nnodes MIN:\(nnodes.max) lets the world shrink)"
        }
        return "\(left) nodes left, --nnodes \(nnodes) needs at least \(nnodes.min)"
    }
}
