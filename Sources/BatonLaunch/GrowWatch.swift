import BatonSystem

/// `--grow-after`: when a world below `--nnodes` MAX grows back without waiting for a
/// failure. A pure function of the nodes that came back into the pool while the attempt
/// runs (`AttemptEvent.spareReady`: they passed the health gate in the background), the
/// consumed counts the ranks report, and time. The classifier feeds it (its rule 8) and the
/// runner carries out what it says.
///
/// 1. A node back in the pool for `after` seconds: ask the job for a checkpoint (once per
///    attempt; the nodes back by then join at the restart).
/// 2. A larger consumed count reported after the request (the contract: a rank reports
///    `consumed` once the checkpoint that holds it is durable): stop the attempt there; the
///    next one starts with the nodes that came back.
/// 3. No such report within `wait` seconds of the request: give up for this attempt (never
///    stop a job that did not checkpoint: its work since the last checkpoint would be lost);
///    the nodes join at the next restart.
struct GrowWatch: Sendable, Equatable {
    struct Rule: Sendable, Equatable, Codable {
        /// How long a node must have been back in the pool (`--grow-after`).
        var after: Double
        /// How long the head waits for the checkpoint it asked for (`--grow-wait`).
        var wait: Double
    }

    enum Step: Sendable, Equatable {
        /// Ask every rank for a checkpoint; `nodes` came back.
        case request(nodes: [String])
        /// The job checkpointed at `consumed`: stop the attempt, grow with `nodes`.
        case grow(nodes: [String], consumed: Int)
        /// No checkpoint came within the wait; the sentence says so.
        case giveUp(nodes: [String], reason: String)
    }

    let rule: Rule
    /// When each node came back (the attempt's clock).
    private(set) var ready: [String: Double] = [:]
    /// The request, once made: when, the consumed count known then, the nodes it was for.
    private(set) var requested: (at: Double, consumed: Int?, nodes: [String])?
    private(set) var isDone = false

    init(rule: Rule) { self.rule = rule }

    static func == (a: GrowWatch, b: GrowWatch) -> Bool {
        a.rule == b.rule && a.ready == b.ready && a.isDone == b.isDone && a.requested?.at == b.requested?.at
            && a.requested?.consumed == b.requested?.consumed && a.requested?.nodes == b.requested?.nodes
    }

    mutating func spareReady(_ node: String, at now: Double) {
        if ready[node] == nil { ready[node] = now }
    }

    /// The next time `check` may say something with no new event.
    func nextDeadline() -> Double? {
        guard !isDone else { return nil }
        if let r = requested { return r.at + rule.wait }
        return ready.values.min().map { $0 + rule.after }
    }

    /// What to do now, given the largest consumed count reported so far.
    mutating func check(at now: Double, consumed: Int?) -> Step? {
        guard !isDone else { return nil }
        guard let r = requested else {
            let due = ready.filter { now >= $0.value + rule.after }.keys.sorted()
            guard !due.isEmpty else { return nil }
            let nodes = ready.keys.sorted()
            requested = (now, consumed, nodes)
            return .request(nodes: nodes)
        }
        if let c = consumed, c > (r.consumed ?? -1) {
            isDone = true
            return .grow(nodes: r.nodes, consumed: c)
        }
        if now >= r.at + rule.wait {
            isDone = true
            return .giveUp(nodes: r.nodes, reason: "no checkpoint reported within \(formatDuration(rule.wait, .argument)) of the request (--grow-wait)")
        }
        return nil
    }
}
