import BatonRuns
import BatonSystem
import Foundation

/// What `results`, `status` and `explain` show of the early-stopping rule's decisions
/// (`scheduler:` asha or median): each config's rung, its decision and why.
extension GridReport {
    /// The run's early-stopping rule, from the spec its store keeps decoded (nil: fifo).
    static func earlyStop(_ meta: [String: String]) -> GridEarlyStop? {
        GridSpecRecord.read(meta)?.earlyStop
    }

    /// Where a decision was made: `rung 1 (epoch 3)` for ASHA, `epoch 5` for the median rule.
    static func rungText(_ d: GridProgressRecord, timeAttr: String) -> String {
        let at = "\(timeAttr) \(GridFormat.metric(d.milestone ?? d.time))"
        return d.rung.map { "rung \($0) (\(at))" } ?? at
    }

    /// The decision in a few words: `stopped (cutoff 0.9)`, `promoted`, `continues`.
    static func decisionText(_ d: GridProgressRecord) -> String {
        switch d.decision {
        case .stop?: return "stopped (cutoff \(d.cutoff.map(GridFormat.metric) ?? "-"))"
        case .continue?: return d.rung == nil ? "continues" : "promoted"
        case nil: return "-"
        }
    }

    /// `baton grid explain RUN ID`: every decision about one config, and the reports it
    /// was judged on, in the order the head took them.
    public static func explain(_ snap: GridSnapshot, progress: [GridProgressRecord], config id: String) throws -> String {
        guard let c = snap.configs.first(where: { $0.id == id || $0.id.hasPrefix(id) && id.count >= 4 }) else {
            throw GridRunError("no config \(id) in this run (`baton grid results` lists the ids)")
        }
        let rule = earlyStop(snap.meta)
        let objective = objective(snap.meta)
        var out = "config \(c.id): \(c.params.map { "\($0.0)=\($0.1)" }.joined(separator: " "))\n"
        out += "status \(c.status.rawValue), \(c.attempts) attempt\(c.attempts == 1 ? "" : "s")"
        out += rule.map { ", scheduler \($0.rule.rawValue)" } ?? ", scheduler fifo (no early stopping)"
        if let r = rule, r.rule == .asha {
            out += " (time_attr \(r.timeAttr), grace \(GridFormat.metric(r.grace)), reduction_factor \(GridFormat.metric(r.reductionFactor)), max_t \(GridFormat.metric(r.maxT)), brackets \(r.brackets))"
        } else if let r = rule, r.rule == .median {
            out += " (time_attr \(r.timeAttr), grace \(GridFormat.metric(r.grace)), min_samples \(r.minSamples))"
        }
        out += "\n"
        let mine = progress.filter { $0.configID == c.id }
        guard let rule else { return out }
        if mine.isEmpty {
            out += "no progress report taken yet (the command reports \(rule.timeAttr) and \(objective?.metric ?? "its objective") to $BATON_METRICS)\n"
            return out
        }
        let attemptNumber = Dictionary(uniqueKeysWithValues: c.attemptRecords.map { ($0.id, $0.number) })
        out += "\(mine.count) progress reports taken, \(c.decisions.count) decisions:\n"
        var lastAttempt: Int64?
        for p in mine {
            if p.attemptID != lastAttempt {
                lastAttempt = p.attemptID
                out += "  attempt \(attemptNumber[p.attemptID].map(String.init) ?? "?"):\n"
            }
            if let reason = p.reason {
                out += "    \(rule.timeAttr) \(GridFormat.metric(p.time)): \(reason)\n"
            }
        }
        let reportsOnly = mine.filter { $0.decision == nil }
        if !reportsOnly.isEmpty {
            let shown = reportsOnly.suffix(8).map { "\(GridFormat.metric($0.time)): \(GridFormat.metric($0.value))" }
            out += "  reports with no decision (\(reportsOnly.count); \(rule.timeAttr): \(objective?.metric ?? "value"), the last \(shown.count)): \(shown.joined(separator: ", "))\n"
        }
        return out
    }
}
