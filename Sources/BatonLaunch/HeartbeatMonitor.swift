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
        /// The command's pid, from the wrapper's `start pid=N` (a pid on the rank's node).
        var commandPID: Int32?
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
    /// Every node, in placement order.
    let nodes: [String]
    // Kept up to date line by line, so that what the classifier asks at every event costs
    // O(1) or O(what changed), not a scan of every rank and node (which made the head's CPU
    // grow with the square of the nodes, measured: 27.6 s of CPU for a 40 s run on 64 nodes).
    /// Ranks without an exit line, per node (a node with none is not watched for silence).
    private var running: [String: Int] = [:]
    /// Running nodes that have spoken, least recently heard first; and those that have not
    /// spoken yet (their clock is `startedAt`, their limit the startup timeout).
    private var heardQueue = RecencyQueue<String>()
    private var unheardRunning = RecencyQueue<String>()
    /// Nodes with a rank that said something of its end (exit, stop note, fence).
    private var spoke = Set<String>()
    private var liveCount = 0
    /// Ranks whose last exit line says they failed by themselves, with its order, and the
    /// first of them.
    private var failedOrder: [Int: Int] = [:]
    private var firstFailed: Int?

    /// `nodes` in placement order; the clock of a node that has not spoken yet starts at `start`.
    init(hosts: HostList, timeout: Double, start: Double, startupTimeout: Double = 30) {
        self.timeout = timeout
        self.startupTimeout = startupTimeout
        self.startedAt = start
        var map: [Int: String] = [:]
        for p in RankPlacement.all(hosts) {
            map[p.rank] = p.node
            ranks[p.rank] = RankState(node: p.node)
            running[p.node, default: 0] += 1
        }
        nodeOfRank = map
        nodes = hosts.hosts.map(\.name)
        for h in hosts.hosts {
            lastSeen[h.name] = start
            if running[h.name, default: 0] > 0 { unheardRunning.touch(h.name, at: start) }
        }
    }

    /// Takes one line in; returns false when it does not belong to this job (unknown node/rank).
    @discardableResult
    mutating func record(_ line: TaggedLine, at now: Double) -> Bool {
        guard nodeOfRank[line.rank] == line.node, var r = ranks[line.rank] else { return false }
        lastSeen[line.node] = now
        heard.insert(line.node)
        if running[line.node, default: 0] > 0 {
            unheardRunning.remove(line.node)
            heardQueue.touch(line.node, at: now)
        }
        let wasLive = r.started && r.exit == nil
        switch line.kind {
        case .start:
            r.started = true
            if let i = line.payload.range(of: "pid=") { r.commandPID = Int32(line.payload[i.upperBound...].prefix { $0.isNumber }) }
        case .exit:
            let exit = RankExit.decode(line.payload) ?? RankExit(status: .exited(255))
            if r.exit == nil {
                running[line.node, default: 0] -= 1
                if running[line.node] == 0 {
                    heardQueue.remove(line.node)
                    unheardRunning.remove(line.node)
                }
            }
            r.exit = exit
            exitCount += 1
            r.exitOrder = exitCount
            failedOrder[line.rank] = nil
            if firstFailed == line.rank { firstFailed = nil }
            if exit.failedByItself {
                failedOrder[line.rank] = exitCount
                if firstFailed == nil && failedOrder.count == 1 { firstFailed = line.rank }
            }
            if firstFailed == nil, let first = failedOrder.min(by: { $0.value < $1.value }) { firstFailed = first.key }
        case .note: if line.payload.hasPrefix("received ") { r.stopping = true }
        case .fence: r.fenced = line.payload
        case .metric:
            lastMetrics[line.rank] = line.payload
            // Parsed only when it can hold the key: a trainer reports metrics every step and
            // `consumed` at its checkpoints, and parsing every line was 7% of the head's CPU.
            if line.payload.contains(#""consumed""#),
               let data = line.payload.data(using: .utf8),
               let obj = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
               let c = (obj["consumed"] as? NSNumber)?.intValue {
                consumed = max(consumed ?? c, c)
            }
        default: break
        }
        let isLive = r.started && r.exit == nil
        liveCount += (isLive ? 1 : 0) - (wasLive ? 1 : 0)
        if r.exit != nil || r.stopping || r.fenced != nil { spoke.insert(line.node) }
        ranks[line.rank] = r
        return true
    }

    /// The commands of the ranks still running outside `except`, by rank: (node, pid).
    func runningCommands(except: Set<String>) -> [Int: (node: String, pid: Int32)] {
        var out: [Int: (node: String, pid: Int32)] = [:]
        for (rank, r) in ranks where r.started && r.exit == nil && !except.contains(r.node) {
            if let pid = r.commandPID { out[rank] = (r.node, pid) }
        }
        return out
    }

    /// Nodes that still have a running rank and have been silent for longer than the
    /// timeout, with how long they have been silent, by name.
    /// A node that has not said anything yet is given `startupTimeout` instead: starting
    /// daemons and ranks takes longer than a heartbeat interval, more so on a busy machine.
    func overdue(at now: Double) -> [(node: String, silentFor: Double)] {
        let startLimit = max(timeout, startupTimeout)
        var result = heardQueue.prefix { now - $1 > timeout }.map { ($0.key, now - $0.time) }
        result += unheardRunning.prefix { now - $1 > startLimit }.map { ($0.key, now - $0.time) }
        return result.sorted { $0.0 < $1.0 }
    }

    /// When the first node still running would become overdue if nothing more came.
    func nextOverdueTime() -> Double? {
        let a = heardQueue.first().map { $0.time + timeout }
        let b = unheardRunning.first().map { $0.time + max(timeout, startupTimeout) }
        return [a, b].compactMap { $0 }.min()
    }

    /// Nodes that have sent at least one line.
    private(set) var heard = Set<String>()

    /// Ranks that have started and not ended.
    var liveRanks: Int { liveCount }
    /// When the least recently heard running node was last heard (nil: none runs).
    var oldestLastSeen: Double? {
        [heardQueue.first()?.time, unheardRunning.first()?.time].compactMap { $0 }.min()
    }

    /// Seconds since the least recent node was heard from (running nodes only).
    func oldestHeartbeatAge(at now: Double) -> Double {
        oldestLastSeen.map { now - $0 } ?? 0
    }

    /// Whether the node still has a rank that has not reported its end.
    func hasUnfinishedRanks(_ node: String) -> Bool { running[node, default: 0] > 0 }

    /// Nodes with a rank that never reported its end.
    var nodesWithUnfinishedRanks: Set<String> {
        Set(running.filter { $0.value > 0 }.keys)
    }

    /// The rank whose command failed first by itself (an end not marked `after=`, i.e.
    /// not caused by a stop from outside).
    var firstFailure: (rank: Int, node: String, exit: RankExit)? {
        guard let rank = firstFailed, let r = ranks[rank], let exit = r.exit else { return nil }
        return (rank, r.node, exit)
    }

    /// Whether none of the node's ranks said anything about its end.
    func isSilent(_ node: String) -> Bool { !spoke.contains(node) }

    /// Nodes none of whose ranks said anything about their end (no exit, no "received
    /// signal", no fence): after mpirun aborted, these are the nodes that died.
    var silentNodes: Set<String> {
        Set(nodes.filter { running.keys.contains($0) && !spoke.contains($0) })
    }

    /// Ranks that have ended, fenced, or are on one of `nodes`: once every rank is, a
    /// teardown need not wait any longer.
    func allEndedOrFenced(except nodes: Set<String>) -> Bool {
        ranks.values.allSatisfy { nodes.contains($0.node) || $0.exit != nil || $0.fenced != nil }
    }

    var allSucceeded: Bool { ranks.values.allSatisfy { $0.exit?.succeeded ?? false } }
}
