import BatonLaunch
import BatonProtocol
import BatonRuns
import BatonSystem
import Foundation

/// Settings of one grid run's scheduler.
public struct GridSchedulerOptions: Sendable {
    /// A node whose ranks sent no heartbeat for this long is lost (default 10 s, as `baton launch --heartbeat-timeout`).
    var heartbeatTimeout: Double = 10
    /// How long a wrapper keeps running without hearing a lease renewal. When a loss is seen
    /// only as silence, the head waits this long before it hands the config to another
    /// node, so the lost attempt has fenced itself first.
    var lease: Double = 10
    /// A dead node is health-checked again after this long (doubled by each failed check in
    /// a row, at most 16 times: `ProbeBackoff`, as a launch's), and re-admitted if it passes.
    var coolDown: Double = 60
    /// Health checks that may fail in a row on every node before the run gives up.
    var maxFailedChecks: Int = 3
    var nodesPerConfig = 1
    var ranksPerNode = 1
    var maxRetries = 2
    var timeout: Double?
    public var objective: GridObjective?
    /// The spec's `scheduler:` (nil: fifo, every config runs to its end).
    var earlyStop: GridEarlyStop?
    /// `--on-corrupt-checkpoint rollback`: restores a config's checkpoint directory from a
    /// snapshot when its command exits with `JobContract.corruptCheckpointExit`; returns
    /// what it did for the event, or nil when no snapshot holds a verified checkpoint.
    public var rollback: (@Sendable (_ configID: String) -> String?)?
    /// Where configs' checkpoints, logs and metrics live; nil in simulation.
    var runDir: String?
    /// How often the live summary is reported (executor clock seconds).
    var summaryInterval: Double = 10

    init() {}
}

/// Counts the live summary shows.
struct GridSummary: Sendable {
    var pending = 0, running = 0, done = 0, failed = 0, stopped = 0
    var healthy = 0, suspect = 0, dead = 0
    /// Estimated seconds left, nil until a config has finished.
    var eta: Double?
    var elapsed: Double = 0

    var line: String {
        var s = "\(done) done, \(running) running, \(pending) pending, \(failed) failed"
        if stopped > 0 { s += ", \(stopped) stopped early" }
        s += " | nodes \(healthy) healthy"
        if suspect > 0 { s += ", \(suspect) suspect" }
        if dead > 0 { s += ", \(dead) dead" }
        if let eta { s += " | ETA \(formatDuration(eta))" }
        return s
    }
}

/// How a run of the scheduler ended.
public enum GridOutcome: Sendable, Equatable {
    /// Every config is done, failed or stopped early (`scheduler:`; not counted here).
    case finished(done: Int, failed: Int)
    /// `stop` was asked for; running attempts were stopped and will resume on `--resume`.
    case stopped
    /// Every node is dead and failed its health checks.
    case noNodes
}

/// The grid scheduler: one config per node (or per `nodesPerConfig` nodes), a free node
/// takes the next config, lost nodes' configs go back to the head of the queue with
/// `BATON_RESUME=1`, failing configs are retried on another node, dead nodes come back
/// after a cool-down if a health check passes.
///
/// It runs on one thread, with the store's commits on a second (`GridCommitPipeline`).
/// Each step: wait for executor events, update the state, decide dispatches, hand every
/// resulting transition to the store in one transaction, and act on the step's starts and
/// stops only once that commit has returned; the next step is polled and decided while
/// this one is written.
final class GridScheduler {
    struct ConfigState {
        var id: String
        var paramsJSON: String
        var argv: [String]
        var summary: String
        var status: GridConfigStatus
        var attempts: Int
        var failures: Int
        var avoid: [Int] = []
    }

    struct NodeState {
        var name: String
        var state: GridNodeState
        var busy: Int64?
        var since: Double
        var losses: Int
        var failedChecks = 0
    }

    struct Running {
        var attemptID: Int64
        var config: Int
        var number: Int
        var nodes: [Int]
        var startedAt: Double
        /// The numeric fields of the last metrics line it reported.
        var metrics: [String: Double] = [:]
    }

    enum Action {
        case start(AttemptLaunch)
        case terminate(Int64, String)
    }

    let options: GridSchedulerOptions
    let executor: ConfigExecutor
    let store: GridStore
    var configs: [ConfigState] = []
    var nodes: [NodeState] = []
    var running: [Int64: Running] = [:]
    /// When each node last sent a heartbeat for the attempt it runs (`nodes[n].busy`). Kept
    /// flat, by node, so a heartbeat is one store and the liveness sweep one pass over an
    /// array of doubles: at 10,000 nodes the head takes 10,000 heartbeats per interval.
    var lastBeat: [Double] = []
    var nextAttemptID: Int64
    var queueFront: [Int] = []  // stack: last element is the head of the queue
    var queueBack: [Int] = []
    var queueBackHead = 0
    var leaseWaits: [(config: Int, readyAt: Double)] = []
    var freeStack: [Int] = []
    var ops: [GridStoreOp] = []
    var actions: [Action] = []
    /// The store's writer, and what waits for the commit it has in flight.
    let pipeline: GridCommitPipeline
    var committing: (actions: [Action], done: [(id: String, objective: Double?)]) = ([], [])
    var injected: [ExecutorEvent] = []
    var nextSweep = 0.0
    var nextSummary = 0.0
    var startedAt = 0.0
    var doneDurationSum = 0.0
    var doneDurationCount = 0
    /// The spec's early-stopping rule (nil: fifo). Fed every progress report of a running
    /// config; its decisions are committed with the report before they are acted on.
    var policy: (any EarlyStopPolicy)?

    /// Called for every event as it is committed (progress lines).
    var onEvent: ((GridEventRecord) -> Void)?
    /// Called for every config that finished done, once the commit recording it returned,
    /// with its objective (milestone snapshots: the snapshot then holds the result).
    var onConfigDone: ((_ id: String, _ objective: Double?) -> Void)?
    var doneSinceCommit: [(id: String, objective: Double?)] = []
    /// Called every `summaryInterval` with the live counts.
    var onSummary: ((GridSummary) -> Void)?
    /// Polled every step; true stops the run (`baton grid stop`, SIGINT).
    var shouldStop: () -> Bool = { false }
    /// Attempts started (the benchmark's dispatch count).
    private(set) var dispatches = 0
    /// Tests: after this many dispatches the loop ends as if the head were SIGKILLed
    /// (committed state stays, nothing more is written).
    var crashAfterDispatches: Int?
    /// Tests: the same once the executor's clock reaches this time (mid-rung, between
    /// dispatches).
    var crashAt: Double?

    struct SimulatedHeadCrash: Error {}

    /// - Parameters:
    ///   - configs: every config with its stored status; pending ones are queued in the
    ///     order given, `resumeFirst` ones ahead of the rest.
    ///   - nodeStates: stored node states by name (resume); absent names start healthy.
    init(
        executor: ConfigExecutor, store: GridStore, options: GridSchedulerOptions, configs: [GridConfigRecord],
        resumeFirst: [String] = [], nodeStates: [String: GridNodeRecord] = [:], nextAttemptID: Int64 = 1,
        progress: [GridProgressRecord] = []
    ) {
        self.executor = executor
        self.store = store
        pipeline = GridCommitPipeline(store: store)
        self.options = options
        self.nextAttemptID = nextAttemptID
        let now = executor.now()
        for c in configs {
            self.configs.append(
                ConfigState(
                    id: c.id, paramsJSON: c.paramsJSON, argv: c.argv,
                    summary: c.params.map { "\($0.0)=\($0.1)" }.joined(separator: " "),
                    status: c.status == .running ? .pending : c.status, attempts: c.attempts, failures: c.failures))
        }
        let first = Set(resumeFirst)
        var front: [Int] = []
        for (i, c) in self.configs.enumerated() where c.status == .pending {
            if first.contains(c.id) { front.append(i) } else { queueBack.append(i) }
        }
        queueFront = front.reversed()
        if options.earlyStop?.dispatchOrder == .shuffled {
            queueBack = Self.shuffled(queueBack, ids: self.configs.map(\.id))
        }
        for (i, name) in executor.nodeNames.enumerated() {
            let stored = nodeStates[name]
            let state: GridNodeState = stored?.state == .dead ? .dead : .healthy
            nodes.append(NodeState(name: name, state: state, busy: nil, since: stored?.since ?? now, losses: stored?.losses ?? 0))
            ops.append(.node(name: name, position: i, state: state, since: nodes[i].since, losses: nodes[i].losses))
        }
        for i in nodes.indices.reversed() where nodes[i].state == .healthy { freeStack.append(i) }
        lastBeat = Array(repeating: now, count: nodes.count)
        policy = EarlyStopPolicies.make(options.earlyStop, objective: options.objective)
        // A resumed run: the committed reports, in the order they were taken, rebuild the
        // rule's state (its decisions are already in the store and in the configs' status).
        for p in progress { _ = policy?.decide(ProgressReport(config: p.configID, time: p.time, value: p.value)) }
    }

    // MARK: Queue

    /// Config indices in the early-stopping order `shuffled`: sorted by a hash of each id, a
    /// permutation that depends only on the ids (the same after `--resume`).
    static func shuffled(_ indices: [Int], ids: [String]) -> [Int] {
        indices.map { (GridHash.hash("order/" + ids[$0]), $0) }.sorted { $0 < $1 }.map(\.1)
    }

    var queueIsEmpty: Bool { queueFront.isEmpty && queueBackHead == queueBack.count }
    var queueCount: Int { queueFront.count + queueBack.count - queueBackHead }

    func popQueue() -> Int? {
        if let c = queueFront.popLast() { return c }
        if queueBackHead < queueBack.count {
            queueBackHead += 1
            return queueBack[queueBackHead - 1]
        }
        return nil
    }

    func pushQueueFront(_ c: Int) { queueFront.append(c) }

    // MARK: Run loop

    /// Runs until every config is done or failed, a stop is asked for, or no node is left.
    func run() throws -> GridOutcome {
        startedAt = executor.now()
        nextSweep = startedAt
        nextSummary = startedAt + options.summaryInterval
        event(startedAt, .run, nil, nil, "grid started: \(configs.count) configs, \(queueCount) to run, \(nodes.count) nodes")
        // `now` is the time of the latest poll: every event due by then has been handled,
        // so the liveness sweep never blames a node for heartbeats still in the queue.
        var now = startedAt
        while true {
            if shouldStop() {
                try settle()
                stopAll(now)
                try flush()
                return .stopped
            }
            checkTimers(now)
            dispatch(now)
            try submit()
            if let limit = crashAfterDispatches, dispatches >= limit {
                try pipeline.wait()
                throw SimulatedHeadCrash()
            }
            if let limit = crashAt, now >= limit {
                // As if SIGKILLed right after this step's commit: what it committed stays,
                // nothing of it is acted on.
                try pipeline.wait()
                throw SimulatedHeadCrash()
            }
            if queueIsEmpty && running.isEmpty && leaseWaits.isEmpty && injected.isEmpty {
                try settle()  // what is still to act on can only stop attempts, never start one
                let done = configs.filter { $0.status == .done }.count
                let failed = configs.filter { $0.status == .failed }.count
                let stopped = configs.filter { $0.status == .stopped }.count
                event(now, .run, nil, nil, "grid finished: \(done) done, \(failed) failed" + (policy == nil ? "" : ", \(stopped) stopped early"))
                try flush()
                onSummary?(summary(now))
                return .finished(done: done, failed: failed)
            }
            if running.isEmpty && !nodes.contains(where: { $0.state != .dead })
                && nodes.allSatisfy({ $0.failedChecks >= options.maxFailedChecks })
            {
                event(now, .run, nil, nil, "no node is left: every node is dead and failed \(options.maxFailedChecks) health checks")
                try flush()
                return .noNodes
            }
            // While a commit is in flight, take only what is already due (the next step's
            // decisions overlap the commit); otherwise wait for events or the next deadline.
            let events = injected.isEmpty ? executor.poll(until: pipeline.inFlight ? now : nextDeadline(now)) : []
            now = executor.now()
            let batch = injected + events
            injected.removeAll()
            for e in batch { handle(e, now) }
            if now >= nextSummary {
                nextSummary = now + options.summaryInterval
                onSummary?(summary(now))
            }
        }
    }

    func nextDeadline(_ now: Double) -> Double {
        var d = min(nextSweep, nextSummary)
        for w in leaseWaits { d = min(d, w.readyAt) }
        if nodes.contains(where: { $0.state == .dead }) {
            for n in nodes where n.state == .dead { d = min(d, n.since + checkWait(n)) }
        }
        return max(d, now)
    }

    /// Hands this step's transitions to the store's writer (`GridCommitPipeline`), then acts
    /// on the previous step's, whose commit has returned: the next step is decided while
    /// this one is being written, and nothing is acted on before it is committed.
    func submit() throws {
        try pipeline.wait()
        let ready = committing
        committing = (actions, doneSinceCommit)
        actions.removeAll(keepingCapacity: true)
        doneSinceCommit.removeAll()
        if !ops.isEmpty {
            pipeline.begin(ops)
            ops = []
        }
        act(ready)
        if !pipeline.inFlight {
            // Nothing was recorded this step: nothing to wait for.
            let this = committing
            committing = ([], [])
            act(this)
        }
    }

    /// Waits for the commit in flight and acts on it: everything decided so far is then
    /// committed and done.
    func settle() throws {
        try pipeline.wait()
        let ready = committing
        committing = ([], [])
        act(ready)
    }

    /// Commits the step's transitions, then acts on them (and on anything still waiting).
    func flush() throws {
        try submit()
        try settle()
    }

    func act(_ step: (actions: [Action], done: [(id: String, objective: Double?)])) {
        for d in step.done { onConfigDone?(d.id, d.objective) }
        for action in step.actions {
            switch action {
            case .start(let launch):
                do {
                    try executor.start(launch)
                    // Liveness counts from when the attempt really started: after the
                    // commit, which can take a while when many transitions share it (and
                    // the next step was decided, and its sweep run, meanwhile).
                    let t = executor.now()
                    if let r = running[launch.attemptID] {
                        for n in r.nodes { lastBeat[n] = t }
                    }
                } catch {
                    injected.append(
                        .exited(attemptID: launch.attemptID, AttemptExit(code: 127, lastLines: ["baton: could not start: \(error)"])))
                }
            case .terminate(let id, let reason):
                executor.terminate(attemptID: id, reason: reason)
            }
        }
    }

    // MARK: Events

    func handle(_ e: ExecutorEvent, _ t: Double) {
        switch e {
        case .started(let id, let pid, let session):
            if running[id] != nil { ops.append(.attemptProcess(id: id, pid: pid, session: session)) }
        case .heartbeat(let id, let node):
            // A heartbeat counts only for the attempt the node runs now (a late line of an
            // attempt that was stopped says nothing about the node's current one).
            guard node >= 0, node < nodes.count, nodes[node].busy == id else { return }
            lastBeat[node] = t
            if nodes[node].state == .suspect {
                setNode(node, .healthy, t)
                event(t, .node, nil, nodes[node].name, "node \(nodes[node].name) is answering again")
            }
        case .exited(let id, let exit):
            guard let r = running.removeValue(forKey: id) else { return }
            for n in r.nodes { release(n) }
            finishAttempt(r, exit, t)
        case .nodeLost(let id, let node, let reason, let fenced):
            guard let r = running[id] else { return }
            lose(r, lostNodes: [node], reason: reason, fenced: fenced, t)
        case .metrics(let id, let values):
            guard running[id] != nil else { return }  // a late line of an attempt already over
            running[id]!.metrics.merge(values) { $1 }
            progress(running[id]!, values, t)
        }
    }

    /// A running config's metrics line: when it carries the rule's time attribute and the
    /// objective, the rule takes it; the report and any decision are committed in this
    /// step, and a stop is acted on only after that commit.
    func progress(_ r: Running, _ values: [String: Double], _ t: Double) {
        guard policy != nil, let objective = options.objective, let timeAttr = options.earlyStop?.timeAttr,
              let time = values[timeAttr], let value = values[objective.metric], time.isFinite, value.isFinite
        else { return }
        let c = configs[r.config]
        var record = GridProgressRecord(configID: c.id, attemptID: r.attemptID, time: time, value: value, at: t)
        switch policy!.decide(ProgressReport(config: c.id, time: time, value: value)) {
        case .ignored: return
        case .recorded: ops.append(.progress(record))
        case .decided(let d):
            record.decision = d.stop ? .stop : .continue
            record.rung = d.rung
            record.milestone = d.milestone
            record.cutoff = d.cutoff
            record.peers = d.peers
            record.reason = d.reason
            ops.append(.progress(record))
            if d.stop {
                stopEarly(r, d, t)
            } else if d.rung != nil {
                event(t, .promoted, c.id, nil, "\(c.id) \(d.reason)")
            }
        }
    }

    /// The rule stopped a config: it ends as `stopped` (with the rung, its value and the
    /// cutoff it missed), its node is free for the next config in this same step, and its
    /// processes are stopped by the executor's normal teardown once this is committed
    /// (before any new attempt of the step starts on the node).
    func stopEarly(_ r: Running, _ d: EarlyStopDecision, _ t: Double) {
        running.removeValue(forKey: r.attemptID)
        for n in r.nodes { release(n) }
        var c = configs[r.config]
        c.status = .stopped
        configs[r.config] = c
        let names = r.nodes.map { nodes[$0].name }.joined(separator: ",")
        ops.append(.endAttempt(id: r.attemptID, endedAt: t, status: .stopped, exitCode: nil, reason: d.reason))
        ops.append(
            .config(
                id: c.id, status: .stopped, attempts: c.attempts, failures: c.failures,
                metrics: r.metrics.isEmpty ? nil : GridStore.metricsJSON(r.metrics), objective: nil, lastOutput: nil, finishedAt: t))
        actions.append(.terminate(r.attemptID, "stopped early"))
        event(t, .earlyStop, c.id, names, "\(c.id) on \(names) \(d.reason)")
    }

    func finishAttempt(_ r: Running, _ exit: AttemptExit, _ t: Double) {
        var c = configs[r.config]
        let nodeNames = r.nodes.map { nodes[$0].name }.joined(separator: ",")
        if exit.succeeded {
            c.status = .done
            let objective = options.objective.flatMap { exit.metrics[$0.metric] }
            ops.append(.endAttempt(id: r.attemptID, endedAt: t, status: .done, exitCode: 0, reason: "exit code 0"))
            ops.append(
                .config(
                    id: c.id, status: .done, attempts: c.attempts, failures: c.failures,
                    metrics: GridStore.metricsJSON(exit.metrics), objective: objective, lastOutput: nil, finishedAt: t))
            if onConfigDone != nil { doneSinceCommit.append((c.id, objective)) }
            doneDurationSum += t - r.startedAt
            doneDurationCount += 1
            let m = options.objective.flatMap { o in exit.metrics[o.metric].map { " \(o.metric)=\(GridFormat.metric($0))" } } ?? ""
            event(t, .finished, c.id, nodeNames,
                "finished \(c.id) on \(nodeNames) in \(formatDuration(t - r.startedAt)) (attempt \(r.number))\(m)")
        } else {
            c.failures += 1
            let output = exit.lastLines.suffix(20).joined(separator: "\n")
            var reason = exit.text
            if exit.code == JobContract.corruptCheckpointExit, let rollback = options.rollback {
                let did = rollback(c.id) ?? "no snapshot holds a verified checkpoint of it"
                reason += " (checkpoint unreadable; \(did))"
                event(t, .rollback, c.id, nodeNames, "\(c.id): its checkpoint is unreadable; \(did)")
            }
            ops.append(.endAttempt(id: r.attemptID, endedAt: t, status: .failed, exitCode: exit.code, reason: reason))
            if c.failures > options.maxRetries {
                c.status = .failed
                ops.append(
                    .config(
                        id: c.id, status: .failed, attempts: c.attempts, failures: c.failures,
                        metrics: exit.metrics.isEmpty ? nil : GridStore.metricsJSON(exit.metrics), objective: nil,
                        lastOutput: output, finishedAt: t))
                event(t, .failed, c.id, nodeNames,
                    "failed \(c.id) on \(nodeNames): \(reason); no retries left (\(c.failures) failures)")
            } else {
                c.status = .pending
                c.avoid = Array(Set(c.avoid + r.nodes))
                ops.append(
                    .config(
                        id: c.id, status: .pending, attempts: c.attempts, failures: c.failures, metrics: nil, objective: nil,
                        lastOutput: output, finishedAt: nil))
                pushQueueFront(r.config)
                event(t, .retry, c.id, nodeNames,
                    "\(c.id) failed on \(nodeNames): \(reason); retry \(c.failures) of \(options.maxRetries) on another node")
            }
        }
        configs[r.config] = c
    }

    /// A node of a running attempt is gone: the attempt is over, the node is dead, and the
    /// config goes back to the head of the queue (at once when `fenced`, else after the lease).
    func lose(_ r: Running, lostNodes: [Int], reason: String, fenced: Bool, _ t: Double) {
        running.removeValue(forKey: r.attemptID)
        var c = configs[r.config]
        for n in lostNodes {
            nodes[n].busy = nil
            nodes[n].losses += 1
            nodes[n].failedChecks = 0
            setNode(n, .dead, t)
            event(t, .nodeLost, c.id, nodes[n].name, "node \(nodes[n].name) lost: \(reason)")
        }
        for n in r.nodes where !lostNodes.contains(n) { release(n) }
        let names = lostNodes.map { nodes[$0].name }.joined(separator: ",")
        ops.append(.endAttempt(id: r.attemptID, endedAt: t, status: .lost, exitCode: nil, reason: "node \(names) lost: \(reason)"))
        c.status = .pending
        ops.append(
            .config(id: c.id, status: .pending, attempts: c.attempts, failures: c.failures, metrics: nil, objective: nil,
                lastOutput: nil, finishedAt: nil))
        configs[r.config] = c
        // Stop whatever is left of the job (ranks on other nodes, a hung rank, mpirun).
        actions.append(.terminate(r.attemptID, "node \(names) lost"))
        if fenced {
            pushQueueFront(r.config)
            event(t, .handoff, c.id, names, "\(c.id) back to the head of the queue; it resumes from its checkpoint")
        } else {
            leaseWaits.append((r.config, t + options.lease))
            event(t, .handoff, c.id, names,
                "\(c.id) waits out the \(formatDuration(options.lease)) lease, then resumes from its checkpoint on another node")
        }
    }

    // MARK: Timers

    func checkTimers(_ t: Double) {
        if t >= nextSweep {
            nextSweep = t + max(0.05, min(options.heartbeatTimeout / 4, 1))
            sweep(t)
        }
        if !leaseWaits.isEmpty {
            let ready = leaseWaits.filter { $0.readyAt <= t }.sorted { $0.readyAt > $1.readyAt }
            if !ready.isEmpty {
                leaseWaits.removeAll { $0.readyAt <= t }
                for w in ready { pushQueueFront(w.config) }
            }
        }
        for i in nodes.indices where nodes[i].state == .dead && t >= nodes[i].since + checkWait(nodes[i]) {
            let (problem, seconds) = executor.healthCheck(node: i)
            let took = formatDuration(seconds, .seconds(digits: 2))
            if let problem {
                nodes[i].failedChecks += 1
                nodes[i].since = t
                ops.append(.node(name: nodes[i].name, position: i, state: .dead, since: t, losses: nodes[i].losses))
                event(t, .nodeCheck, nil, nodes[i].name,
                      "node \(nodes[i].name) failed the health gate (\(took)): \(problem); next check in \(formatDuration(checkWait(nodes[i]), .argument))")
            } else {
                nodes[i].failedChecks = 0
                setNode(i, .healthy, t)
                release(i)
                event(t, .nodeReadmitted, nil, nodes[i].name, "node \(nodes[i].name) re-admitted: passed the health gate (\(took)) after --cool-down")
            }
        }
    }

    /// How long a dead node waits for its next check: the cool-down, doubled by each check
    /// it failed in a row (`ProbeBackoff`, the launch's back-off).
    func checkWait(_ n: NodeState) -> Double { ProbeBackoff.wait(coolDown: options.coolDown, failedChecks: n.failedChecks) }

    /// Liveness: silent nodes become suspect at half the timeout and lost at the timeout;
    /// attempts past the spec's `timeout` are stopped and count as a failure.
    func sweep(_ t: Double) {
        // One pass over the busy nodes (a node runs at most one attempt, `busy`), silent
        // ones grouped by their attempt.
        var silentByAttempt: [Int64: [Int]] = [:]
        for n in nodes.indices {
            guard let id = nodes[n].busy else { continue }
            let silent = t - lastBeat[n]
            if silent > options.heartbeatTimeout {
                silentByAttempt[id, default: []].append(n)
            } else if silent > options.heartbeatTimeout / 2, nodes[n].state == .healthy {
                setNode(n, .suspect, t)
                event(t, .node, nil, nodes[n].name,
                    "node \(nodes[n].name) suspect: no heartbeat for \(formatDuration(silent))")
            }
        }
        var lost: [(Running, [Int])] = []
        for (id, silentNodes) in silentByAttempt {
            guard let r = running[id] else { continue }
            lost.append((r, r.nodes.filter { silentNodes.contains($0) }))
        }
        var timedOut: [Running] = []
        if let limit = options.timeout {
            for r in running.values where silentByAttempt[r.attemptID] == nil && t - r.startedAt > limit { timedOut.append(r) }
        }
        for (r, silent) in lost.sorted(by: { $0.0.attemptID < $1.0.attemptID }) {
            lose(r, lostNodes: silent,
                reason: "no heartbeat for \(formatDuration(options.heartbeatTimeout)) (crashed, cut off or hung)", fenced: false, t)
        }
        for r in timedOut.sorted(by: { $0.attemptID < $1.attemptID }) {
            running.removeValue(forKey: r.attemptID)
            for n in r.nodes { release(n) }
            actions.append(.terminate(r.attemptID, "timeout"))
            finishAttempt(r, AttemptExit(code: nil, lastLines: ["baton: stopped after the spec's timeout of \(formatDuration(options.timeout!))"]), t)
        }
    }

    // MARK: Dispatch

    func release(_ n: Int) {
        nodes[n].busy = nil
        if nodes[n].state != .dead { freeStack.append(n) }
    }

    func setNode(_ n: Int, _ state: GridNodeState, _ t: Double) {
        nodes[n].state = state
        nodes[n].since = t
        ops.append(.node(name: nodes[n].name, position: n, state: state, since: t, losses: nodes[n].losses))
    }

    /// Takes a free node, preferring ones the config has not failed on. Returns nil when
    /// only avoided nodes are free but another healthy node exists (the config waits for it).
    func takeNodes(for c: ConfigState, count k: Int) -> [Int]? {
        var taken: [Int] = []
        var avoided: [Int] = []
        while taken.count < k, let n = freeStack.popLast() {
            // Entries go stale when a node dies or is taken by another path; skip those.
            guard nodes[n].state != .dead, nodes[n].busy == nil, !taken.contains(n), !avoided.contains(n) else { continue }
            if c.avoid.contains(n) { avoided.append(n) } else { taken.append(n) }
        }
        if taken.count < k, !avoided.isEmpty {
            // Wait for nodes it has not failed on only while enough of them are alive to
            // place it; otherwise it would wait forever.
            let othersHealthy = nodes.indices.lazy.filter { !c.avoid.contains($0) && self.nodes[$0].state != .dead }.count >= k
            if !othersHealthy {
                while taken.count < k, let n = avoided.popLast() { taken.append(n) }
            }
        }
        if taken.count < k {
            freeStack.append(contentsOf: avoided.reversed())
            freeStack.append(contentsOf: taken.reversed())
            return nil
        }
        freeStack.append(contentsOf: avoided.reversed())
        return taken
    }

    func dispatch(_ t: Double) {
        let k = options.nodesPerConfig
        var deferred: [Int] = []
        while !freeStack.isEmpty, let ci = popQueue() {
            guard let chosen = takeNodes(for: configs[ci], count: k) else {
                deferred.append(ci)
                if configs[ci].avoid.isEmpty { break }  // not enough free nodes at all
                continue
            }
            start(ci, on: chosen, t)
        }
        for ci in deferred.reversed() { pushQueueFront(ci) }
    }

    func start(_ ci: Int, on chosen: [Int], _ t: Double) {
        var c = configs[ci]
        let id = nextAttemptID
        nextAttemptID += 1
        c.attempts += 1
        c.status = .running
        configs[ci] = c
        let number = c.attempts
        let resumed = number > 1
        for n in chosen {
            nodes[n].busy = id
            // Silence counts from when the attempt really starts (`act`, once its commit has
            // returned): until then no sweep can find the node silent, however long the
            // commit takes.
            lastBeat[n] = .infinity
        }
        running[id] = Running(attemptID: id, config: ci, number: number, nodes: chosen, startedAt: t)
        let names = chosen.map { nodes[$0].name }.joined(separator: ",")
        ops.append(.insertAttempt(id: id, configID: c.id, number: number, nodes: names, startedAt: t, resumed: resumed))
        ops.append(.config(id: c.id, status: .running, attempts: number, failures: c.failures, metrics: nil, objective: nil,
            lastOutput: nil, finishedAt: nil))
        event(t, .started, c.id, names,
            "started \(c.id) on \(names) (attempt \(number)\(resumed ? ", resumed" : "")) \(c.summary)")
        dispatches += 1

        var logPath: String?
        var metricsPath: String?
        var checkpointDir: String?
        if let runDir = options.runDir {
            let run = RunDirectory(runDir)
            checkpointDir = run.configCheckpoint(c.id)
            metricsPath = run.configAttemptMetrics(c.id, attempt: number)
            logPath = run.configAttemptLog(c.id, attempt: number)
        }
        actions.append(
            .start(
                AttemptLaunch(
                    attemptID: id, configID: c.id, attempt: number, argv: c.argv, nodes: chosen,
                    ranksPerNode: options.ranksPerNode, paramsJSON: c.paramsJSON, resume: resumed, checkpointDir: checkpointDir,
                    logPath: logPath, metricsPath: metricsPath,
                    timeout: options.timeout)))
    }

    func stopAll(_ t: Double) {
        for r in running.values.sorted(by: { $0.attemptID < $1.attemptID }) {
            let c = configs[r.config]
            ops.append(.endAttempt(id: r.attemptID, endedAt: t, status: .stopped, exitCode: nil, reason: "baton grid stop"))
            ops.append(.config(id: c.id, status: .pending, attempts: c.attempts, failures: c.failures, metrics: nil,
                objective: nil, lastOutput: nil, finishedAt: nil))
            configs[r.config].status = .pending
            actions.append(.terminate(r.attemptID, "stop"))
        }
        running.removeAll()
        event(t, .run, nil, nil, "grid stopped; `baton grid --resume` continues it (stopped configs resume from their checkpoints)")
    }

    // MARK: Reporting

    func event(_ t: Double, _ kind: GridEventKind, _ config: String?, _ node: String?, _ text: String) {
        ops.append(.event(time: t, kind: kind, configID: config, node: node, text: text))
        onEvent?(GridEventRecord(time: t, kind: kind, configID: config, node: node, text: text))
    }

    func summary(_ t: Double) -> GridSummary {
        var s = GridSummary()
        for c in configs {
            switch c.status {
            case .pending: s.pending += 1
            case .running: s.running += 1
            case .done: s.done += 1
            case .failed: s.failed += 1
            case .stopped: s.stopped += 1
            }
        }
        for n in nodes {
            switch n.state {
            case .healthy: s.healthy += 1
            case .suspect: s.suspect += 1
            case .dead: s.dead += 1
            }
        }
        s.elapsed = t - startedAt
        if doneDurationCount > 0 {
            let mean = doneDurationSum / Double(doneDurationCount)
            var work = Double(s.pending) * mean
            for r in running.values { work += max(0, mean - (t - r.startedAt)) }
            let lanes = max(1, (s.healthy + s.suspect) / max(1, options.nodesPerConfig))
            s.eta = work / Double(lanes)
        }
        return s
    }

    /// Node names with the attempt they run (for tests and status).
    var nodeStates: [(name: String, state: GridNodeState)] { nodes.map { ($0.name, $0.state) } }
}
