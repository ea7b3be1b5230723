import BatonProtocol
import BatonSystem

/// `--on-straggler`: what a straggler leads to.
public enum StragglerPolicy: String, Sendable, CaseIterable, Codable {
    /// Not watched.
    case off
    /// A `straggler` event and a warning (the default).
    case warn
    /// The warning, then, at the next checkpoint (a larger `consumed` reported), a restart
    /// without the straggler's node (as a lost node: spares replace it where there are).
    case exclude
}

/// A rank slower than the others, as `StragglerWatch` found it.
struct StragglerFinding: Sendable, Equatable {
    var rank: Int
    var node: String
    /// Its score (the reference busy fraction over its own; 1 is typical, lower is slower).
    var score: Double
    /// Its busy fraction and the reference (the less busy half's median), over the window.
    var busy: Double
    var median: Double
    /// How long it has stayed below the threshold.
    var since: Double
    var rule: String
}

/// Stragglers: a pure function of the heartbeats' busy seconds (`Heartbeat`: a rank's time
/// on a CPU plus its time waiting for one, which includes a CPU quota's throttling) and
/// their times. In a job whose ranks meet in collectives, the ranks wait for the slowest:
/// they sleep, the slow rank does not. So over a `window`, a rank's busy fraction (busy
/// seconds per wall second) is compared with a reference: the median of the less busy half
/// of the ranks (the healthy ones, as long as fewer than half are slow; the median of all
/// sits between the groups when two of four are slow, measured). Its score is reference /
/// own: 1 when it is like the healthy ranks, lower when it is busier (slower). A rank is a
/// straggler when its score stays below `threshold` (0.7, NVIDIA's resiliency extension's
/// cut-off for its own score) and its busy fraction above the reference by at least
/// `minGap` (0.25 of a CPU: near-idle ranks differ by noise), for `sustain` seconds without
/// a break: found `window + sustain` (20 s) after it began. Each rank is reported once per
/// attempt.
struct StragglerWatch: Sendable {
    struct Rule: Sendable, Equatable, Codable {
        var policy: StragglerPolicy = .warn
        var window = 5.0
        var threshold = 0.7
        var minGap = 0.25
        var sustain = 15.0
    }

    struct Sample: Sendable, Equatable {
        var time: Double
        var busy: Double
    }

    let rule: Rule
    private(set) var samples: [Int: [Sample]] = [:]
    private(set) var nodes: [Int: String] = [:]
    /// Since when each rank has been below the threshold.
    private(set) var belowSince: [Int: Double] = [:]
    private(set) var reported = Set<Int>()

    init(rule: Rule) { self.rule = rule }

    mutating func record(rank: Int, node: String, _ beat: Heartbeat, at now: Double) {
        guard rule.policy != .off, let cpu = beat.cpu, let delay = beat.delay else { return }
        nodes[rank] = node
        var s = samples[rank] ?? []
        s.append(Sample(time: now, busy: cpu + delay))
        // Keep two windows (a throttled node's heartbeats come late and in bursts).
        while let first = s.first, now - first.time > rule.window * 2, s.count > 2 { s.removeFirst() }
        samples[rank] = s
    }

    mutating func ended(rank: Int) { samples[rank] = nil }

    /// Each rank's busy fraction over the last window (nil until a rank has a window of samples).
    func busyFractions(at now: Double) -> [Int: Double] {
        var out: [Int: Double] = [:]
        for (rank, s) in samples {
            guard let last = s.last, let first = s.first(where: { last.time - $0.time <= rule.window }),
                  last.time - first.time >= rule.window * 0.5 else { continue }
            out[rank] = max(0, last.busy - first.busy) / (last.time - first.time)
        }
        return out
    }

    /// Every rank's score (the reference busy fraction over its own), for `baton status`.
    func scores(at now: Double) -> [Int: Double] {
        let busy = busyFractions(at: now)
        guard busy.count >= 2 else { return [:] }
        let reference = Self.reference(Array(busy.values))
        return busy.mapValues { $0 > 0 ? min(1, reference / $0) : 1 }
    }

    /// A rank that has just become a straggler (once per rank).
    mutating func check(at now: Double) -> StragglerFinding? {
        guard rule.policy != .off else { return nil }
        let busy = busyFractions(at: now)
        // Judged only when every rank has a window: a reference from some ranks alone may
        // be the slow ones'.
        guard busy.count >= 2, busy.count == samples.count else { return nil }
        let median = Self.reference(Array(busy.values))
        var found: StragglerFinding?
        for (rank, b) in busy.sorted(by: { $0.key < $1.key }) {
            let score = b > 0 ? min(1, median / b) : 1
            guard score < rule.threshold && b - median >= rule.minGap else {
                belowSince[rank] = nil
                continue
            }
            let since = belowSince[rank] ?? now
            belowSince[rank] = since
            if now - since >= rule.sustain, !reported.contains(rank), found == nil {
                reported.insert(rank)
                found = StragglerFinding(
                    rank: rank, node: nodes[rank] ?? "?", score: score, busy: b, median: median, since: now - since,
                    rule: "score below \(rule.threshold) (busy \(fixedPoint(b, digits: 2)) of a CPU, the healthy ranks' \(fixedPoint(median, digits: 2))) for \(formatDuration(now - since, .seconds(digits: 0)))")
            }
        }
        return found
    }

    /// The median of the less busy half.
    static func reference(_ v: [Double]) -> Double {
        let s = v.sorted()
        return median(Array(s.prefix((s.count + 1) / 2)))
    }

    static func median(_ v: [Double]) -> Double {
        let s = v.sorted()
        guard !s.isEmpty else { return 0 }
        return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
    }
}
