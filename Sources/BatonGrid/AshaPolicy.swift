import BatonRuns
import Foundation

/// Asynchronous successive halving (ASHA), after Li, Jamieson, Rostamizadeh, Gonina, Ben-tzur,
/// Hardt, Recht and Talwalkar, "A System for Massively Parallel Hyperparameter Tuning",
/// MLSys 2020, Algorithm 2. Rungs are at `grace·η^(k+s)` of progress (bracket `s`, rung
/// `k`), below `max_t`. The paper's asynchronous promotion rule: a config in rung `k` is
/// promoted to rung `k+1` when it is in the top `⌊n/η⌋` of the `n` configs that have
/// reached rung `k` so far, decided as results arrive, never waiting for a rung to fill.
///
/// Where Baton departs (as Ray Tune's ASHAScheduler does, its "stopping" variant):
/// - **Decided once, on arrival.** A config is judged when it first reports progress at or
///   past a rung, against the configs recorded there so far, and either continues (is
///   promoted; it keeps its node and runs on) or is stopped for good. The paper pauses a
///   config that is not yet in the top `1/η` and may promote it later, when more configs
///   have reached the rung; Baton has no paused state (a config holds its node or ends),
///   so a stopped config is never revived.
/// - **The first arrivals continue.** The cutoff is the `max(1, ⌊n/η⌋)`-th best value at
///   the rung (the config included): the best config at a rung always continues, where
///   the paper's rule would promote nobody until `η` configs had arrived. A config equal to
///   the cutoff continues. (Ray takes the `1 - 1/η` percentile with linear interpolation;
///   the two agree when `n/η` is whole.)
/// - **A report past several rungs** is judged at the highest rung it reached, as Ray does;
///   the rungs it jumped over record nothing of it.
/// - **`max_t` is not a rung**: a config that is never stopped runs to its own end (the
///   trainer's epochs should be `max_t`); the head does not stop it there.
/// - **Brackets** are given by the config's id (its hash modulo `brackets`), not drawn at
///   random, so a config keeps its bracket across `--resume`.
struct AshaPolicy: EarlyStopPolicy {
    let grace: Double
    let reductionFactor: Double
    let maxT: Double
    let brackets: Int
    let mode: GridObjective.Mode
    let timeAttr: String
    let metric: String
    /// Per bracket, per rung: each config's value there, in the order they arrived.
    private(set) var recorded: [[[(config: String, value: Double)]]]
    /// The last progress each config reported.
    private(set) var lastTime: [String: Double] = [:]
    /// The next rung each config can be judged at.
    private(set) var nextRung: [String: Int] = [:]

    init(grace: Double, reductionFactor: Double, maxT: Double, brackets: Int, mode: GridObjective.Mode,
         timeAttr: String = "step", metric: String = "objective")
    {
        self.grace = grace
        self.reductionFactor = reductionFactor
        self.maxT = maxT
        self.brackets = max(1, brackets)
        self.mode = mode
        self.timeAttr = timeAttr
        self.metric = metric
        recorded = (0..<max(1, brackets)).map { s in
            Array(repeating: [], count: AshaPolicy.milestones(grace: grace, eta: reductionFactor, maxT: maxT, bracket: s).count)
        }
    }

    /// The rungs of bracket `s`: grace·η^(k+s) below max_t.
    static func milestones(grace: Double, eta: Double, maxT: Double, bracket s: Int) -> [Double] {
        var out: [Double] = []
        var k = 0
        while true {
            let m = grace * pow(eta, Double(k + s))
            if m >= maxT || out.count > 64 { return out }
            out.append(m)
            k += 1
        }
    }

    func milestones(bracket s: Int) -> [Double] {
        Self.milestones(grace: grace, eta: reductionFactor, maxT: maxT, bracket: s)
    }

    /// A config's bracket: its id (hex) modulo `brackets`.
    func bracket(of config: String) -> Int {
        brackets == 1 ? 0 : Int((UInt64(config, radix: 16) ?? GridHash.hash(config)) % UInt64(brackets))
    }

    mutating func decide(_ r: ProgressReport) -> EarlyStopVerdict {
        if let last = lastTime[r.config], r.time <= last { return .ignored }
        lastTime[r.config] = r.time
        let s = bracket(of: r.config)
        let rungs = milestones(bracket: s)
        let next = nextRung[r.config, default: 0]
        // The highest rung this report reached that the config has not been judged at.
        guard let k = rungs.indices.last(where: { $0 >= next && rungs[$0] <= r.time }) else { return .recorded }
        nextRung[r.config] = k + 1
        recorded[s][k].append((r.config, r.value))
        let scores = recorded[s][k].map { mode.score($0.value) }.sorted(by: >)
        let n = scores.count
        let keep = max(1, Int((Double(n) / reductionFactor).rounded(.down)))
        let cutoff = mode.score(scores[keep - 1])  // back to the metric's own sign
        let stop = mode.score(r.value) < scores[keep - 1]
        let at = "rung \(k) (\(timeAttr) \(GridFormat.metric(rungs[k])))"
        let vs = "\(metric) \(GridFormat.metric(r.value)) vs cutoff \(GridFormat.metric(cutoff)), the top \(keep) of \(n) there"
        let reason = stop
            ? "stopped at \(at): \(vs) (\(GridFormat.metric(r.value)) is \(mode.worse) it)"
            : k + 1 < rungs.count
                ? "promoted at \(at) to rung \(k + 1): \(vs)" : "promoted at \(at), the last rung: \(vs); runs to its end"
        return .decided(
            EarlyStopDecision(stop: stop, rung: k, milestone: rungs[k], value: r.value, cutoff: cutoff, peers: n, reason: reason))
    }
}
