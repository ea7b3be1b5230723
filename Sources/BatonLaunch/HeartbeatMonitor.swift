import BatonProtocol
import Foundation

/// Liveness of one job's nodes, from the tagged lines its wrappers send (any tagged line
/// counts as a sign of life; heartbeats make sure one comes every interval). Not
/// thread-safe on its own: the launch supervisor guards it with a lock.
struct HeartbeatMonitor: Sendable {
    struct RankState: Sendable, Equatable {
        var node: String
        var started = false
        var exit: RankExit?
        var fenced: String?
        /// The wrapper said it received a stop signal (it is alive and being torn down).
        var stopping = false
        /// Order in which exits arrived (for "which rank failed first").
        var exitOrder: Int?
    }

    let timeout: Double
    let startupTimeout: Double
    let startedAt: Double
    /// Last time anything came from each node (monotonic seconds).
    private(set) var lastSeen: [String: Double] = [:]
    private(set) var ranks: [Int: RankState] = [:]
    /// The largest `consumed` any rank reported in a metrics line.
    private(set) var consumed: Int?
    private(set) var lastMetrics: [Int: String] = [:]
    let nodeOfRank: [Int: String]
    var exitCount = 0

    /// `nodes` in placement order; the clock of a node that has not spoken yet starts at `start`.
    init(hosts: HostList, timeout: Double, start: Double, startupTimeout: Double = 30) {
        self.timeout = timeout
        self.startupTimeout = startupTimeout
        self.startedAt = start
        var map: [Int: String] = [:]
        for p in RankPlacement.all(hosts) {
            map[p.rank] = p.node
            ranks[p.rank] = RankState(node: p.node)
        }
        nodeOfRank = map
        for h in hosts.hosts { lastSeen[h.name] = start }
    }

    /// Takes one line in; returns false when it does not belong to this job (unknown node/rank).
    @discardableResult
    mutating func record(_ line: TaggedLine, at now: Double) -> Bool {
        guard nodeOfRank[line.rank] == line.node else { return false }
        lastSeen[line.node] = now
        heard.insert(line.node)
        switch line.kind {
        case .start: ranks[line.rank]?.started = true
        case .exit:
            ranks[line.rank]?.exit = RankExit.decode(line.payload) ?? RankExit(status: .exited(255))
            exitCount += 1
            ranks[line.rank]?.exitOrder = exitCount
        case .note: if line.payload.hasPrefix("received ") { ranks[line.rank]?.stopping = true }
        case .fence: ranks[line.rank]?.fenced = line.payload
        case .metric:
            lastMetrics[line.rank] = line.payload
            if let data = line.payload.data(using: .utf8),
               let obj = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
               let c = (obj["consumed"] as? NSNumber)?.intValue {
                consumed = max(consumed ?? c, c)
            }
        default: break
        }
        return true
    }

    /// Nodes that still have a running rank and have been silent for longer than the
    /// timeout, with how long they have been silent.
    /// A node that has not said anything yet is given `startupTimeout` instead: starting
    /// daemons and ranks takes longer than a heartbeat interval, more so on a busy machine.
    func overdue(at now: Double) -> [(node: String, silentFor: Double)] {
        var result: [(String, Double)] = []
        for (node, seen) in lastSeen.sorted(by: { $0.key < $1.key }) {
            let running = ranks.values.contains { $0.node == node && $0.exit == nil }
            let limit = heard.contains(node) ? timeout : max(timeout, startupTimeout)
            if running && now - seen > limit { result.append((node, now - seen)) }
        }
        return result
    }

    /// When the first node still running would become overdue if nothing more came.
    func nextOverdueTime() -> Double? {
        var best: Double?
        for (node, seen) in lastSeen where ranks.values.contains(where: { $0.node == node && $0.exit == nil }) {
            let t = seen + (heard.contains(node) ? timeout : max(timeout, startupTimeout))
            best = min(best ?? t, t)
        }
        return best
    }

    /// Nodes that have sent at least one line.
    private(set) var heard = Set<String>()

    /// Ranks that have started and not ended.
    var liveRanks: Int { ranks.values.filter { $0.started && $0.exit == nil }.count }
    /// Seconds since the least recent node was heard from (running nodes only).
    /// When the least recently heard running node was last heard (nil: none runs).
    var oldestLastSeen: Double? {
        lastSeen.filter { n in ranks.values.contains { $0.node == n.key && $0.exit == nil } }.map(\.value).min()
    }

    func oldestHeartbeatAge(at now: Double) -> Double {
        lastSeen.filter { n in ranks.values.contains { $0.node == n.key && $0.exit == nil } }
            .map { now - $0.value }.max() ?? 0
    }

    /// Nodes with a rank that never reported its end.
    var nodesWithUnfinishedRanks: Set<String> {
        Set(ranks.values.filter { $0.exit == nil }.map(\.node))
    }

    /// The rank whose command failed first by itself (an end not marked `after=`, i.e.
    /// not caused by a stop from outside).
    var firstFailure: (rank: Int, node: String, exit: RankExit)? {
        let failed = ranks.filter { $0.value.exit?.failedByItself ?? false }
        guard let first = failed.min(by: { ($0.value.exitOrder ?? 0) < ($1.value.exitOrder ?? 0) }) else { return nil }
        return (first.key, first.value.node, first.value.exit!)
    }

    /// Nodes none of whose ranks said anything about their end (no exit, no "received
    /// signal", no fence): after mpirun aborted, these are the nodes that died.
    var silentNodes: Set<String> {
        var byNode: [String: Bool] = [:]
        for r in ranks.values {
            let spoke = r.exit != nil || r.stopping || r.fenced != nil
            byNode[r.node] = (byNode[r.node] ?? false) || spoke
        }
        return Set(byNode.filter { !$0.value }.map(\.key))
    }

    var allSucceeded: Bool { ranks.values.allSatisfy { $0.exit?.succeeded ?? false } }
}
