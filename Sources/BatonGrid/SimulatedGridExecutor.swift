import BatonSystem
import Foundation

/// An in-process executor with fake jobs, for testing and benchmarking the scheduler
/// (the same `GridScheduler` code the real executors use). Jobs take the duration and exit
/// code a model gives; nodes fail by schedule.
///
/// Time is virtual. With `speed` 0 it only jumps from event to event (deterministic, for
/// tests). With `speed` > 0 virtual time also runs at `speed` times the wall clock while the
/// scheduler works, so events that fall due while it commits arrive together in the next
/// poll, as they would on a real cluster (this is what makes group commit show in the
/// benchmark); when nothing is due it jumps ahead instead of sleeping.
final class SimulatedGridExecutor: ConfigExecutor {
    /// What one fake attempt does.
    struct JobOutcome: Sendable {
        var duration: Double
        var exitCode: Int32
        var metrics: [String: Double]
        /// Metrics lines the job writes while it runs, each `after` seconds from its start
        /// (a trainer's `report(epoch=..., loss=...)`).
        var reports: [(after: Double, metrics: [String: Double])]
        init(duration: Double, exitCode: Int32 = 0, metrics: [String: Double] = [:],
             reports: [(after: Double, metrics: [String: Double])] = [])
        {
            self.duration = duration
            self.exitCode = exitCode
            self.metrics = metrics
            self.reports = reports
        }
    }

    /// How a node fails.
    enum Fault: Sendable {
        /// All its processes die; mpirun reports the daemon lost (the head hands off at once).
        case crash
        /// It goes silent: cut off or hung. Only the missing heartbeats tell.
        case silent
    }

    struct NodeFailure: Sendable {
        var node: Int
        var at: Double
        var fault: Fault
        /// The node passes health checks again after this long (nil: never).
        var downFor: Double?
        init(node: Int, at: Double, fault: Fault, downFor: Double? = nil) {
            self.node = node
            self.at = at
            self.fault = fault
            self.downFor = downFor
        }
    }

    enum Pending {
        case finish(Int64)
        case heartbeatTick
        case failure(Int)
        case lostOnStart(Int64, Int)
        case report(Int64, Int)
    }

    /// What the executor keeps of a running attempt: its nodes and what it will do (not
    /// the whole launch, which carries the argv and parameters: at 10,000 running attempts
    /// that is most of the executor's memory and of the cost of walking the jobs).
    struct Job {
        var nodes: [Int]
        var outcome: JobOutcome
        var silent = false
    }

    let nodeNames: [String]
    let model: (AttemptLaunch) -> JobOutcome
    let heartbeatInterval: Double
    let speed: Double
    var failures: [NodeFailure]
    var virtualBase = 0.0
    var wallBase: Double
    var heap = GridEventHeap<Pending>()
    var jobs: [Int64: Job] = [:]
    var downUntil: [Double?]
    var silentNode: [Bool]
    /// Attempts running on each node, so a node's failure finds its victims without
    /// walking every job.
    var jobsOnNode: [[Int64]]
    var tickScheduled = false
    /// Whether `launches` and `terminated` keep every launch (tests read them; the scale
    /// simulation turns this off: at 100,000 configs the launches alone are ~50 MB).
    var recordsLaunches = true
    /// Every launch, in order (tests read this).
    private(set) var launches: [AttemptLaunch] = []
    private(set) var terminated: [Int64] = []

    init(
        nodes: Int, speed: Double = 0, heartbeatInterval: Double = 2, failures: [NodeFailure] = [],
        model: @escaping (AttemptLaunch) -> JobOutcome
    ) {
        nodeNames = (0..<nodes).map { "sim\($0)" }
        self.model = model
        self.heartbeatInterval = heartbeatInterval
        self.speed = speed
        self.failures = failures
        downUntil = Array(repeating: nil, count: nodes)
        silentNode = Array(repeating: false, count: nodes)
        jobsOnNode = Array(repeating: [], count: nodes)
        wallBase = SimulatedGridExecutor.wall()
        for (i, f) in failures.enumerated() { heap.push(f.at, .failure(i)) }
    }

    static func wall() -> Double { monotonicNow() }

    func now() -> Double {
        speed > 0 ? virtualBase + (SimulatedGridExecutor.wall() - wallBase) * speed : virtualBase
    }

    /// Sets virtual time back to 0 (call right before the scheduler runs, so that setting up
    /// the store does not count as simulated time).
    func restartClock() { jump(to: 0) }

    func jump(to t: Double) {
        virtualBase = t
        wallBase = SimulatedGridExecutor.wall()
    }

    func isDown(_ node: Int, _ t: Double) -> Bool {
        guard let until = downUntil[node] else { return false }
        return until > t
    }

    func start(_ launch: AttemptLaunch) throws {
        let t = now()
        if recordsLaunches { launches.append(launch) }
        if let dead = launch.nodes.first(where: { isDown($0, t) }) {
            // mpirun cannot reach the node's daemon: it reports the loss right away.
            add(launch.attemptID, Job(nodes: launch.nodes, outcome: JobOutcome(duration: 0)))
            heap.push(t, .lostOnStart(launch.attemptID, dead))
            return
        }
        let outcome = model(launch)
        add(launch.attemptID, Job(nodes: launch.nodes, outcome: outcome))
        // Reports due at the end come before the exit (pushed first, same time).
        for (i, r) in outcome.reports.enumerated() where r.after <= outcome.duration {
            heap.push(t + r.after, .report(launch.attemptID, i))
        }
        heap.push(t + outcome.duration, .finish(launch.attemptID))
        if !tickScheduled {
            tickScheduled = true
            heap.push(t + heartbeatInterval, .heartbeatTick)
        }
    }

    func add(_ id: Int64, _ job: Job) {
        jobs[id] = job
        for n in job.nodes { jobsOnNode[n].append(id) }
    }

    @discardableResult
    func remove(_ id: Int64) -> Job? {
        guard let job = jobs.removeValue(forKey: id) else { return nil }
        for n in job.nodes { jobsOnNode[n].removeAll { $0 == id } }
        return job
    }

    func terminate(attemptID: Int64, reason: String) {
        if remove(attemptID) != nil, recordsLaunches { terminated.append(attemptID) }
    }

    func poll(until deadline: Double) -> [ExecutorEvent] {
        var t = now()
        if let next = heap.peekTime, next > t {
            // Nothing due: jump to the next event or the deadline, whichever is first.
            if next <= deadline { jump(to: next) } else if deadline > t { jump(to: deadline) }
            t = now()
        } else if heap.peekTime == nil, deadline > t {
            jump(to: deadline)
            t = now()
        }
        var out: [ExecutorEvent] = []
        // Heartbeat ticks that fell due together (the scheduler was busy for several
        // intervals) are reported once: the scheduler handles all of a poll's events at
        // the poll's time, so a second heartbeat of the same node in one poll says nothing
        // new. One event per live node per poll, as a head reading wrappers' lines would
        // keep only the newest line of each.
        var beat = false
        while let next = heap.peekTime, next <= t {
            let (_, item) = heap.pop()!
            switch item {
            case .finish(let id):
                guard let job = jobs[id] else { continue }
                if job.silent { continue }  // a hung job never finishes
                remove(id)
                out.append(.exited(attemptID: id, AttemptExit(code: job.outcome.exitCode, metrics: job.outcome.metrics)))
            case .report(let id, let i):
                guard let job = jobs[id], !job.silent else { continue }
                out.append(.metrics(attemptID: id, job.outcome.reports[i].metrics))
            case .lostOnStart(let id, let node):
                guard remove(id) != nil else { continue }
                out.append(.nodeLost(attemptID: id, node: node, reason: "mpirun could not reach the node", fenced: true))
            case .heartbeatTick:
                beat = true
                if jobs.isEmpty { tickScheduled = false } else { heap.push(next + heartbeatInterval, .heartbeatTick) }
            case .failure(let i):
                let f = failures[i]
                downUntil[f.node] = f.downFor.map { next + $0 } ?? .infinity
                let victims = jobsOnNode[f.node].sorted()
                switch f.fault {
                case .crash:
                    for id in victims {
                        remove(id)
                        out.append(.nodeLost(attemptID: id, node: f.node, reason: "mpirun lost the node's daemon", fenced: true))
                    }
                case .silent:
                    silentNode[f.node] = true
                    for id in victims { jobs[id]?.silent = true }
                }
            }
        }
        if beat {
            for (id, job) in jobs where !job.silent {
                for n in job.nodes where !silentNode[n] { out.append(.heartbeat(attemptID: id, node: n)) }
            }
        }
        // A silent node is quiet only while it is down.
        for n in silentNode.indices where silentNode[n] && !isDown(n, t) { silentNode[n] = false }
        return out
    }

    func healthCheck(node: Int) -> (problem: String?, seconds: Double) { (isDown(node, now()) ? "the node is down (simulated)" : nil, 0) }

    func reapOrphan(attemptID: Int64, configID: String, attempt: Int, pid: Int32?, session: Int32?) -> AttemptExit? {
        remove(attemptID)
        return nil
    }
}

/// A binary min-heap of timed items; ties keep insertion order.
struct GridEventHeap<Item> {
    var items: [(time: Double, seq: Int, item: Item)] = []
    var seq = 0

    var peekTime: Double? { items.first?.time }
    var count: Int { items.count }

    func less(_ a: Int, _ b: Int) -> Bool {
        items[a].time < items[b].time || (items[a].time == items[b].time && items[a].seq < items[b].seq)
    }

    mutating func push(_ time: Double, _ item: Item) {
        items.append((time, seq, item))
        seq += 1
        var i = items.count - 1
        while i > 0 {
            let p = (i - 1) / 2
            if !less(i, p) { break }
            items.swapAt(i, p)
            i = p
        }
    }

    mutating func pop() -> (Double, Item)? {
        guard !items.isEmpty else { return nil }
        items.swapAt(0, items.count - 1)
        let top = items.removeLast()
        var i = 0
        while true {
            let l = 2 * i + 1, r = l + 1
            var m = i
            if l < items.count, less(l, m) { m = l }
            if r < items.count, less(r, m) { m = r }
            if m == i { break }
            items.swapAt(i, m)
            i = m
        }
        return (top.time, top.item)
    }
}
