@testable import BatonLaunch
@testable import BatonProtocol
import Foundation
import Testing

/// The watches answer the classifier's questions from structures kept up to date line by
/// line (issue 28: scans of every rank at every event made the head's CPU grow with the
/// square of the nodes). Here their answers are checked against the plain scans they
/// replaced, over seeded random event sequences on many nodes.
@Suite struct IncrementalWatchTests {
    /// A small deterministic generator (SplitMix64), so a failure replays.
    struct Seeded: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    @Test("RecencyQueue: least recent first, touches move a key last, removed keys are gone, compaction keeps order")
    func recencyQueue() {
        var q = RecencyQueue<Int>()
        #expect(q.first() == nil)
        for k in 0..<5 { q.touch(k, at: Double(k)) }
        q.touch(0, at: 10)
        q.remove(1)
        #expect(q.first()?.key == 2)
        #expect(q.prefix { _, t in t < 4 }.map(\.key) == [2, 3])
        for round in 0..<1000 { q.touch(round % 3 + 2, at: 11 + Double(round)) }
        #expect(q.count == 4)
        #expect(q.first()?.key == 0)  // untouched since 10
    }

    /// The monitor's answers computed the old way, from its ranks and last-seen times.
    static func bruteOverdue(_ m: HeartbeatMonitor, at now: Double) -> [String] {
        m.lastSeen.keys.sorted().filter { node in
            let running = m.ranks.values.contains { $0.node == node && $0.exit == nil }
            let limit = m.heard.contains(node) ? m.timeout : max(m.timeout, m.startupTimeout)
            return running && now - m.lastSeen[node]! > limit
        }
    }

    @Test("HeartbeatMonitor: overdue nodes, next deadline, oldest heartbeat, live ranks, silent nodes and first failure match a full scan (300 nodes, 20,000 random lines)")
    func monitorMatchesScan() {
        let n = 300
        let hosts = HostList(hosts: (1...n).map { BatonProtocol.Host(name: "x-n\($0)", slots: $0 % 3 == 0 ? 2 : 1) })
        let places = RankPlacement.all(hosts)
        var m = HeartbeatMonitor(hosts: hosts, timeout: 5, start: 0, startupTimeout: 30)
        var rng = Seeded(state: 28)
        var t = 0.0
        let payloads: [(TaggedLine.Kind, String)] = [(.hb, "0"), (.hb, "1"), (.start, "pid=1"), (.note, "received SIGTERM"),
                                                      (.exit, "code=0"), (.exit, "code=3"), (.exit, "signal=15 after=SIGTERM"), (.fence, "lease")]
        for i in 0..<20_000 {
            t += Double.random(in: 0...0.004, using: &rng)
            let p = places[Int.random(in: 0..<places.count, using: &rng)]
            // Exits and fences are rare; heartbeats common.
            let pick = Int.random(in: 0..<1000, using: &rng)
            let (kind, payload) = pick < 990 ? payloads[pick % 3] : payloads[3 + pick % 5]
            m.record(TaggedLine(kind: kind, node: p.node, rank: p.rank, payload: payload), at: t)
            guard i % 97 == 0 else { continue }
            for probe in [t, t + 4.9, t + 6, t + 31] {
                #expect(m.overdue(at: probe).map(\.node) == Self.bruteOverdue(m, at: probe))
            }
            let runningSeen = m.lastSeen.filter { n in m.ranks.values.contains { $0.node == n.key && $0.exit == nil } }
            #expect(m.oldestLastSeen == runningSeen.values.min())
            let deadlines = runningSeen.map { $0.value + (m.heard.contains($0.key) ? 5 : 30) }
            #expect(m.nextOverdueTime() == deadlines.min())
            #expect(m.liveRanks == m.ranks.values.filter { $0.started && $0.exit == nil }.count)
            var spoke: [String: Bool] = [:]
            for r in m.ranks.values { spoke[r.node] = (spoke[r.node] ?? false) || r.exit != nil || r.stopping || r.fenced != nil }
            #expect(m.silentNodes == Set(spoke.filter { !$0.value }.keys))
            let failed = m.ranks.filter { $0.value.exit?.failedByItself ?? false }
            #expect(m.firstFailure?.rank == failed.min(by: { ($0.value.exitOrder ?? 0) < ($1.value.exitOrder ?? 0) })?.key)
        }
    }

    @Test("ProgressWatch: next deadline and the overdue rank match a full scan of the budgets (256 ranks, phases, warm-up)")
    func progressMatchesScan() {
        var w = ProgressWatch(rule: ProgressWatch.Rule())
        var rng = Seeded(state: 7)
        var t = 0.0
        var steps = [Int](repeating: 0, count: 256)
        for i in 0..<20_000 {
            t += Double.random(in: 0...0.002, using: &rng)
            let r = Int.random(in: 0..<256, using: &rng)
            let pick = Int.random(in: 0..<100, using: &rng)
            if pick < 95 {
                steps[r] += 1
                w.record(.step(steps[r]), rank: r, node: "n\(r)", at: t)
            } else if pick < 97 {
                w.record(.phase("eval"), rank: r, node: "n\(r)", at: t)
            } else if pick < 99 {
                w.record(.phase(nil), rank: r, node: "n\(r)", at: t)
            } else if i % 7 == 0 {
                w.ended(rank: r)
            }
            guard i % 101 == 0 else { continue }
            let live = w.ranks.filter { $0.value.watched && !$0.value.ended }
            #expect(w.nextDeadline() == live.values.map { $0.since + w.budget($0).seconds }.min())
            for probe in [t, t + 12, t + 700] {
                var worst: (rank: Int, over: Double)?
                for (rank, s) in live {
                    let over = probe - s.since - w.budget(s).seconds
                    if over >= 0 && (worst == nil || over > worst!.over || (over == worst!.over && rank < worst!.rank)) { worst = (rank, over) }
                }
                #expect(w.overdue(at: probe)?.rank == worst?.rank)
            }
        }
    }
}

@Suite struct MetricsTailTests {
    @Test("the consumed count between attempts is read from each metrics file's tail: the largest, in big files and small")
    func consumedFromTails() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("baton-metrics-tail-\(getpid())").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // 2,000 lines (about 60 KiB): only the tail is read, and it holds the largest.
        let big = (1...2000).map { "{\"step\": \($0), \"consumed\": \($0 * 8), \"loss\": 0.5}" }.joined(separator: "\n") + "\n"
        try big.write(toFile: "\(dir)/rank-0.jsonl", atomically: true, encoding: .utf8)
        try "{\"step\": 1, \"consumed\": 16001}\n".write(toFile: "\(dir)/rank-1.jsonl", atomically: true, encoding: .utf8)
        try "not json\n".write(toFile: "\(dir)/rank-2.jsonl", atomically: true, encoding: .utf8)
        #expect(LaunchSupervisor.consumedInMetricsFiles(dir: dir) == 16001)
        try FileManager.default.removeItem(atPath: "\(dir)/rank-1.jsonl")
        #expect(LaunchSupervisor.consumedInMetricsFiles(dir: dir) == 16000)
    }
}
