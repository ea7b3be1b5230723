import BatonProtocol
import BatonRuns
import BatonSupport

/// What the head does after an attempt ends: a pure function of the attempt's record, the
/// nodes it ran on and the options (`--max-restarts`, `--min-nodes`, `--on-rank-failure`).
/// The supervisor carries the decision out.
struct RestartPolicy: Sendable, Equatable {
    var maxRestarts: Int
    var minNodes: Int
    var onRankFailure: RankFailurePolicy
    /// The number of the run's first attempt (restarts are counted from it).
    var firstAttempt: Int

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

    func decide(after record: AttemptRecord, on hosts: HostList) -> Decision {
        let restartsUsed = record.attempt - firstAttempt
        switch record.outcome {
        case .completed:
            return .finish(.completed, reason: "every rank exited 0 (attempt \(record.attempt))", exitCode: ExitCodes.success)
        case .interrupted:
            return .finish(.interrupted, reason: "stopped by Ctrl-C / SIGTERM", exitCode: ExitCodes.interrupted)
        case .nodesLost:
            let lost = Set(record.lost.map(\.node))
            let survivors = hosts.removing(lost)
            let names = lost.sorted().joined(separator: ",")
            if survivors.hosts.count >= minNodes && !survivors.hosts.isEmpty && restartsUsed < maxRestarts {
                return .restart(on: survivors, lost: lost.sorted(), cause: nil,
                                message: "lost \(names); restarting on \(survivors.names.joined(separator: ",")) (restart \(restartsUsed + 1) of \(maxRestarts))")
            }
            let why = survivors.hosts.count < max(minNodes, 1)
                ? "\(survivors.hosts.count) nodes left, --min-nodes is \(minNodes)"
                : "no restart left (--max-restarts \(maxRestarts))"
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
}
