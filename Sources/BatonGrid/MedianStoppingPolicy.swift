import BatonRuns

/// The median stopping rule of Golovin, Solnik, Moitra, Kochanski, Karro and Sculley,
/// "Google Vizier: A Service for Black-Box Optimization", KDD 2017, §3.2.2: a trial is
/// stopped at step `s` when its best objective so far is strictly worse than the median of
/// the other trials' running averages up to `s`.
///
/// Where Baton departs (as Ray Tune's MedianStoppingRule does): the others are every config
/// that has reported progress at or past `s` (running or ended), not only completed ones;
/// no decision before `grace`, nor while fewer than `min_samples` others have reached `s`.
/// A running average is the mean of a config's values reported at times up to `s`.
struct MedianStoppingPolicy: EarlyStopPolicy {
    let grace: Double
    let minSamples: Int
    let mode: GridObjective.Mode
    let timeAttr: String
    let metric: String
    /// Every config's reports, in order of progress.
    private(set) var curves: [String: [(time: Double, value: Double)]] = [:]

    init(grace: Double, minSamples: Int, mode: GridObjective.Mode, timeAttr: String = "step", metric: String = "objective") {
        self.grace = grace
        self.minSamples = max(1, minSamples)
        self.mode = mode
        self.timeAttr = timeAttr
        self.metric = metric
    }

    mutating func decide(_ r: ProgressReport) -> EarlyStopVerdict {
        if let last = curves[r.config]?.last, r.time <= last.time { return .ignored }
        curves[r.config, default: []].append((r.time, r.value))
        guard r.time >= grace else { return .recorded }
        var averages: [Double] = []
        for (config, curve) in curves where config != r.config {
            guard let last = curve.last, last.time >= r.time else { continue }
            let upTo = curve.prefix { $0.time <= r.time }
            guard !upTo.isEmpty else { continue }
            averages.append(mode.score(upTo.reduce(0) { $0 + $1.value } / Double(upTo.count)))
        }
        guard averages.count >= minSamples else { return .recorded }
        averages.sort()
        let m = averages.count
        let median = m % 2 == 1 ? averages[m / 2] : (averages[m / 2 - 1] + averages[m / 2]) / 2
        let best = curves[r.config]!.map { mode.score($0.value) }.max()!
        let stop = best < median
        let at = "\(timeAttr) \(GridFormat.metric(r.time))"
        let vs = "best \(metric) so far \(GridFormat.metric(mode.score(best))) vs the median \(GridFormat.metric(mode.score(median))) of \(m) others' running averages"
        let reason = stop ? "stopped at \(at): \(vs) (\(mode.worse) it)" : "continues at \(at): \(vs)"
        return .decided(
            EarlyStopDecision(stop: stop, rung: nil, milestone: r.time, value: mode.score(best), cutoff: mode.score(median), peers: m,
                              reason: reason))
    }
}
