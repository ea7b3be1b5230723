import BatonProtocol
import BatonRuns
import BatonSystem
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Events from the threads that read mpirun's output, for the runner's one loop: the
/// readers only post; everything the head decides and does happens on the runner's thread.
final class AttemptInbox: @unchecked Sendable {
    private let queue = Locked<[AttemptEvent]>([])
    private let wake = DispatchSemaphore(value: 0)

    func post(_ event: AttemptEvent) {
        queue.with { $0.append(event) }
        wake.signal()
    }

    func drain() -> [AttemptEvent] {
        queue.with { q in defer { q.removeAll(keepingCapacity: true) }; return q }
    }

    /// Wakes the loop with nothing to read (mpirun has ended).
    func wakeUp() { wake.signal() }

    /// Returns when something was posted, or at `deadline` (monotonic seconds).
    func wait(until deadline: Double) {
        let seconds = deadline - monotonicNow()
        guard seconds > 0 else { return }
        _ = wake.wait(timeout: .now() + seconds)
    }
}

/// Runs one attempt: starts the job, feeds what it sees to a `LossClassifier`, and carries
/// out what the classifier decides (commit, teardown, fence, sweep). The effects of an
/// attempt live here and nowhere else; the judgement lives in the classifier. One thread
/// (the caller's) runs the loop; the output readers and the lease writer are the only other
/// threads, and they only post events or write leases.
final class AttemptRunner {
    let supervisor: LaunchSupervisor
    let plan: LaunchPlan
    let hosts: HostList
    var options: LaunchOptions { supervisor.options }
    var console: LaunchConsole { supervisor.console }
    var attemptNo: Int { plan.attempt }

    private var classifier: LossClassifier
    private let inbox = AttemptInbox()
    private var transcript: TranscriptWriter?
    private var record: AttemptRecord
    private let start: Double
    private let nodeOfRank: [Int: String]
    private var agents: AgentWatch
    private var sweep: AttemptSweep
    /// Agent ends already told to the classifier.
    private var agentEndsTold = Set<String>()
    private var lastAgentScan = 0.0
    private var abortScanned = false
    private var interruptsTold = 0
    private var lastScores = 0.0
    /// The head SIGKILLed mpirun itself (a teardown past its window): the daemons that
    /// still hold mpirun's output open belong to a job that is over, so its last lines are
    /// waited for briefly, not for 2 s twice (which was 4 s of every stopped grid config
    /// on --local, measured: a config stopped early held its node 4.2 s).
    private var killedMpirun = false
    private var outputWait: Double { killedMpirun ? 0.3 : 2 }
    /// The attempt's processes, as the gone check just listed them for the sweep that follows.
    private var listed: [AttemptSweep.Leftover]?
    /// Leases: renewed every heartbeat interval while the head trusts the job.
    private let leasing = Locked(true)
    /// Ranks whose wrapper said where their stacks are (after a `stacks` request).
    private let stacksWritten = Locked<[Int: String]>([:])
    private let lastRenewal = Locked(0.0)
    /// The pool as the attempt found it, changed by the background gate's verdicts while it
    /// runs (`lookAtPool`); the supervisor takes it back at the end.
    private(set) var pool: HostPool
    private var lastPoolLook = 0.0

    init(supervisor: LaunchSupervisor, plan: LaunchPlan, hosts: HostList, pool: HostPool, consumedAtStart: Int?) {
        self.supervisor = supervisor
        self.plan = plan
        self.hosts = hosts
        self.pool = pool
        start = monotonicNow()
        let o = supervisor.options
        var settings = LossClassifier.Settings(heartbeatTimeout: o.heartbeatTimeout, startupTimeout: o.startupTimeout,
                                               nodeLossWindow: o.nodeLossWindow, grace: plan.grace)
        if o.stragglers.policy != .off { settings.stragglers = o.stragglers }
        if o.hang.timeout != .off {
            settings.progress = o.hang
            settings.progress?.steppedBefore = supervisor.steppedRanks.get
        }
        // Only a world below MAX can grow.
        if hosts.hosts.count < pool.range.max { settings.grow = o.grow }
        classifier = LossClassifier(hosts: hosts, settings: settings, start: start)
        record = AttemptRecord(attempt: plan.attempt, nodes: hosts.names, worldSize: hosts.totalSlots)
        record.masterPort = plan.contract.masterPort
        record.consumedAtStart = consumedAtStart
        var map: [Int: String] = [:]
        for p in RankPlacement.all(hosts) { map[p.rank] = p.node }
        nodeOfRank = map
        // Replaced by mpirun's own pid once it runs.
        agents = AgentWatch(mpirun: 0, hosts: hosts.names, nodeOfRank: map)
        sweep = AttemptSweep(token: plan.mpirunEnvironment[LaunchPlanner.attemptTokenVariable] ?? "",
                             simulated: { if case .local = o.planner.mode { return true } else { return false } }(),
                             nodeOfRank: map)
        let header = AttemptTranscript(hosts: hosts, settings: settings).headerLine()
        transcript = TranscriptWriter(path: LaunchRunFiles.transcriptPath(plan.contract.runDir, attempt: plan.attempt),
                                      header: header, start: start)
    }

    /// Feeds one event to the classifier (and the transcript) at the runner's time.
    private func feed(_ event: AttemptEvent, at now: Double = monotonicNow()) -> LossAction? {
        let action = classifier.handle(event, at: now)
        // A tick is kept only when it led to a decision (a timeout): a replay ticks at the
        // classifier's deadlines, and the kept tick marks when the head decided.
        if event != .tick || action != nil { transcript?.record(event, at: now) }
        return action
    }

    /// Everything the readers posted since the last call; returns the actions it led to.
    /// `agentsFirst`: when the batch holds a line of mpirun's own (its abort, with the
    /// agents' ends that caused it), the agents are looked at before the batch is judged,
    /// so an agent that ended before the lines were read is stamped with them: judging an
    /// abort's burst of help text took 0.34 s at 128 nodes, and the crashed node's agent,
    /// seen only after it, fell past the classifier's cutoff (no node named, 1 run of 10).
    @discardableResult
    private func pump(agentsFirst: Bool = false) -> [LossAction] {
        let now = monotonicNow()
        let events = inbox.drain()
        var actions: [LossAction] = []
        if agentsFirst && events.contains(where: { if case .mpirun = $0 { return true } else { return false } }) {
            lastAgentScan = now
            actions += scanAgents(at: now)
        }
        return actions + events.compactMap { feed($0, at: now) }
    }

    /// Runs the attempt to its end. Returns its record, the fields of its `attempt-end`
    /// event (committed by the caller with its decision), and the largest consumed count any
    /// rank reported.
    func run() -> (record: AttemptRecord, endFields: [String: Any], consumed: Int?) {
        let job: RunningJob
        do {
            job = try startJob()
        } catch {
            record.outcome = .failedToStart
            record.detail = "\(error)"
            return (record, ["attempt": attemptNo, "outcome": record.outcome.rawValue, "mpirun": "not started"], nil)
        }
        agents = AgentWatch(mpirun: job.pid, hosts: hosts.names, nodeOfRank: nodeOfRank)
        sweep.since = ProcessTable.stat(job.pid)?.startTime ?? 0
        // The loop learns of mpirun's end at once, not at its next look.
        let inbox = self.inbox
        startThread("baton-launch-end") {
            while job.poll() == nil { job.waitForEnd(timeout: 0.5) }
            inbox.wakeUp()
        }
        startLeases(job)
        watch(job)
        return finish(job)
    }

    /// Starts mpirun; its output readers show rank lines and post every line as an event.
    private func startJob() throws -> RunningJob {
        let attemptNo = self.attemptNo
        let shown = options.shownRanks
        let console = self.console
        let inbox = self.inbox
        let pendingMetrics = supervisor.pendingMetrics
        let ranks = nodeOfRank
        let stacksWritten = self.stacksWritten
        return try supervisor.executor.start(plan) { line, _ in
            // The reader's own work: show the line, keep rank 0's metrics for the next
            // commit; the judgement is the runner's.
            if let t = TaggedLine.decode(line) {
                guard ranks[t.rank] == t.node else { return }
                switch t.kind {
                case .out, .err:
                    if shown?.contains(t.rank) ?? true { console.rankLine(node: t.node, rank: t.rank, text: t.payload, isError: t.kind == .err) }
                case .fence: console.message("baton launch: \(t.node):\(t.rank) fenced itself: \(t.payload)")
                case .prog:
                    if case .stacks(let path)? = ProgressMark.parse(t.payload) { stacksWritten.with { $0[t.rank] = path } }
                case .note where !t.payload.hasPrefix("received "): console.message("baton exec \(t.node):\(t.rank): \(t.payload)")
                case .metric where t.rank == 0:
                    let op = LaunchStoreOp.metric(attempt: attemptNo, rank: 0, time: Date().timeIntervalSince1970, line: t.payload)
                    pendingMetrics.with { $0.append(op) }
                    console.metric(t.payload)
                default: break
                }
                inbox.post(.tagged(t))
            } else {
                if !line.isEmpty { console.message("mpirun: \(line)") }
                inbox.post(.mpirun(line))
            }
        }
    }

    private func startLeases(_ job: RunningJob) {
        let leasing = self.leasing
        let lastRenewal = self.lastRenewal
        let attemptNo = self.attemptNo
        let interval = min(plan.heartbeat, plan.lease / 4)
        lastRenewal.with { $0 = monotonicNow() }
        startThread("baton-launch-lease") {
            var seq = 0
            while leasing.get {
                if job.send(.lease(attempt: attemptNo, sequence: seq)) { lastRenewal.with { $0 = monotonicNow() } }
                seq += 1
                usleep(UInt32(interval * 1_000_000))
            }
        }
    }

    private func stopLeases() { leasing.with { $0 = false } }

    /// The loop: events in, actions carried out, until an action ends the attempt.
    private func watch(_ job: RunningJob) {
        var lastStatus = 0.0
        while true {
            var actions = pump(agentsFirst: job.poll() == nil)
            // Ctrl-C / SIGTERM to the head (`LaunchSupervisor.interrupt()`, from a signal thread).
            let interrupts = supervisor.interrupts.get
            while interruptsTold < interrupts {
                interruptsTold += 1
                if let a = feed(.interrupt) { actions.append(a) }
            }
            let abortSaid = classifier.abortSaidAt != nil
            let now = monotonicNow()
            if let status = job.poll() {
                // mpirun has ended. What it said last (its agents' ends too) is judged first,
                // and what that decides is carried out, with what this pass decided before
                // it saw the end: a node crash reads "lost communication ... on node X" and
                // an exit a moment later, often both before this pass (seen under load).
                // mpirun's end is judged only when nothing else is to be done; dropping a
                // decision here left the classifier finished and the loop spinning on an
                // end it would no longer judge (a grid kept a killed node's config running).
                stopLeases()
                actions += waitFor(atMost: outputWait) { job.outputFinished }
                actions += pump()
                actions += scanAgents()
                if actions.isEmpty, let a = feed(.mpirunExited(status)) { actions.append(a) }
            } else if now - lastAgentScan >= 0.03 || (abortSaid && !abortScanned) {
                // The agents: each one's end while its node still ran is a node loss. Looked
                // at every 30 ms, and at once when mpirun says it aborts (it ends the other
                // agents itself soon after).
                abortScanned = abortSaid
                lastAgentScan = now
                actions += scanAgents()
            }
            if now - lastPoolLook >= 0.25 {
                lastPoolLook = now
                actions += lookAtPool()
            }
            if actions.isEmpty, let a = feed(.tick, at: now) { actions.append(a) }
            for action in actions where carryOut(action, job) { return }
            if now - lastStatus >= 1 {
                lastStatus = now
                transcript?.flush()
                if !supervisor.pendingMetrics.get.isEmpty { supervisor.commit([]) }
                let m = classifier.monitor
                console.status(String(format: "[attempt %d] %d/%d ranks live, oldest heartbeat %.1f s", attemptNo, m.liveRanks, hosts.totalSlots, m.oldestHeartbeatAge(at: now)))
                if now - lastScores >= 5 { lastScores = now; writeScores(at: now) }
            }
            // Up to 10 ms between checks, but back at once when a line comes or mpirun ends.
            let wake = min(now + 0.01, classifier.nextDeadline() ?? .infinity)
            if job.poll() == nil { inbox.wait(until: wake) }
        }
    }

    /// Each rank's straggler score and busy fraction, for `baton status` (nothing until every
    /// rank has a window of heartbeats).
    private func writeScores(at now: Double) {
        let scores = classifier.stragglers.scores(at: now)
        guard !scores.isEmpty else { return }
        let busy = classifier.stragglers.busyFractions(at: now)
        let rows: [[String: Any]] = scores.keys.sorted().map { r in
            ["rank": r, "node": nodeOfRank[r] ?? "?", "score": ((scores[r] ?? 1) * 1000).rounded() / 1000,
             "busy": ((busy[r] ?? 0) * 1000).rounded() / 1000]
        }
        guard let data = try? JSONSerialization.data(withJSONObject: rows, options: [.sortedKeys]) else { return }
        try? data.write(to: URL(fileURLWithPath: RunDirectory(plan.contract.runDir).attemptScores(attemptNo)), options: .atomic)
    }

    /// Does what the classifier decided; true when that ended the attempt.
    private func carryOut(_ action: LossAction, _ job: RunningJob) -> Bool {
        switch action {
        case .forwardInterrupt:
            supervisor.event(.interrupt, ["attempt": attemptNo])
            console.message("baton launch: interrupted; SIGINT to every rank, \(formatDuration(plan.grace, .argument)) grace (Ctrl-C again to stop at once)")
            job.send(.signal(attempt: attemptNo, signal: SIGINT))
            return false
        case .stopJob(let atOnce):
            teardown(job, window: atOnce ? options.nodeLossWindow : nil)
            return false
        case .stopAborted:
            // The short window, but the ranks that can still say how they ended may: who said
            // nothing is part of the verdict.
            teardown(job, window: options.nodeLossWindow)
            if case .ended(let v)? = feed(.mpirunExited(job.poll())) {
                apply(v, job)
                commitLoss(v)
            }
            return true
        case .nodesLost(let v, let fence):
            apply(v, job)
            commitLoss(v)
            if let m = v.message { console.message("baton launch: \(m); stopping attempt \(attemptNo)") }
            teardown(job, lost: Set(v.lost.map(\.node)))
            record.mpirunStatus = job.poll()
            switch fence {
            case .none: break
            case .always: waitForFencing()
            case .unlessGone:
                // Gone for sure only when this machine can see the node's processes and none is
                // left; else (ssh to a real host) its wrappers may live on cut off: wait out
                // their lease.
                let left = sweep.leftovers()
                let gone = sweep.nodesAreGone(v.lost.map(\.node), in: left, seenHere: agents.seenHere)
                if gone { listed = left }
                supervisor.event(.agentLossCheck, ["attempt": attemptNo, "gone": gone])
                if !gone { waitForFencing() }
            }
            return true
        case .neverStarted(let v):
            apply(v, job)
            supervisor.event(.neverStarted, ["attempt": attemptNo, "silent": hosts.names.filter { !classifier.monitor.heard.contains($0) }])
            if let m = v.message { console.message("baton launch: attempt \(attemptNo) never started: \(m); stopping it") }
            // The short window: nothing of the job runs that a longer grace would help.
            teardown(job, lost: Set(hosts.names))
            record.mpirunStatus = job.poll()
            waitForFencing()
            return true
        case .ended(let v):
            apply(v, job)
            commitLoss(v)
            return true
        case .hung(let finding):
            handleHang(finding, job)
            return true
        case .requestCheckpoint(let nodes):
            supervisor.event(.checkpointRequest, ["attempt": attemptNo, "nodes": nodes, "reason": "grow"])
            console.message("baton launch: \(nodes.joined(separator: ",")) back in the pool for \(formatDuration(options.grow?.after ?? 0, .argument)) "
                            + "(--grow-after); asking every rank for a checkpoint, to restart with \(pool.range.max) nodes at most")
            job.send(.checkpoint(attempt: attemptNo))
            return false
        case .growGivenUp(let nodes, let reason):
            supervisor.event(.grow, ["attempt": attemptNo, "nodes": nodes, "skipped": reason])
            console.message("baton launch: not growing in attempt \(attemptNo): \(reason); \(nodes.joined(separator: ",")) joins at the next restart")
            return false
        case .grow(let v, let nodes):
            supervisor.event(.grow, ["attempt": attemptNo, "nodes": nodes, "consumed": classifier.monitor.consumed ?? 0])
            if let m = v.message { console.message("baton launch: \(m)") }
            // The ranks have checkpointed: SIGTERM to each through its wrapper, then the
            // node-loss window, not the grace. The first rank to end makes Open MPI 4.1's
            // mpirun abort the job, and an aborting mpirun hangs (measured on the bed: 2 s,
            // then a SIGSEGV in PMIx_Finalize); with the grace, every grow cost it.
            job.send(.signal(attempt: attemptNo, signal: SIGTERM))
            teardown(job, window: options.nodeLossWindow)
            apply(v, job)
            return true
        case .straggler(let f):
            supervisor.event(.straggler, ["attempt": attemptNo, "rank": f.rank, "node": f.node, "score": f.score,
                                          "busy": f.busy, "median": f.median, "rule": f.rule,
                                          "policy": options.stragglers.policy.rawValue])
            console.message("baton launch: straggler: rank \(f.rank) on \(f.node), score \(fixedPoint(f.score, digits: 2)): \(f.rule)"
                            + (options.stragglers.policy == .exclude ? "; leaving \(f.node) out at the next checkpoint" : ""))
            return false
        }
    }

    /// A hang: every rank's stacks first (the job still as it hung), then the culprit and
    /// the decision committed, then the job stopped.
    private func handleHang(_ f: HangFinding, _ job: RunningJob) {
        console.message("baton launch: rank \(f.rank) on \(f.node) made no progress for \(formatDuration(f.stalledFor, .seconds(digits: 1))) "
                        + "(budget \(formatDuration(f.budget, .seconds(digits: 1))): \(f.rule)); collecting every rank's stacks")
        _ = job.send(.stacks(attempt: attemptNo))
        let watched = Set(classifier.progress.ranks.filter { $0.value.watched && !$0.value.ended }.keys)
        waitFor(atMost: 8) { watched.isSubset(of: stacksWritten.get.keys) }
        var stacks: [Int: String] = [:]
        for (rank, path) in stacksWritten.get {
            if let text = try? String(contentsOfFile: path, encoding: .utf8), !text.isEmpty { stacks[rank] = text }
        }
        let culprit = HangJudge.culprit(f, stacks: stacks, nodeOfRank: nodeOfRank)
        var v = AttemptVerdict(outcome: .hung)
        v.failedRank = culprit.rank
        v.failedNode = culprit.node
        v.detail = "rank \(culprit.rank) on \(culprit.node): \(culprit.reason)"
        let stacksDir = RunDirectory(plan.contract.runDir).attemptStacks(attemptNo)
        var fields: [String: Any] = [
            "attempt": attemptNo, "rank": culprit.rank, "node": culprit.node, "reason": culprit.reason,
            "stalled": f.stalledFor, "budget": f.budget, "rule": f.rule, "overdueRank": f.rank,
            "steps": Dictionary(uniqueKeysWithValues: f.lastSteps.map { (String($0.key), $0.value.map { $0 as Any } ?? NSNull()) }),
            "stacks": stacksDir, "stacksFrom": stacks.keys.sorted(),
        ]
        if let frame = culprit.frame { fields["frame"] = frame }
        supervisor.event(.hang, fields)
        let missing = watched.subtracting(stacks.keys).sorted()
        console.message("baton launch: hang: rank \(culprit.rank) on \(culprit.node): \(culprit.reason); stacks of \(stacks.count) ranks in \(stacksDir)"
                        + (missing.isEmpty ? "" : " (none from ranks \(missing.map(String.init).joined(separator: ",")))")
                        + "; stopping attempt \(attemptNo)")
        teardown(job, window: min(plan.grace, 5))
        apply(v, job)
    }

    /// The background gate: takes the verdicts of a finished check (the pool decides what
    /// they mean; a node back in it is told to the classifier), and starts a check of the
    /// lost and suspect nodes whose wait is over. Looked at every 0.25 s.
    private func lookAtPool(startingChecks: Bool = true) -> [LossAction] {
        guard let probe = supervisor.probe else { return [] }
        var actions: [LossAction] = []
        let wall = Date().timeIntervalSince1970
        if let r = probe.take() {
            let changes = pool.probed(r.verdicts, at: wall)
            supervisor.recordProbe(pool, r, changes: changes, attempt: attemptNo)
            for case .rejoined(let node) in changes {
                if let a = feed(.spareReady(node: node)) { actions.append(a) }
            }
        }
        if startingChecks && !probe.isRunning {
            let due = pool.dueForProbe(now: wall)
            if !due.isEmpty { probe.start(due.compactMap { pool.member($0)?.host }) }
        }
        return actions
    }

    /// Looks at the agents; tells the classifier of each new end.
    private func scanAgents(at now: Double = monotonicNow()) -> [LossAction] {
        agents.scan(at: now)
        for a in agents.takeLearnt() {
            transcript?.note(["note": "agent", "pid": Int(a.pid), "node": a.node, "how": a.how], at: now)
        }
        var actions: [LossAction] = []
        for node in agents.ended.keys.sorted() where !agentEndsTold.contains(node) {
            agentEndsTold.insert(node)
            if let a = feed(.agentEnded(node: node), at: now) { actions.append(a) }
        }
        return actions
    }

    /// SIGTERM to mpirun, then SIGKILL once mpirun has ended, or every rank outside `lost`
    /// has reported its end, or the window is over. On node loss the window is short
    /// (`nodeLossWindow`): the job cannot progress without the lost node, and mpirun often
    /// hangs in its own abort with its output stalled. Ranks on surviving nodes are stopped
    /// by their daemons, and wrappers fence when their daemon goes. What the readers post
    /// meanwhile still reaches the classifier.
    ///
    /// On node loss where this machine sees every surviving node (simulated nodes, the test
    /// bed) and mpirun is still there, the head also sends SIGTERM to the survivors'
    /// wrappers itself, and the window ends once they are gone: an aborting mpirun passes
    /// the stop on daemon by daemon and forwards no `exit` line, so at 128 nodes the whole
    /// window ran out (measured: the SIGKILL came 1.65 s after the verdict). Each wrapper
    /// still gives its command SIGTERM and its grace.
    private func teardown(_ job: RunningJob, lost: Set<String> = [], window shortWindow: Double? = nil) {
        stopLeases()
        let began = monotonicNow()
        let window = min(plan.grace, shortWindow ?? (lost.isEmpty ? plan.grace : options.nodeLossWindow))
        // The survivors' wrappers, from their commands' pids (`AttemptSweep.wrappers(ofCommands:)`).
        var wrappers: [AttemptSweep.Leftover]?
        if !lost.isEmpty && job.poll() == nil && sweep.sees(Set(hosts.names).subtracting(lost), seenHere: agents.seenHere) {
            wrappers = sweep.wrappers(ofCommands: classifier.monitor.runningCommands(except: lost))
        }
        let listed = monotonicNow()
        job.terminate()
        for w in wrappers ?? [] { kill(w.pid, SIGTERM) }
        waitFor(atMost: window) {
            job.poll() != nil
                || classifier.monitor.allEndedOrFenced(except: lost)
                || (wrappers.map { $0.allSatisfy { !ProcessTable.isLive($0.pid, startTime: $0.startTime) } } ?? false)
        }
        let waited = monotonicNow()
        if job.poll() == nil {
            supervisor.event(.sigkillMpirun, ["attempt": attemptNo])
            job.kill()
            killedMpirun = true
            waitFor(atMost: 5) { job.poll() != nil }
        }
        // Daemons may hold mpirun's output open a little longer; a torn-down attempt's last
        // lines are not worth waiting for once mpirun was killed, and not at all on node
        // loss: the verdict is in, and the daemons holding mpirun's output (the lost one's
        // agent, the survivors' daemons) let it go only when the sweep ends them.
        let linger = !lost.isEmpty ? 0 : shortWindow == nil ? outputWait : 0.3
        waitFor(atMost: linger) { job.outputFinished }
        pump()
        // How the stop went, for whoever reads the transcript (not replayed).
        let now = monotonicNow()
        transcript?.note(["note": "teardown", "seconds": ((now - began) * 1000).rounded() / 1000, "mpirun": killedMpirun ? "killed" : "ended",
                          "wrappersStopped": wrappers?.count ?? 0,
                          "listing": ((listed - began) * 1000).rounded() / 1000, "window": ((waited - listed) * 1000).rounded() / 1000], at: now)
    }

    /// Waits out the lease of nodes that may still run cut off from us, so two attempts
    /// never overlap: their wrappers fence at last renewal + lease.
    private func waitForFencing() {
        let until = lastRenewal.get + plan.lease + 0.5
        supervisor.event(.fenceWait, ["attempt": attemptNo, "seconds": max(0, until - monotonicNow())])
        waitFor(atMost: until - monotonicNow()) { false }
    }

    /// Commits the loss of the verdict's nodes before anything is done about it.
    private func commitLoss(_ v: AttemptVerdict) {
        guard !v.lost.isEmpty else { return }
        let now = Date().timeIntervalSince1970
        supervisor.event(.nodeLost, ["attempt": attemptNo, "nodes": v.lost.map(\.node), "how": v.lost[0].signal.rawValue,
                                       "detection": v.lost.map(\.detectionSeconds).max() ?? 0],
                         ops: v.lost.map { n in
                             .node(name: n.node, position: hosts.names.firstIndex(of: n.node) ?? 0, state: .lost, since: now,
                                   attempt: attemptNo, signal: n.signal, cause: n.cause)
                         })
    }

    private func apply(_ v: AttemptVerdict, _ job: RunningJob) {
        record.outcome = v.outcome
        record.lost = v.lost
        record.failedRank = v.failedRank
        record.failedNode = v.failedNode
        record.failedExit = v.failedExit
        record.detail = v.detail
        record.mpirunStatus = job.poll()
    }

    /// Makes sure nothing of the attempt is left where this machine can see, and returns
    /// its record.
    private func finish(_ job: RunningJob) -> (record: AttemptRecord, endFields: [String: Any], consumed: Int?) {
        stopLeases()
        // A background check under way is ended, not waited for: the boundary's gate checks
        // the nodes that are due (a finished one's verdicts still count).
        _ = lookAtPool(startingChecks: false)
        supervisor.probe?.cancel()
        if job.poll() == nil {
            job.kill()
            _ = job.waitForExit(atMost: 5)
        }
        if record.mpirunStatus == nil { record.mpirunStatus = job.poll() }
        // Nothing of this attempt may outlive it on a node this machine can reach: not the
        // next attempt's neighbour, and not past `baton launch`'s own end.
        let lost = Set(record.lost.map(\.node))
        let swept = monotonicNow()
        let (killed, left) = sweep.clear(excluding: lost, within: 5, listed: listed)
        listed = nil
        transcript?.note(["note": "sweep", "killed": killed, "left": left.count,
                          "seconds": ((monotonicNow() - swept) * 1000).rounded() / 1000], at: monotonicNow())
        if !left.isEmpty {
            record.leftovers = left
            console.message("baton launch: still running after 5 s of teardown: \(left.joined(separator: ", "))")
        }
        supervisor.executor.finished(plan)
        agents.close()
        pump()
        let stepped = classifier.progress.stepped
        supervisor.steppedRanks.with { $0.formUnion(stepped) }
        transcript?.flush()
        transcript = nil
        record.seconds = monotonicNow() - start
        return (record, ["attempt": attemptNo, "outcome": record.outcome.rawValue, "mpirun": record.mpirunStatus?.description ?? "killed",
                         "swept": killed, "leftovers": left.count], classifier.monitor.consumed)
    }

    /// Waits until `done` or `seconds` have passed, feeding the classifier what the readers
    /// post meanwhile; returns what that led it to decide. Only a caller whose classifier
    /// has finished or awaits mpirun's end (a teardown, a fence wait) may drop it: such a
    /// classifier decides nothing more.
    @discardableResult
    private func waitFor(atMost seconds: Double, _ done: () -> Bool) -> [LossAction] {
        let deadline = monotonicNow() + max(0, seconds)
        var actions: [LossAction] = []
        while !done() {
            let now = monotonicNow()
            if now >= deadline { break }
            inbox.wait(until: min(deadline, now + 0.02))
            actions += pump()
        }
        return actions
    }
}
