/// Two nodes measured together, by index; `a < b`.
public struct NodePair: Hashable, Sendable, Comparable, CustomStringConvertible {
    let a: Int
    let b: Int

    init(_ x: Int, _ y: Int) {
        precondition(x != y, "a pair needs two different nodes")
        a = min(x, y)
        b = max(x, y)
    }

    func contains(_ node: Int) -> Bool { a == node || b == node }
    func other(_ node: Int) -> Int { node == a ? b : a }
    public static func < (l: NodePair, r: NodePair) -> Bool { (l.a, l.b) < (r.a, r.b) }
    public var description: String { "\(a)-\(b)" }
}

/// Finds the one slow node or the one slow link without measuring every pair
/// (`bench matrix --find-slow`), as a pure function over a callback that measures a set
/// of node-disjoint pairs at the same time and returns one bandwidth per pair.
///
/// Why disjoint pairs and not bigger group tests (a collective over half the nodes): in a
/// group test a node shares its link (and, on a shared test bed, its CPU) among several
/// partners, so a link at a fraction f of normal hides unless f is under about
/// threshold / partners. With each node in one pair at a time, every figure is that
/// link's own speed, comparable with the other pairs of its round, which run under the
/// same load. The price: a round sees N/2 of the N(N-1)/2 links, so a slow link can take
/// up to N-1 rounds to come up (a slow node shows in the first).
///
/// The search, for N nodes:
/// 1. Rounds of a round-robin schedule (N-1 perfect matchings covering every pair once;
///    N rounds with a bye for odd N). A pair is slow when its figure is under `threshold`
///    of its round's reference. A node seen fast with some partner is cleared: a slow
///    node is slow with every partner, so after round 1 every node but the slow one is
///    cleared (and the slow node's pair is slow in round 1 already).
/// 2. A slow pair (a, b): if an end is not cleared, one round pairs each uncleared end
///    with a cleared node. Slow again with the new partner, and then with
///    `confirmations - 1` more new partners (a round each): that node is slow (slow with
///    1 + `confirmations` partners, each fast with someone else). Otherwise the link
///    (a, b) is suspected.
/// 3. A suspected link is measured again `confirmations` times (a round each): slow every
///    time convicts it; fast once means the first figure was noise (noise only ever
///    lowers a figure, a bad link is slow every time) and the search goes on.
/// With the default 2 confirmations a slow node takes 3 rounds (3N/2 pair figures); a
/// slow link the rounds up to the one that holds it plus 2 (at most N+1, or N+2 for odd
/// N, plus 1 when it is in round 1); nothing slow takes the whole schedule. Rounds that
/// examine a suspect fill their idle nodes with pairs not measured yet, so they also
/// advance the search. Confirmations are there because on a loaded machine (the
/// 2-core test bed, 8 pairs at once) a healthy pair came out at 27% of its round's
/// reference twice in a row, measured; three times in a row it did not.
public enum SlowFinder {
    /// One pair's figure in one round.
    struct Figure: Sendable, Equatable {
        var pair: NodePair
        /// GB/s each way.
        var bandwidthGBps: Double
        /// 1-based round.
        var round: Int
        /// The round's reference: the median of its figures (the best one when the round
        /// has fewer than 3 pairs, where a median would average in the slow one).
        var reference: Double
        var isSlow: Bool
    }

    public enum Culprit: Sendable, Equatable {
        case none
        case node(Int)
        case link(NodePair)
        /// Both ends of a slow pair were also slow with other partners: more than one
        /// slow node, which this search does not take apart (`bench matrix` does).
        case severalNodes([Int])
    }

    public struct Verdict: Sendable, Equatable {
        public var culprit: Culprit
        /// The figures that convicted the culprit: its slow figures, then fast figures
        /// of the nodes around it that clear them.
        var evidence: [Figure]
        /// Calls of the measuring callback (rounds of concurrent pairs).
        var rounds: Int
        /// Every figure of every round, in order.
        var figures: [Figure]
        var pairsMeasured: Int { figures.count }
    }

    /// The round-robin schedule (circle method): N-1 rounds of N/2 pairs for even N, N
    /// rounds of (N-1)/2 for odd N; every pair exactly once, no node twice in a round.
    static func schedule(nodes n: Int) -> [[NodePair]] {
        guard n >= 2 else { return [] }
        let m = n % 2 == 0 ? n : n + 1  // odd: node n is the bye
        var rounds: [[NodePair]] = []
        for r in 0..<(m - 1) {
            var round: [(Int, Int)] = [(m - 1, r)]
            for k in 1..<(m / 2) {
                round.append(((r + k) % (m - 1), (r - k + (m - 1)) % (m - 1)))
            }
            rounds.append(round.filter { $0.0 < n && $0.1 < n }.map { NodePair($0.0, $0.1) })
        }
        return rounds
    }

    /// Runs the search. `measure` gets node-disjoint pairs and returns one GB/s figure
    /// per pair, in order; it is called once per round.
    static func find(
        nodes n: Int, threshold: Double = 0.5, confirmations: Int = 2, measure: ([NodePair]) throws -> [Double]
    ) rethrows -> Verdict {
        precondition(n >= 4, "find-slow needs at least 4 nodes")
        precondition(confirmations >= 1, "a suspect is measured again at least once")
        var search = Search(n: n, threshold: threshold, confirmations: confirmations)
        let plan = schedule(nodes: n)
        var next = 0
        while true {
            // The schedule's next round, without what is settled; after the schedule,
            // pairs left unsettled (slow figures nobody examined) in greedy rounds.
            var pairs: [NodePair] = []
            while pairs.isEmpty && next < plan.count {
                pairs = plan[next].filter { !search.settled.contains($0) }
                next += 1
            }
            if pairs.isEmpty { pairs = search.fill([]).filter { !search.settled.contains($0) } }
            if pairs.isEmpty { break }
            let figures = try search.run(search.fill(pairs), measure)
            // Every slow pair is examined (and so settled); fast ones settled in `run`.
            for suspect in figures where suspect.isSlow {
                if let verdict = try search.examine(suspect, measure) { return verdict }
            }
        }
        return Verdict(culprit: .none, evidence: [], rounds: search.rounds, figures: search.figures)
    }

    struct Search {
        let n: Int
        let threshold: Double
        let confirmations: Int
        var rounds = 0
        var figures: [Figure] = []
        /// Nodes seen fast with some partner.
        var cleared: Set<Int> = []
        /// Pairs needing no more measuring: fast, or examined.
        var settled: Set<NodePair> = []

        mutating func run(_ pairs: [NodePair], _ measure: ([NodePair]) throws -> [Double]) rethrows -> [Figure] {
            let values = try measure(pairs)
            precondition(values.count == pairs.count, "measure returned \(values.count) figures for \(pairs.count) pairs")
            rounds += 1
            let reference = values.count >= 3 ? PairMatrix.median(values) ?? 0 : values.max() ?? 0
            let round = zip(pairs, values).map { pair, value in
                Figure(pair: pair, bandwidthGBps: value, round: rounds, reference: reference, isSlow: value < reference * threshold)
            }
            for f in round where !f.isSlow {
                cleared.insert(f.pair.a)
                cleared.insert(f.pair.b)
                settled.insert(f.pair)
            }
            figures += round
            return round
        }

        /// `forced` plus pairs over the nodes it leaves idle: pairs not yet settled first
        /// (they advance the search), then any (they give the round a reference).
        func fill(_ forced: [NodePair]) -> [NodePair] {
            var busy = Set(forced.flatMap { [$0.a, $0.b] })
            var pairs = forced
            for wantUnsettled in [true, false] {
                for i in 0..<n where !busy.contains(i) {
                    for j in (i + 1)..<n where !busy.contains(j) && !busy.contains(i) {
                        let p = NodePair(i, j)
                        if wantUnsettled == settled.contains(p) { continue }
                        pairs.append(p)
                        busy.insert(i)
                        busy.insert(j)
                    }
                }
            }
            return pairs
        }

        /// The latest fast figure of `node`, with a partner outside `excluding`.
        func lastFast(_ node: Int, excluding: Set<Int> = []) -> Figure? {
            figures.last { !$0.isSlow && $0.pair.contains(node) && !excluding.contains($0.pair.other(node)) }
        }

        func verdict(_ culprit: Culprit, _ evidence: [Figure?]) -> Verdict {
            Verdict(culprit: culprit, evidence: evidence.compactMap { $0 }, rounds: rounds, figures: figures)
        }

        /// A slow pair: which of its nodes, or its link, or noise (nil).
        mutating func examine(_ suspect: Figure, _ measure: ([NodePair]) throws -> [Double]) rethrows -> Verdict? {
            let (a, b) = (suspect.pair.a, suspect.pair.b)
            settled.insert(suspect.pair)
            let uncleared = [a, b].filter { !cleared.contains($0) }
            if !uncleared.isEmpty {
                // Each uncleared end with a new partner, cleared ones first.
                var partners: [Int: Int] = [:]
                var taken: Set<Int> = [a, b]
                let candidates = (0..<n).filter { cleared.contains($0) } + (0..<n).filter { !cleared.contains($0) }
                for end in uncleared {
                    guard let partner = candidates.first(where: { !taken.contains($0) }) else { continue }
                    partners[end] = partner
                    taken.insert(partner)
                }
                let tests = uncleared.compactMap { end in partners[end].map { NodePair(end, $0) } }
                let round = try run(fill(tests), measure)
                let results = tests.compactMap { t in round.first { $0.pair == t } }
                let slowEnds = uncleared.filter { end in results.contains { $0.pair.contains(end) && $0.isSlow } }
                switch slowEnds.count {
                case 0: break  // both ends fast elsewhere: the link is suspected
                case 1:
                    let node = slowEnds[0]
                    var slow = [suspect] + results.filter { $0.pair.contains(node) }
                    var tried = Set(slow.map { $0.pair.other(node) }).union([a, b])
                    // Slow with every partner there is (4 or 5 nodes) also convicts.
                    var fastOnce = false
                    while slow.count < 1 + confirmations, let partner = candidates.first(where: { !tried.contains($0) }) {
                        tried.insert(partner)
                        let test = NodePair(node, partner)
                        guard let f = try run(fill([test]), measure).first(where: { $0.pair == test }), f.isSlow else {
                            fastOnce = true
                            break
                        }
                        slow.append(f)
                    }
                    if !fastOnce {
                        let partnersFast = slow.map { lastFast($0.pair.other(node), excluding: [node]) }
                        return verdict(.node(node), slow + partnersFast)
                    }
                    // Fast with a new partner: not a slow node after all; the link may be.
                default:
                    return verdict(.severalNodes([a, b]), [suspect] + results)
                }
            }
            // Both ends are fast with others: measure the link again.
            var slow = [suspect]
            for _ in 0..<confirmations {
                let round = try run(fill([suspect.pair]), measure)
                guard let again = round.first(where: { $0.pair == suspect.pair }), again.isSlow else { return nil }
                slow.append(again)
            }
            return verdict(.link(suspect.pair), slow + [lastFast(a, excluding: [b]), lastFast(b, excluding: [a])])
        }
    }
}
