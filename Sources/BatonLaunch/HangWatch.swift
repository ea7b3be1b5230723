import BatonProtocol
import BatonRuns
import BatonSystem

/// `--hang-timeout`: how long a rank that reports progress may go without it.
public enum HangTimeout: Sendable, Equatable, Codable, CustomStringConvertible {
    /// No hang detection.
    case off
    /// Learnt from the job's own step times (`ProgressWatch.Rule`).
    case auto
    /// This many seconds without a step, once the first step was made.
    case fixed(Double)

    /// `auto`, `off`, or a duration (`90s`, `5m`).
    public static func parse(_ text: String) -> HangTimeout? {
        switch text {
        case "auto": return .auto
        case "off": return .off
        default: return parseDuration(text).flatMap { $0 > 0 ? .fixed($0) : nil }
        }
    }

    public var description: String {
        switch self {
        case .off: return "off"
        case .auto: return "auto"
        case .fixed(let s): return formatDuration(s, .argument)
        }
    }

    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let v = HangTimeout.parse(text) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "not a hang timeout: \(text)"))
        }
        self = v
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(description)
    }
}

/// `--on-hang`: what the head does once a hang is judged (the stacks are saved first).
public enum HangPolicy: String, Sendable, CaseIterable, Codable {
    /// Restart on the same nodes; a second hang whose culprit is on the same node leaves
    /// that node out (the default).
    case restart
    /// Restart without the culprit's node at once.
    case exclude
    /// End the job.
    case fail
}

/// The hang settings as given (`--hang-timeout`, `--start-timeout`, `--phase-timeout`,
/// `--on-hang`, `--progress-pattern`, `--progress-key`), kept in a launch's spec.
public struct HangSettings: Codable, Sendable, Equatable {
    public var hangTimeout = "auto"
    public var startTimeout = "10m"
    public var phaseTimeout = "30m"
    public var onHang = HangPolicy.restart
    public var onStraggler = StragglerPolicy.warn
    public var progressPattern: String?
    public var progressKey: String?

    public init() {}

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = HangSettings()
        hangTimeout = try c.decodeIfPresent(String.self, forKey: .hangTimeout) ?? d.hangTimeout
        startTimeout = try c.decodeIfPresent(String.self, forKey: .startTimeout) ?? d.startTimeout
        phaseTimeout = try c.decodeIfPresent(String.self, forKey: .phaseTimeout) ?? d.phaseTimeout
        onHang = try c.decodeIfPresent(HangPolicy.self, forKey: .onHang) ?? d.onHang
        onStraggler = try c.decodeIfPresent(StragglerPolicy.self, forKey: .onStraggler) ?? d.onStraggler
        progressPattern = try c.decodeIfPresent(String.self, forKey: .progressPattern)
        progressKey = try c.decodeIfPresent(String.self, forKey: .progressKey)
    }

    /// Throws what is wrong with the settings, naming the option at fault.
    public func validate() throws(LaunchError) { _ = try rule() }

    /// The watch's rule; an error names the option at fault.
    func rule() throws(LaunchError) -> ProgressWatch.Rule {
        var r = ProgressWatch.Rule()
        guard let t = HangTimeout.parse(hangTimeout) else {
            throw LaunchError(.badInput, "--hang-timeout: '\(hangTimeout)' is not auto, off or a positive duration (e.g. 2m)")
        }
        r.timeout = t
        for (text, name) in [(startTimeout, "start-timeout"), (phaseTimeout, "phase-timeout")] {
            guard let v = parseDuration(text), v > 0 else { throw LaunchError(.badInput, "--\(name): '\(text)' is not a positive duration (e.g. 10m)") }
            if name == "start-timeout" { r.startTimeout = v } else { r.phaseTimeout = v }
        }
        if let p = progressPattern, (try? Regex(p)) == nil {
            throw LaunchError(.badInput, "--progress-pattern: '\(p)' is not a regular expression")
        }
        return r
    }
}

/// A rank that stopped making progress, as `ProgressWatch` found it.
struct HangFinding: Sendable, Equatable {
    var rank: Int
    var node: String
    /// How long the rank went without progress when this was decided.
    var stalledFor: Double
    /// The budget it overran, and the rule that set it (`ProgressWatch.Rule`).
    var budget: Double
    var rule: String
    /// Each watched rank's last step (nil: none yet) when the hang was decided.
    var lastSteps: [Int: Int?]
}

/// Hang detection: a pure function of the ranks' progress marks and their times (no clock,
/// thread or process), fed by the `LossClassifier`. A rank is watched from its first step;
/// a rank that made steps in an earlier attempt of the run is watched from its `armed` mark
/// (the helper writes it when it loads, before any rendezvous), so a restart that waits for
/// ranks that will never come is found too. A rank that never reports steps (a job whose
/// rank 0 alone reports) is never judged.
///
/// The budget a rank has for its next mark (`Rule`):
/// - before its first `warmupSteps` steps (rendezvous, data loading, compilation, the first
///   steps that are slow for reasons of their own): the start budget (`--start-timeout`);
/// - then, with `--hang-timeout auto`: `multiple` times the `percentile` of the step times
///   seen after every rank's warm-up (the last `window` of them, all ranks together), at
///   least `floor`; with `--hang-timeout DURATION`: that duration;
/// - inside a phase the trainer marks (`phase eval` ... `phase -`): `multiple` times the
///   longest completed run of that phase, at least `floor`; a phase not seen completed
///   yet gets `phaseTimeout`.
/// A rank that has ended (its exit line) is no longer watched.
struct ProgressWatch: Sendable {
    struct Rule: Sendable, Equatable, Codable {
        var timeout: HangTimeout = .auto
        var startTimeout: Double = 600
        var phaseTimeout: Double = 1800
        var warmupSteps = 2
        var multiple = 5.0
        var percentile = 0.99
        var floor = 10.0
        var window = 512
        /// Ranks that made steps in an earlier attempt of the run.
        var steppedBefore: Set<Int> = []
    }

    struct RankState: Sendable, Equatable {
        var node: String
        var since: Double
        var steps = 0
        var lastStep: Int?
        var phase: String?
        var ended = false
        var watched = false
    }

    let rule: Rule
    private(set) var ranks: [Int: RankState] = [:]
    /// Step times after warm-up, oldest first (at most `rule.window`).
    private(set) var stepTimes: [Double] = []
    /// Their `rule.percentile`, kept up to date by `record` (every event asks for budgets:
    /// sorting there cost the head a sort per rank per line).
    private(set) var stepPercentile = 0.0
    private var stepsTimed = 0
    /// The longest completed run of each phase.
    private(set) var phaseLongest: [String: Double] = [:]

    init(rule: Rule) { self.rule = rule }

    var isOn: Bool { rule.timeout != .off }

    mutating func record(_ mark: ProgressMark, rank: Int, node: String, at now: Double) {
        guard isOn else { return }
        var r = ranks[rank] ?? RankState(node: node, since: now)
        switch mark {
        case .armed:
            if rule.steppedBefore.contains(rank) && !r.watched {
                r.watched = true
                r.since = now
            }
        case .step(let n):
            r.watched = true
            if r.phase == nil && r.steps >= rule.warmupSteps {
                stepTimes.append(now - r.since)
                if stepTimes.count > rule.window { stepTimes.removeFirst(stepTimes.count - rule.window) }
                // Exact while few, then every 16th step (the window moves slowly).
                stepsTimed += 1
                if stepTimes.count < 64 || stepsTimed % 16 == 0 || now - r.since > stepPercentile {
                    stepPercentile = Self.percentile(stepTimes, rule.percentile)
                }
            }
            r.steps += 1
            r.lastStep = n
            r.since = now
        case .phase(let name?):
            r.phase = name
            r.since = now
        case .phase(nil):
            if let p = r.phase { phaseLongest[p] = max(phaseLongest[p] ?? 0, now - r.since) }
            r.phase = nil
            r.since = now
        case .stacks:
            return
        }
        ranks[rank] = r
    }

    mutating func ended(rank: Int) { ranks[rank]?.ended = true }

    /// The ranks that made at least one step.
    var stepped: Set<Int> { Set(ranks.filter { $0.value.steps > 0 }.keys) }

    /// The budget of `r` for its next mark, and why.
    func budget(_ r: RankState) -> (seconds: Double, why: String) {
        if let p = r.phase {
            if let longest = phaseLongest[p] {
                let b = max(rule.floor, rule.multiple * longest)
                return (b, "phase \(p): \(fmt(rule.multiple)) x its longest run \(fmt(longest)) s, at least \(fmt(rule.floor)) s")
            }
            return (rule.phaseTimeout, "phase \(p), not seen to end before: the phase budget (--phase-timeout)")
        }
        if r.steps < rule.warmupSteps || (rule.timeout == .auto && stepTimes.isEmpty) {
            return (rule.startTimeout, r.steps == 0 ? "no step yet: the start budget (--start-timeout)"
                        : "warm-up (\(r.steps) of \(rule.warmupSteps) steps): the start budget (--start-timeout)")
        }
        switch rule.timeout {
        case .fixed(let s): return (s, "--hang-timeout \(fmt(s)) s")
        case .off: return (.infinity, "off")
        case .auto:
            let p = stepPercentile
            let b = max(rule.floor, rule.multiple * p)
            return (b, "\(fmt(rule.multiple)) x p\(Int(rule.percentile * 100)) step time \(fmt(p)) s over \(stepTimes.count) steps, at least \(fmt(rule.floor)) s")
        }
    }

    /// The earliest time a watched rank overruns its budget.
    func nextDeadline() -> Double? {
        ranks.values.filter { $0.watched && !$0.ended }.map { $0.since + budget($0).seconds }.min()
    }

    /// The rank that has overrun its budget the most, if any.
    func overdue(at now: Double) -> HangFinding? {
        guard isOn else { return nil }
        var worst: (rank: Int, over: Double)?
        for (rank, r) in ranks where r.watched && !r.ended {
            let over = now - r.since - budget(r).seconds
            if over >= 0 && (worst == nil || over > worst!.over || (over == worst!.over && rank < worst!.rank)) { worst = (rank, over) }
        }
        guard let w = worst, let r = ranks[w.rank] else { return nil }
        let b = budget(r)
        return HangFinding(rank: w.rank, node: r.node, stalledFor: now - r.since, budget: b.seconds, rule: b.why,
                           lastSteps: ranks.filter { $0.value.watched && !$0.value.ended }.mapValues(\.lastStep))
    }

    static func percentile(_ values: [Double], _ p: Double) -> Double {
        guard !values.isEmpty else { return 0 }
        let sorted = values.sorted()
        let i = min(sorted.count - 1, max(0, Int((p * Double(sorted.count)).rounded(.up)) - 1))
        return sorted[i]
    }

    private func fmt(_ s: Double) -> String { formatDuration(s, .seconds(digits: s < 1 ? 3 : 1)).replacingOccurrences(of: " s", with: "") }
}

/// Who is to blame for a hang, from the ranks' last steps and their stacks: a pure function,
/// tested from stacks recorded in real runs.
///
/// 1. A rank behind the others (its last step smaller than every other's), alone or with
///    only ranks of its node: the others wait for it in a collective.
/// 2. Else the stacks: the main thread's frames of each rank (Python's faulthandler
///    "Current thread" block, else the first thread of a native dump), compared whole. A
///    rank whose stack is unlike all the others, while the others share one, is the
///    culprit: it is outside the collective they wait in (a stuck data loader, a sleep), or
///    in another collective (a mismatch).
/// 3. Else the rank that stopped first (the one found overdue), named as such.
enum HangJudge {
    struct Verdict: Sendable, Equatable {
        var rank: Int
        var node: String
        var reason: String
        /// The culprit's innermost frame, when known.
        var frame: String?
    }

    static func culprit(_ f: HangFinding, stacks: [Int: String], nodeOfRank: [Int: String]) -> Verdict {
        // 1: behind.
        let steps = f.lastSteps.compactMapValues { $0 }
        if steps.count == f.lastSteps.count, steps.count > 1, let low = steps.values.min(), let high = steps.values.max(), low < high {
            let behind = steps.filter { $0.value == low }.keys.sorted()
            let nodes = Set(behind.compactMap { nodeOfRank[$0] })
            if let first = behind.first, nodes.count == 1, behind.count < steps.count {
                let who = behind.count == 1 ? "rank \(first)" : "ranks \(behind.map(String.init).joined(separator: ","))"
                return Verdict(rank: first, node: nodeOfRank[first] ?? f.node,
                               reason: "\(who) reached step \(low), the others step \(high)", frame: stacks[first].flatMap(innermostFrame))
            }
        }
        // 2: the odd stack out.
        var groups: [[String]: [Int]] = [:]
        for (rank, text) in stacks {
            let frames = mainThreadFrames(text)
            if !frames.isEmpty { groups[frames, default: []].append(rank) }
        }
        if groups.count >= 2 {
            let sorted = groups.sorted { $0.value.count > $1.value.count }
            let singles = sorted.filter { $0.value.count == 1 }
            if sorted[0].value.count >= 2, singles.count == 1, let rank = singles.first?.value.first {
                let frame = singles[0].key.first
                return Verdict(rank: rank, node: nodeOfRank[rank] ?? f.node,
                               reason: "its stack is unlike the \(stacks.count - 1) others' (they share one)"
                                   + (frame.map { "; it is in \($0)" } ?? ""), frame: frame)
            }
        }
        return Verdict(rank: f.rank, node: f.node,
                       reason: "it was the first to go \(formatDuration(f.budget, .seconds(digits: 1))) without progress (\(f.rule))",
                       frame: stacks[f.rank].flatMap(innermostFrame))
    }

    /// The main thread's frames, innermost first, without addresses.
    static func mainThreadFrames(_ text: String) -> [String] {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        // faulthandler: "Current thread 0x... (most recent call first):" then `  File "x", line N in f`.
        if let start = lines.firstIndex(where: { $0.hasPrefix("Current thread ") }) {
            return lines[(start + 1)...].prefix { $0.hasPrefix("  File ") }.map { $0.trimmingCharacters(in: .whitespaces) }
        }
        if let start = lines.firstIndex(where: { $0.hasPrefix("Thread ") && $0.contains("most recent call first") }) {
            return lines[(start + 1)...].prefix { $0.hasPrefix("  File ") }.map { $0.trimmingCharacters(in: .whitespaces) }
        }
        // eu-stack: "TID n:" then "#0  0x... func"; gdb: "#0  0x... in func (...) from lib".
        var frames: [String] = []
        var seenThread = false
        for l in lines {
            let t = l.trimmingCharacters(in: .whitespaces)
            if t.hasPrefix("TID ") || t.hasPrefix("Thread ") {
                if seenThread && !frames.isEmpty { break }
                seenThread = true
                continue
            }
            guard t.hasPrefix("#") else { continue }
            let words = t.split(separator: " ", omittingEmptySubsequences: true).dropFirst()
                .filter { !$0.hasPrefix("0x") && $0 != "in" }
            frames.append(words.prefix(1).joined())
        }
        return frames
    }

    static func innermostFrame(_ text: String) -> String? { mainThreadFrames(text).first }
}
