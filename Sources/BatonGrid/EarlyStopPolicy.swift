import BatonRuns

/// One progress report of a running config: how far it is (the spec's `time_attr`, e.g.
/// its epoch) and its objective there. What a trainer already writes to `BATON_METRICS`
/// (`report(epoch=3, loss=0.4)`), read by the scheduler as its rank 0 forwards it.
struct ProgressReport: Sendable, Equatable {
    var config: String
    var time: Double
    var value: Double
}

/// What a policy decided about a config at one point of its progress.
struct EarlyStopDecision: Sendable, Equatable {
    /// Stop the config (else it continues: for ASHA, promoted to the next rung).
    var stop: Bool
    /// ASHA's rung index (0 = the bracket's first); nil for the median rule.
    var rung: Int?
    /// The progress the decision is about: the rung's milestone, or the report's time.
    var milestone: Double
    /// The config's value compared: ASHA its value at the rung, median its best so far.
    var value: Double
    /// What it had to be at least as good as.
    var cutoff: Double
    /// How many configs the cutoff was taken over (the config included for ASHA; the
    /// others for the median rule).
    var peers: Int
    /// One sentence for `results`, `status` and `explain`.
    var reason: String
}

/// What a report did to a policy's state.
enum EarlyStopVerdict: Sendable, Equatable {
    /// Not progress: the config already reported this time or later (a resumed attempt
    /// repeats the steps after its checkpoint). Nothing is recorded.
    case ignored
    /// Recorded; no decision at this point (between rungs, before the grace, too few peers).
    case recorded
    case decided(EarlyStopDecision)
}

/// An early-stopping rule: a pure function of the reports fed to it, in order. It has no
/// clock, thread or store; the scheduler commits every report and decision before it acts
/// on one, and on `--resume` feeds the committed reports back in the same order, which
/// rebuilds the same state (so no config is promoted or stopped twice).
protocol EarlyStopPolicy: Sendable {
    mutating func decide(_ report: ProgressReport) -> EarlyStopVerdict
}

/// Which of two values is better under the objective's mode.
extension GridObjective.Mode {
    /// A value made larger-is-better.
    func score(_ v: Double) -> Double { self == .max ? v : -v }

    /// "worse than" / "at least as good as", for reasons.
    var worse: String { self == .max ? "below" : "above" }
}

enum EarlyStopPolicies {
    /// The policy of a spec's `scheduler:`; nil for `fifo` (every config runs to its end).
    static func make(_ spec: GridEarlyStop?, objective: GridObjective?) -> (any EarlyStopPolicy)? {
        guard let spec, let objective else { return nil }
        switch spec.rule {
        case .fifo: return nil
        case .asha:
            return AshaPolicy(
                grace: spec.grace, reductionFactor: spec.reductionFactor, maxT: spec.maxT, brackets: spec.brackets,
                mode: objective.mode, timeAttr: spec.timeAttr, metric: objective.metric)
        case .median:
            return MedianStoppingPolicy(
                grace: spec.grace, minSamples: spec.minSamples, mode: objective.mode, timeAttr: spec.timeAttr,
                metric: objective.metric)
        }
    }
}
